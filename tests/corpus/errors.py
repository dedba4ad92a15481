"""gradio demo/error-style: gr.Error with a title, gr.Warning and gr.Info on success."""

import gradio as gr


def check(word: str) -> str:
    if not word:
        raise gr.Error("Say something first", title="Empty input")
    if word == "warn":
        gr.Warning("That is a warning")
    gr.Info("Checked")
    return word.title()


demo = gr.Interface(check, gr.Textbox(label="Word"), gr.Textbox(label="Checked"), api_name="check")

CALLS = {"/check": [{"word": "hello world"}, {"word": "warn"}]}
ERRORS = {"/check": [({"word": ""}, "Say something first")]}
