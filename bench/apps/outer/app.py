"""Bench-only outer app: one endpoint, api_name "sleep", that reaches the upstream through one hop.

OUTER_MODE picks the hop; UPSTREAM_URL is the upstream app (bench/apps/sleep50):
- compose_handler: `btn.click(ep.handler(), ...)`, compose's Gradio-side handler;
- compose_call: a hand-written `async def` handler awaiting `ep.call(...)` (what handler() builds on);
- gr_load: what `gr.load("spaces/owner/name")` builds once it knows the Space's host. gr.load itself takes a Space
  id and asks huggingface.co for the host, so on loopback the same builder, `gradio.external.from_spaces_blocks`, is
  given the URL directly (gradio_client accepts URLs);
- gc_shared: a sync handler calling one gradio_client Client shared by every user;
- local: no hop at all, the outer app sleeps 50 ms itself (what the outer Gradio app costs on its own).
"""

import asyncio
import os

import gradio as gr

MODE = os.environ["OUTER_MODE"]
UPSTREAM = os.environ["UPSTREAM_URL"]


def build() -> gr.Blocks:
    if MODE == "gr_load":
        from gradio.external import from_spaces_blocks

        loaded: gr.Blocks = from_spaces_blocks(UPSTREAM, None)
        return loaded
    demo = gr.Blocks(title=f"Outer ({MODE})")
    with demo:
        text_in, text_out = gr.Textbox(label="Text", value="hi"), gr.Textbox(label="Echo")
        button = gr.Button("Sleep")
        if MODE in ("compose_handler", "compose_call"):
            import compose

            ep = compose.Space(UPSTREAM).load().endpoint("/sleep")
            if MODE == "compose_handler":
                button.click(ep.handler(), text_in, text_out, api_name="sleep")
            else:

                async def hop(text: str) -> str:
                    return str(await ep.call(text))

                button.click(hop, text_in, text_out, api_name="sleep")
        elif MODE == "gc_shared":
            from gradio_client import Client

            client = Client(UPSTREAM, verbose=False)

            def hop_sync(text: str) -> str:
                return str(client.predict(text, api_name="/sleep"))

            button.click(hop_sync, text_in, text_out, api_name="sleep")
        elif MODE == "local":

            async def sleep(text: str) -> str:
                await asyncio.sleep(0.05)
                return text

            button.click(sleep, text_in, text_out, api_name="sleep")
        else:
            raise SystemExit(f"unknown OUTER_MODE {MODE!r}")
    return demo


if __name__ == "__main__":
    build().launch()
