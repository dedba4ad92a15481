"""Bench-only upstream: an endpoint that takes 50 ms (async, so 64 users wait concurrently, not in a thread pool)."""

import asyncio

import gradio as gr


async def sleep(text: str) -> str:
    """Wait 50 ms and echo the text.

    Args:
        text: anything; it comes back unchanged.
    """
    await asyncio.sleep(0.05)
    return text


with gr.Blocks(title="Sleep 50 ms") as demo:
    text_in, text_out = gr.Textbox(label="Text", value="hi"), gr.Textbox(label="Echo")
    gr.Button("Sleep").click(sleep, text_in, text_out, api_name="sleep")

if __name__ == "__main__":
    demo.launch()
