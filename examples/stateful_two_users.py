"""A stateful Space (a gr.State counter) used by many people at once: each keeps their own upstream session.

Open the app in two browser tabs and click "Increment" in each: the counts are independent, as they would be on
the Space itself. Run: python examples/stateful_two_users.py [SPACE]   (default: local spaces/diagnostics)
"""

import sys

import gradio as gr

import compose


def build(diagnostics: str) -> gr.Blocks:
    # session="user" (the default): one upstream session per end user. A Space on Hugging Face gets the visitor's
    # x-ip-token by default; a self-hosted URL (like the local default here) only when listed explicitly.
    space = compose.Space(diagnostics, forward_headers=("x-ip-token",))
    with gr.Blocks(title="Your own counter") as demo:
        count = gr.Number(label="Your count", precision=0)
        gr.Button("Increment").click(space.endpoint("/increment").handler(), None, count, api_name="increment")
        token, session = gr.Textbox(label="x-ip-token the Space saw"), gr.Textbox(label="Your upstream session")
        gr.Button("Who am I upstream?").click(space.endpoint("/whoami").handler(), None, [token, session],
                                              api_name="whoami")
        compose.forget_on_unload(demo)
    return demo


if __name__ == "__main__":
    from compose.apps.processes import launch_spaces

    if len(sys.argv) > 1:
        build(sys.argv[1]).launch()
    else:
        with launch_spaces(["diagnostics"]) as running:
            build(running["diagnostics"].url).launch()
