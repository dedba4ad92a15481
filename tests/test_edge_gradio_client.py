"""compose and gradio_client side by side on the same emulated Hugging Face, so the README's comparison is measured:
the token header, and what happens to end users when an outer app serves many of them through one client."""

from __future__ import annotations

import uuid
from typing import Any

import gradio as gr
import pytest
from edge_apps import GPU_SECONDS
from gradio_client import Client
from outer import raw_events, serve

import compose
import compose.testing


def output(url: str, api_name: str, visitor: str, session: str, data: list[Any] | None = None) -> Any:
    events = raw_events(url, api_name, data or [], headers={"x-ip-token": visitor}, session=session)
    done = [m for _, m in events if m.get("msg") == "process_completed"][-1]
    assert done["success"], done
    return done["output"]["data"][0]


def test_neither_client_lets_the_app_see_the_token(edge: compose.testing.Hub) -> None:
    owner = edge.token("owner")
    by_gradio_client = Client("owner/private", token=owner, verbose=False).predict(api_name="/seen")
    by_compose = compose.Space("owner/private", token=owner).endpoint("/seen").predict()
    for seen in (by_gradio_client, by_compose):
        assert seen["authorization"] == seen["x-hf-authorization"] == ""  # both send X-HF-Authorization


@pytest.fixture
def outer(edge: compose.testing.Hub) -> Any:
    """One outer app serving every visitor, calling the same Spaces once through a shared gradio_client Client
    (as most Gradio apps that call Spaces do) and once through compose."""
    shared_counter = Client("owner/replicated", verbose=False)
    shared_gpu = Client("owner/gpu", verbose=False)
    counter, gpu = compose.Space("owner/replicated"), compose.Space("owner/gpu")

    def gc_increment() -> int:
        return int(shared_counter.predict(api_name="/increment"))

    def gc_generate() -> str:
        return str(shared_gpu.predict("x", api_name="/generate"))

    with gr.Blocks() as demo:
        n, text = gr.Number(), gr.Textbox()
        gr.Button().click(gc_increment, None, n, api_name="gc_increment")
        gr.Button().click(counter.endpoint("/increment").handler(), None, n, api_name="compose_increment")
        gr.Button().click(gc_generate, None, text, api_name="gc_generate")
        prompt = gr.Textbox(value="x")
        gr.Button().click(gpu.endpoint("/generate").handler(), prompt, text, api_name="compose_generate")
    with serve(demo) as url:
        yield url


def test_a_shared_client_mixes_visitors_sessions_compose_keeps_each_their_own(edge: compose.testing.Hub,
                                                                               outer: str) -> None:
    alice, bob = (f"{name}-{uuid.uuid4().hex[:6]}" for name in ("alice", "bob"))
    va, vb = edge.visitor(alice), edge.visitor(bob)
    gc = [output(outer, "/gc_increment", v, s) for v, s in ((va, alice), (vb, bob), (va, alice))]
    mine = [output(outer, "/compose_increment", v, s) for v, s in ((va, alice), (vb, bob), (va, alice))]
    assert gc[1] == gc[0] + 1 and gc[2] == gc[1] + 1  # one upstream session: Bob counts on from Alice's count
    assert mine == [1, 1, 2]  # each visitor their own session


def test_both_clients_bill_zero_gpu_to_the_visitor(edge: compose.testing.Hub, outer: str) -> None:
    # Measured, not assumed: gradio_client, created with a Space id and called inside a Gradio handler, forwards the
    # current request's x-ip-token too (Client.add_zero_gpu_headers).
    carol = f"carol-{uuid.uuid4().hex[:6]}"
    visitor = edge.visitor(carol)
    assert output(outer, "/gc_generate", visitor, carol) == "generated: x"
    assert output(outer, "/compose_generate", visitor, carol, ["x"]) == "generated: x"
    assert [c.seconds for c in edge.charges(f"user:{carol}")] == [GPU_SECONDS, GPU_SECONDS]
