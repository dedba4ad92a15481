"""gradio demo/chatinterface_streaming_echo with additional inputs in an accordion."""

import gradio as gr


def slow_echo(message: str, history: list, system_prompt: str, tokens: int):
    response = f"{system_prompt}: {message}"[: int(tokens)]
    for i in range(1, len(response) + 1, 4):
        yield response[:i]
    yield response


demo = gr.ChatInterface(
    slow_echo,
    additional_inputs=[gr.Textbox("System", label="System Prompt"), gr.Slider(10, 100, value=50, step=1,
                                                                                label="Tokens")],
    examples=[["hello there", "Robot", 20]],
)

CALLS = {"/slow_echo": [{"message": "hello there", "system_prompt": "Robot", "tokens": 20}, {"message": "hi"}]}
