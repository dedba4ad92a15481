"""A whole remote app embedded next to local components; every remote event still runs through compose.

The outer app's API keeps the remote's parameter names and endpoint visibility; `api_names` says which outer
api_name each remote one got (gradio renames one that is taken, here the calculator's /calculate).

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
        with gr.Tab("Shout (local)"):
            text, loud = gr.Textbox(label="Text"), gr.Textbox(label="Loud")
            gr.Button("Shout").click(shout, text, loud, api_name="shout")
            # A local endpoint that happens to take the remote's name first.
            gr.Button("Double").click(lambda x: 2 * x, gr.Number(), gr.Number(), api_name="calculate")
        with gr.Tab("Calculator (remote)"):
            app = space.render()
    demo.api_names = app.api_names  # type: ignore[attr-defined]  # {"/calculate": "/calculate_1", ...}
    return demo


if __name__ == "__main__":
    from compose.apps.processes import launch_spaces

    if len(sys.argv) > 1:
        demo = build(sys.argv[1])
        print("remote → outer api names:", demo.api_names)  # type: ignore[attr-defined]
        demo.launch()
    else:
        with launch_spaces(["calculator"]) as running:
            build(running["calculator"].url).launch()
