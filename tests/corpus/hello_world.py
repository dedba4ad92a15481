"""gradio demo/hello_world_4: an Interface with a slider and examples."""

import gradio as gr


def greet(name: str, intensity: int) -> str:
    """Greets someone, enthusiastically.

    Args:
        name: who to greet
        intensity: how many exclamation marks
    """
    return "Hello, " + name + "!" * int(intensity)


demo = gr.Interface(
    fn=greet,
    inputs=["text", gr.Slider(1, 10, step=1, value=2, label="intensity")],
    outputs=[gr.Textbox(label="greeting", lines=3)],
    examples=[["World", 3], ["Gradio", 1]],
    flagging_mode="manual",
)

CALLS = {"/greet": [{"name": "World", "intensity": 3}, {"name": "Ada"}]}
