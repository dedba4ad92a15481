"""A composed app as one replica of a scale-out (tests/test_edge_scaleout.py): a stateful upstream counter, per user.

Run: UPSTREAM=http://... COMPOSE_SESSION_SECRET=... GRADIO_SERVER_PORT=... python tests/scaleout/app.py
"""

import os

import gradio as gr

import compose

space = compose.Space(os.environ["UPSTREAM"])
with gr.Blocks() as demo:
    count, replica = gr.Number(), gr.Textbox()
    gr.Button("+1").click(space.endpoint("/increment").handler(), None, count, api_name="increment")
    gr.Button("which replica").click(lambda: os.environ["GRADIO_SERVER_PORT"], None, replica, api_name="replica")
    compose.forget_on_unload(demo)

demo.queue().launch(server_name="127.0.0.1", server_port=int(os.environ["GRADIO_SERVER_PORT"]))
