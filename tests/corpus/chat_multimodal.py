"""gradio demo/chatinterface_multimodal: a multimodal textbox (text and files)."""

import gradio as gr


def count_files(message: dict, history: list) -> str:
    return f"You uploaded {len(message['files'])} file(s) and said: {message['text']}"


demo = gr.ChatInterface(count_files, multimodal=True, examples=[{"text": "Hello", "files": []}],
                        textbox=gr.MultimodalTextbox(file_count="multiple"))

CALLS = {"/count_files": [{"message": {"text": "Hi there", "files": []}}]}
