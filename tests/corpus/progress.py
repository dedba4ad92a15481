"""gradio demo/progress_simple: gr.Progress with tqdm-like steps."""

import gradio as gr


def slowly_reverse(word: str, progress: gr.Progress = gr.Progress()) -> str:
    progress(0, desc="Starting")
    new_string = ""
    for letter in progress.tqdm(word, desc="Reversing"):
        new_string = letter + new_string
    return new_string


demo = gr.Interface(slowly_reverse, gr.Textbox(label="Word"), gr.Textbox(label="Reversed"), api_name="reverse")

CALLS = {"/reverse": [{"word": "progress"}]}
