"""A DownloadButton whose file is made on click, and a text report."""

import tempfile

import gradio as gr


def make_report(text: str) -> tuple[str, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(text)
    return f.name, f"{len(text)} characters"


with gr.Blocks() as demo:
    text = gr.Textbox(label="Report text")
    button = gr.DownloadButton("Download report")
    status = gr.Textbox(label="Status")
    gr.Button("Make").click(make_report, text, [button, status], api_name="make_report")

CALLS: dict = {}
