"""Small Gradio apps that run behind the emulated edge (compose.testing) in the tests: each shows what reached it."""

from __future__ import annotations

import gradio as gr
import numpy as np

import compose.testing


def headers_app(*, banner: bool = False) -> gr.Blocks:
    """/seen: the auth and identity headers this call carried; /increment: a per-session gr.State counter. With
    `banner`, an image in its layout too (a file of the app's own, in its config)."""
    with gr.Blocks() as demo:
        if banner:
            gr.Image(value=np.full((4, 4, 3), 128, dtype=np.uint8), label="banner")
        seen = gr.JSON()

        def show(request: gr.Request) -> dict[str, str]:
            return {name: request.headers.get(name, "") for name in
                    ("authorization", "x-hf-authorization", "x-ip-token", "cookie")}

        gr.Button("seen").click(show, None, seen, api_name="seen")
        count, state = gr.Number(), gr.State(0)

        def increment(value: int) -> tuple[int, int]:
            return value + 1, value + 1

        gr.Button("+1").click(increment, state, [count, state], api_name="increment")
    return demo


def sleepy_app() -> gr.Blocks:
    """The Space tests put to sleep: headers_app with a banner image (rendering it must not wake it)."""
    return headers_app(banner=True)


GPU_SECONDS = 30


def gpu_app() -> gr.Blocks:
    """/generate: a ZeroGPU function asking GPU_SECONDS per call."""
    with gr.Blocks() as demo:
        prompt, out = gr.Textbox(), gr.Textbox()

        @compose.testing.zero_gpu(duration=GPU_SECONDS)
        def generate(text: str, request: gr.Request) -> str:
            return f"generated: {text}"

        gr.Button().click(generate, prompt, out, api_name="generate")
    return demo
