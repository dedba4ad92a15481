"""Public, undocumented and private endpoints side by side, and a lambda (gradio names it /lambda)."""

import gradio as gr

with gr.Blocks() as demo:
    a = gr.Textbox(label="In")
    b = gr.Textbox(label="Out")
    gr.Button("Public").click(lambda s: s + "!", a, b, api_name="shout")
    gr.Button("Undocumented").click(lambda s: s + "?", a, b, api_name="ask", api_visibility="undocumented")
    gr.Button("Private").click(lambda s: s + ".", a, b, api_name="state", api_visibility="private")
    gr.Button("Lambda").click(lambda s: s * 2, a, b)

CALLS = {"/shout": [{"s": "hey"}]}
