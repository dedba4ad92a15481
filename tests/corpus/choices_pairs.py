"""Radio, Dropdown and CheckboxGroup with (label, value) pairs: the value sent differs from what is shown."""

import gradio as gr


def describe(size: str, colour: int, extras: list[str]) -> str:
    return f"{size}/{colour}/{'+'.join(extras)}"


demo = gr.Interface(
    describe,
    [gr.Radio([("Small", "s"), ("Large", "l")], value="s", label="Size"),
     gr.Dropdown([("Red", 1), ("Blue", 2)], value=1, label="Colour"),
     gr.CheckboxGroup([("Cheese", "cheese"), ("Ham", "ham")], label="Extras")],
    "text",
    examples=[["l", 2, ["ham"]]],
    api_name="describe",
)

CALLS = {"/describe": [{"size": "l", "colour": 2, "extras": ["ham", "cheese"]}]}
