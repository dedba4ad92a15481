"""gradio demo/fake_gan-style generator: counts up, yielding each step."""

import gradio as gr


def count(n: int):
    """Counts from 1 to n.

    Args:
        n: how far to count
    """
    text = ""
    for i in range(1, int(n) + 1):
        text += f"{i} "
        yield text.strip()


demo = gr.Interface(count, gr.Number(3, label="n", precision=0), gr.Textbox(label="Count"), api_name="count")

CALLS = {"/count": [{"n": 4}]}
