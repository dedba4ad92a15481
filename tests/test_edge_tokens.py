"""compose on the emulated Hugging Face (compose.testing), by Space id: the token rule, the visitor's identity, and
ZeroGPU quota, typed and billed to the right visitor."""

from __future__ import annotations

import concurrent.futures
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from edge_apps import GPU_SECONDS
from outer import raw_events, serve
from typer.testing import CliRunner

import compose
import compose.testing
from compose.apps.cli import app as cli_app


def seen(space: compose.Space) -> dict[str, str]:
    result: dict[str, str] = space.endpoint("/seen").predict()
    return result


def test_the_apps_code_never_sees_the_callers_token_and_a_private_space_still_works(
        edge: compose.testing.Hub) -> None:
    owner = edge.token("owner")
    headers = seen(compose.Space("owner/private", token=owner))
    assert owner not in str(headers)  # neither Authorization nor X-HF-Authorization reached the app
    assert headers["authorization"] == headers["x-hf-authorization"] == ""
    # Without the token the private Space does not exist, and compose says so (refresh: not from the disk cache).
    with pytest.raises(compose.ConfigError, match="private"):
        compose.Space("owner/private").refresh()


def test_a_private_spaces_cached_schema_goes_only_to_objects_with_the_same_token(
        edge: compose.testing.Hub, make_space: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPOSE_CACHE_DIR", str(tmp_path))
    url = f"https://{edge.space('owner/private').host}"  # given by URL: no Hub lookup stands in the way
    assert make_space(url, token=edge.token("owner")).endpoint("/increment").predict() == 1  # cached on disk
    assert list((tmp_path / "schemas").iterdir())
    for stranger in (make_space(url), make_space(url, token=edge.token("mallory"))):
        with pytest.raises(compose.ConfigError, match=r"404.*private"):
            stranger.load()
    # The same token still reads the schema from the disk cache: it loads while the app cannot answer.
    edge.set_stage("owner/private", "RUNTIME_ERROR")
    try:
        assert "/increment" in make_space(url, token=edge.token("owner")).load().endpoints
    finally:
        edge.set_stage("owner/private", "RUNNING")
    assert edge.token("owner") not in "".join(p.read_text() for p in (tmp_path / "schemas").iterdir())


def test_the_visitors_ip_token_reaches_the_space_by_default(edge: compose.testing.Hub) -> None:
    space = compose.Space("owner/headers")
    alice, bob = edge.visitor("alice"), edge.visitor(address="198.51.100.7")
    with compose.identity(session=f"alice-{uuid.uuid4().hex}", headers={"x-ip-token": alice}):
        assert seen(space)["x-ip-token"] == alice
    with compose.identity(session=f"bob-{uuid.uuid4().hex}", headers={"x-ip-token": bob}):
        assert seen(space)["x-ip-token"] == bob
    # No visitor: the edge identifies the caller itself (here: anonymous, by address), never a previous visitor.
    assert seen(space)["x-ip-token"] not in (alice, bob)


def test_a_spent_zero_gpu_quota_is_a_typed_error_never_retried(edge: compose.testing.Hub) -> None:
    address = f"192.0.2.{uuid.uuid4().int % 250}"
    visitor = edge.visitor(address=address + uuid.uuid4().hex[:6])
    identity = edge.world.identity_of(visitor)
    assert identity is not None
    space = compose.Space("owner/gpu")
    calls = int(edge.world.quota["anonymous"] // GPU_SECONDS)
    with compose.identity(session=f"v-{uuid.uuid4().hex}", headers={"x-ip-token": visitor}):
        for _ in range(calls):
            assert space.endpoint("/generate").predict("cat") == "generated: cat"
        with pytest.raises(compose.QuotaExceeded) as raised:
            space.endpoint("/generate").predict("cat")
    e = raised.value
    assert (e.requested, e.left) == (GPU_SECONDS, 0)
    assert e.retry_after is not None and 0 < e.retry_after <= 86_400
    assert "You have exceeded your GPU quota (30s requested vs. 0s left). Try again in " in str(e)
    assert isinstance(e, compose.SpaceError) and not isinstance(e, compose.AppError)
    # Charged exactly what ran: the refused call cost nothing, and no retry was attempted.
    assert sum(c.seconds for c in edge.charges(identity)) == calls * GPU_SECONDS


def test_the_cli_shows_a_spent_quota_plainly(edge: compose.testing.Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI has no visitor: the edge bills the caller's token, here a fresh user whose quota is spent.
    user = f"cli{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HF_TOKEN", edge.token(user))
    edge.world.charge(f"user:{user}", edge.world.quota["user"], "owner/gpu")
    result = CliRunner(env={"COLUMNS": "300", "NO_COLOR": "1"}).invoke(cli_app, ["call", "owner/gpu", "/generate",
                                                                                  "cat"])
    assert result.exit_code == 1
    assert "owner/gpu /generate: You have exceeded your GPU quota (30s requested vs. 0s left)" in result.output


def test_fifty_visitors_through_an_outer_app_each_billed_their_own_seconds(edge: compose.testing.Hub) -> None:
    """An outer app (run by the owner, with the owner's token) calls the ZeroGPU Space for 50 visitors at once:
    each visitor's ledger is charged exactly their own call, anonymous ones as anonymous, never the owner."""
    run = uuid.uuid4().hex[:8]
    gpu = compose.Space("owner/gpu", token=edge.token("owner"))
    with gr.Blocks() as demo:
        prompt, out = gr.Textbox(), gr.Textbox()
        gr.Button().click(gpu.endpoint("/generate").handler(), prompt, out, api_name="generate")
    visitors = {i: (edge.visitor(f"u{run}{i}") if i % 2 else edge.visitor(address=f"anon-{run}-{i}"))
                for i in range(50)}
    owner_before = len(edge.charges("user:owner"))
    with serve(demo) as url:
        def one(i: int) -> str:
            events = raw_events(url, "/generate", [f"p{i}"], headers={"x-ip-token": visitors[i]})
            done = [m for _, m in events if m.get("msg") == "process_completed"][-1]
            assert done["success"], done
            return str(done["output"]["data"][0])

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(50)))
    assert results == [f"generated: p{i}" for i in range(50)]
    for i, token in visitors.items():
        identity = edge.world.identity_of(token)
        assert identity == (f"user:u{run}{i}" if i % 2 else f"anon:anon-{run}-{i}")
        assert [c.seconds for c in edge.charges(identity)] == [GPU_SECONDS]
    assert len(edge.charges("user:owner")) == owner_before


