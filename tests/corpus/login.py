"""gradio demo/login_with_huggingface: a LoginButton and a greeting that reads gr.OAuthProfile."""

import gradio as gr


def hello(profile: gr.OAuthProfile | None) -> str:
    return "Not logged in." if profile is None else f"Hello {profile.name}"


with gr.Blocks() as demo:
    gr.LoginButton()
    m = gr.Markdown()
    demo.load(hello, None, m, api_name="hello")

CALLS = {"/hello": [{}]}
