"""A titled, fill_height app with a Column that fills the page (title and fill_height must survive)."""

import gradio as gr

with gr.Blocks(title="Tall App", fill_height=True) as demo:
    with gr.Column(scale=1):
        box = gr.Textbox(label="Note", lines=4)
        out = gr.Textbox(label="Words")
    box.change(lambda s: str(len(s.split())), box, out, api_name="words")

CALLS = {"/words": [{"s": "one two three"}]}
