"""gradio demo/blocks_flipper: Tabs, Row, Accordion, two buttons, numpy images."""

import gradio as gr
import numpy as np


def flip_text(x: str) -> str:
    return x[::-1]


def flip_image(x: np.ndarray) -> np.ndarray:
    return np.fliplr(x)


with gr.Blocks() as demo:
    gr.Markdown("Flip text or image files using this demo.")
    with gr.Tab("Flip Text"):
        text_input = gr.Textbox(label="Text")
        text_output = gr.Textbox(label="Flipped")
        text_button = gr.Button("Flip")
    with gr.Tab("Flip Image"), gr.Row():
        image_input = gr.Image(label="Image")
        image_output = gr.Image(label="Flipped image")
        image_button = gr.Button("Flip")
    with gr.Accordion("Open for More!", open=False):
        gr.Markdown("Look at me...")
        temp_slider = gr.Slider(0, 1, value=0.1, step=0.1, interactive=True, label="Slide me")

    text_button.click(flip_text, inputs=text_input, outputs=text_output)
    image_button.click(flip_image, inputs=image_input, outputs=image_output)

CALLS = {"/flip_text": [{"x": "hello"}]}
