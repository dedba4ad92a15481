"""One remote endpoint rendered as local components, with a button wired through compose.

Run: python examples/render_endpoint.py [SPACE_ID_OR_URL]   (default: the local spaces/translator on loopback)
"""

import sys

import gradio as gr

import compose


def build(translator: str) -> gr.Blocks:
    space = compose.Space(translator)
    with gr.Blocks(title="Translate") as demo:
        gr.Markdown("## Translate, through compose")
        space.endpoint("/translate").render(button="Translate")
    return demo


if __name__ == "__main__":
    from compose.apps.processes import launch_spaces

    if len(sys.argv) > 1:
        build(sys.argv[1]).launch()
    else:
        with launch_spaces(["translator"]) as running:
            build(running["translator"].url).launch()
