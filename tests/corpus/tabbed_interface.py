"""gradio demo/tabbed_interface_lite: two Interfaces in a TabbedInterface."""

import gradio as gr

hello = gr.Interface(lambda name: "Hello " + name, "text", "text", api_name="hello")
bye = gr.Interface(lambda name: "Bye " + name, "text", "text", api_name="bye")
demo = gr.TabbedInterface([hello, bye], ["Hello", "Bye"])

CALLS = {"/hello": [{"name": "Ada"}], "/bye": [{"name": "Bob"}]}
