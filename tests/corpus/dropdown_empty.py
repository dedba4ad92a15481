"""A Dropdown without a value (nothing preselected) and one with allow_custom_value."""

import gradio as gr


def pick(fruit: str | None, other: str) -> str:
    return f"{fruit or 'nothing'} and {other}"


with gr.Blocks() as demo:
    fruit = gr.Dropdown(["apple", "pear", "fig"], value=None, label="Fruit")
    other = gr.Dropdown(["kiwi", "lime"], value="kiwi", allow_custom_value=True, label="Other")
    out = gr.Textbox(label="Picked")
    gr.Button("Pick").click(pick, [fruit, other], out, api_name="pick")

CALLS = {"/pick": [{"fruit": "fig", "other": "lime"}, {"fruit": None, "other": "mango"}]}
