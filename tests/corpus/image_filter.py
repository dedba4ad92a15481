"""gradio demo/sepia_filter: a numpy image through a matrix."""

import gradio as gr
import numpy as np


def sepia(input_img: np.ndarray) -> np.ndarray:
    sepia_filter = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
    out = input_img[..., :3].dot(sepia_filter.T)
    return (out / out.max() * 255).astype(np.uint8)


demo = gr.Interface(sepia, gr.Image(label="Photo"), gr.Image(label="Sepia"), api_name="sepia")

CALLS: dict = {}
