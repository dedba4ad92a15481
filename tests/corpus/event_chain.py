"""Row/Column layout, gr.on with two triggers, a .then chain and a .change event."""

import gradio as gr

with gr.Blocks() as demo:
    with gr.Row():
        with gr.Column(scale=2):
            first = gr.Textbox(label="First")
            last = gr.Textbox(label="Last")
        with gr.Column(scale=1):
            full = gr.Textbox(label="Full name")
            length = gr.Number(label="Length")
    go = gr.Button("Join")
    gr.on([go.click, last.submit], lambda a, b: f"{a} {b}", [first, last], full, api_name="join").then(
        lambda s: len(s), full, length, api_name="measure")
    first.change(lambda s: s.strip(), first, None, api_name=False)

CALLS = {"/join": [{"a": "Ada", "b": "Lovelace"}], "/measure": [{"s": "Ada"}]}
