"""gradio demo/state (blocks_simple_squares-style): a per-session counter in gr.State."""

import gradio as gr


def add(step: float, total: float) -> tuple[float, float]:
    total = (total or 0) + step
    return total, total


with gr.Blocks() as demo:
    total = gr.State(0)
    step = gr.Number(1, label="Step")
    shown = gr.Number(label="Total")
    gr.Button("Add").click(add, [step, total], [shown, total], api_name="add")

CALLS = {"/add": [{"step": 2}]}
