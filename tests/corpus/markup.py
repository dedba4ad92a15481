"""Markdown, HTML with js_on_load, and a Chatbot that renders HTML: remote markup that must not run locally."""

import gradio as gr

with gr.Blocks() as demo:
    gr.Markdown("# Markup <img src=x onerror=\"window.__pwned=1\">")
    gr.HTML("<div id='remote-html'>remote html</div>", js_on_load="window.__pwned = 2;")
    chat = gr.Chatbot(value=[{"role": "assistant", "content": "<b>bold</b>"}], label="Bot")
    text = gr.Textbox(label="Say")
    show = gr.Markdown(label="Shown")
    text.submit(lambda s: f"**{s}**", text, show, api_name="show", js="(s) => { window.__pwned = 3; return s; }")

CALLS = {"/show": [{"s": "hi"}]}
