"""gradio demo/file_explorer-style: a File in, its name and size out."""

import os

import gradio as gr


def info(path: str) -> tuple[str, int]:
    return os.path.basename(path), os.path.getsize(path)


demo = gr.Interface(info, gr.File(label="File", file_types=[".txt"]),
                    [gr.Textbox(label="Name"), gr.Number(label="Bytes")], api_name="info")

CALLS: dict = {}
