"""gradio demo/multipage: three pages built with Blocks.route, each with its own event."""

import random

import gradio as gr

with gr.Blocks(title="Multipage") as demo:
    name = gr.Textbox(label="Name")
    greeting = gr.Textbox(label="Greeting")
    gr.Button("Greet").click(lambda n: f"Hi {n}", name, greeting, api_name="greet")

with demo.route("Up", "/up"):
    num = gr.Number(label="Number")
    up = gr.Number(label="Plus one")
    gr.Button("Up").click(lambda x: x + 1, num, up, api_name="up")

with demo.route("Hidden page", "/hidden", show_in_navbar=False):
    rolled = gr.Number(label="Rolled")
    gr.Button("Roll").click(lambda: random.Random(4).randint(1, 6), None, rolled, api_name="roll")

CALLS = {"/greet": [{"n": "Ada"}], "/up": [{"x": 41}], "/roll": [{}]}
