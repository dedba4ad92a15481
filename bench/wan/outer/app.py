"""Bench-only outer app for bench/wan's one-hop scenario: the same upstream endpoint (translator /translate, over
the delayed link) reached three ways, one api_name each:

- "compose": compose's `ep.handler()`, one upstream session per end user;
- "gradio_client": a sync handler around one shared gradio_client Client (verification off: it takes no CA file);
- "floor": an async handler speaking the queue protocol by hand (bench/wan/floor.py), one upstream session per end
  user: one round trip per warm call.

Environment: UPSTREAM_URL (the delay proxy's https URL), UPSTREAM_CA (its CA file).
"""

import os
import ssl

import gradio as gr
from gradio_client import Client

import compose
from bench.wan.floor import Floor

UPSTREAM, CA = os.environ["UPSTREAM_URL"], os.environ["UPSTREAM_CA"]


def build() -> gr.Blocks:
    ep = compose.Space(UPSTREAM, verify=CA).load().endpoint("/translate")
    client = Client(UPSTREAM, verbose=False, ssl_verify=False)
    floor = Floor(UPSTREAM, ssl.create_default_context(cafile=CA))

    def with_gradio_client(text: str, language: str) -> str:
        return str(client.predict(text, language, api_name="/translate"))

    async def with_floor(text: str, language: str, request: gr.Request) -> str:
        if not floor.fn:
            await floor.cold()
        _, data = await floor.call("/translate", [text, language], session_hash=request.session_hash)
        return str(data[0])

    with gr.Blocks(title="bench/wan outer app") as demo:
        text, language, out = gr.Textbox(label="Text"), gr.Textbox(label="Language"), gr.Textbox(label="Out")
        gr.Button("compose").click(ep.handler(), [text, language], out, api_name="compose")
        gr.Button("gradio_client").click(with_gradio_client, [text, language], out, api_name="gradio_client")
        gr.Button("floor").click(with_floor, [text, language], out, api_name="floor")
    blocks: gr.Blocks = demo
    return blocks


if __name__ == "__main__":
    build().launch()
