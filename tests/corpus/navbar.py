"""gradio demo/navbar_customization: a gr.Navbar with links, on a multipage app."""

import gradio as gr

with gr.Blocks(title="Navbar demo") as demo:
    gr.Navbar(value=[("About", "https://www.gradio.app"), ("Docs", "https://www.gradio.app/docs")],
              main_page_name="Dashboard")
    name = gr.Textbox(label="Your name")
    out = gr.Textbox(label="Shout")
    gr.Button("Shout").click(lambda s: s.upper(), name, out, api_name="shout")

with demo.route("Settings", "/settings"):
    gr.Markdown("## Settings")
    level = gr.Slider(0, 10, value=5, step=1, label="Level")
    shown = gr.Number(label="Doubled")
    level.change(lambda x: x * 2, level, shown, api_name="double")

CALLS = {"/shout": [{"s": "hey"}], "/double": [{"x": 4}]}
