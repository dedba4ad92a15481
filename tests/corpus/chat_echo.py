"""gradio demo/chatinterface_echo with examples (a ChatInterface's /chat endpoint and its internals)."""

import gradio as gr


def echo(message: str, history: list) -> str:
    """Echoes the message back with the number of earlier turns.

    Args:
        message: what the user said
        history: the conversation so far
    """
    return f"{message} (turn {len(history) // 2 + 1})"


demo = gr.ChatInterface(echo, examples=["hello", "hola", "merhaba"], title="Echo Bot")

CALLS = {"/echo": [{"message": "hello"}]}
