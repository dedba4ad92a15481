"""A whole remote app embedded next to local components; every remote event still runs through compose.

Run: python examples/embed_whole_app.py [SPACE]   (default: the local spaces/calculator on loopback)
"""

import sys

import gradio as gr

import compose


def shout(text: str) -> str:
    return text.upper() + "!"


def build(calculator: str) -> gr.Blocks:
    space = compose.Space(calculator)
    with gr.Blocks(title="Embedded calculator") as demo:
        with gr.Tab("Calculator (remote)"):
            space.render()
        with gr.Tab("Shout (local)"):
            text, loud = gr.Textbox(label="Text"), gr.Textbox(label="Loud")
            gr.Button("Shout").click(shout, text, loud, api_name="shout")
    return demo


if __name__ == "__main__":
    from compose.local import launch_spaces

    if len(sys.argv) > 1:
        build(sys.argv[1]).launch()
    else:
        with launch_spaces(["calculator"]) as running:
            build(running["calculator"].url).launch()
