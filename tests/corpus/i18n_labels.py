"""gradio demo/i18n: labels and a button in several languages (gr.I18n), resolved by the browser's locale."""

import gradio as gr

I18N = gr.I18n(en={"name": "Name", "greet": "Greet", "out": "Greeting"},
               fr={"name": "Nom", "greet": "Saluer", "out": "Salutation"})

with gr.Blocks() as demo:
    name = gr.Textbox(label=I18N("name"))
    out = gr.Textbox(label=I18N("out"))
    lang = gr.Radio(["en", "fr"], value="en", label=I18N("name"))
    gr.Button(I18N("greet")).click(lambda n, lg: ("Bonjour " if lg == "fr" else "Hello ") + n, [name, lang], out,
                                   api_name="greet")

CALLS = {"/greet": [{"n": "Ada", "lg": "fr"}]}