def test_a_spent_quota_reads_plainly_in_the_chats_tool_message_and_is_not_retried(
        edge: compose.testing.Hub) -> None:
    from scripted import ScriptedModel
    from smolagents import ToolCallingAgent

    visitor = edge.visitor(f"chat{uuid.uuid4().hex[:8]}")
    identity = edge.world.identity_of(visitor)
    assert identity is not None
    edge.world.charge(identity, edge.world.quota["user"], "owner/gpu")  # their quota is spent
    tool = compose.Space("owner/gpu").endpoint("/generate").tool(name="generate")
    model = ScriptedModel([[("generate", {"text": "a cat"})], [("final_answer", {"answer": "no GPU left"})]])
    agent = ToolCallingAgent(tools=[tool], model=model, verbosity_level=0)
    with compose.identity(session=f"chat-{uuid.uuid4().hex}", headers={"x-ip-token": visitor}):
        final = list(compose.stream_trace(agent, "draw a cat"))[-1]
    failed = [m for m in final if (m.metadata or {}).get("title") == "💥 Error using tool generate"]
    assert len(failed) == 1, final
    assert ("owner/gpu /generate: You have exceeded your GPU quota (30s requested vs. 0s left). Try again in "
            in str(failed[0].content))
    assert len(edge.charges(identity)) == 1  # only the charge that spent it: the refused call cost nothing
