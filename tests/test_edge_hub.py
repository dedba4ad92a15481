"""compose resolves Space ids through the (emulated) Hub and handles runtime stages: a bounded wait with visible
progress for a sleeping or starting Space, an immediate error naming the stage for a paused or broken one."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from conftest import LONG_ID
from edge_apps import GPU_SECONDS

import compose
import compose.testing


def test_the_host_comes_from_the_hub_not_from_the_id(edge: compose.testing.Hub) -> None:
    guessed = "https://" + LONG_ID.replace("/", "-") + ".hf.space"
    space = compose.Space(LONG_ID)
    assert space.endpoint("/increment").predict() == 1
    assert space.url == f"https://{edge.space(LONG_ID).host}" != guessed


def test_a_sleeping_space_is_woken_on_first_need(edge: compose.testing.Hub) -> None:
    edge.set_stage("owner/sleepy", "SLEEPING")
    space = compose.Space("owner/sleepy").load()  # waits (bounded by max_wait) while it wakes
    assert edge.space("owner/sleepy").stage_now() == "RUNNING"
    with compose.identity(session="first-need"):
        assert space.endpoint("/increment").predict() == 1


def test_a_space_that_fell_asleep_is_woken_with_visible_progress(edge: compose.testing.Hub) -> None:
    """The common case: an outer app loaded the Space at start, which has gone to sleep since. The call waits for
    it (longer than compose's own retries last) and says so in its updates, then goes through."""
    space = compose.Space("owner/sleepy").load()
    edge.space("owner/sleepy").wake_seconds = 6.0
    try:
        edge.set_stage("owner/sleepy", "SLEEPING")

        async def run() -> list[compose.Update]:
            async with compose.identity(session="woken"):
                return [u async for u in space.endpoint("/increment").stream()]

        updates = asyncio.run(run())
    finally:
        edge.space("owner/sleepy").wake_seconds = 1.0
    said = [p.desc or "" for u in updates if u.kind == "progress" for p in u.progress]
    assert any("the Space is starting…" in text or "waking the Space…" in text for text in said), said
    assert [u.value for u in updates if u.kind == "output"][-1] == 1


@pytest.mark.parametrize("stage", ["PAUSED", "RUNTIME_ERROR", "BUILD_ERROR"])
def test_a_paused_or_broken_space_fails_at_once_naming_its_stage(edge: compose.testing.Hub, stage: str) -> None:
    edge.set_stage("owner/stages", stage)
    before = edge.space("owner/stages").requests
    try:
        with pytest.raises(compose.SpaceUnavailable) as raised:
            compose.Space("owner/stages").endpoint("/increment").predict()
    finally:
        edge.set_stage("owner/stages", "RUNNING")
    assert raised.value.stage == stage and stage in str(raised.value)
    assert edge.space("owner/stages").requests == before  # no request, so no retry, was wasted on it


def test_a_private_space_by_id_needs_its_token(edge: compose.testing.Hub) -> None:
    with pytest.raises(compose.ConfigError, match="private"):
        compose.Space("owner/private").load()
    assert compose.Space("owner/private", token=edge.token("owner")).endpoint("/increment").predict() == 1


def test_an_outer_apps_visitor_sees_the_wake_up_in_the_progress_bar(edge: compose.testing.Hub) -> None:
    import gradio as gr
    from outer import raw_events, serve

    space = compose.Space("owner/sleepy").load()
    with gr.Blocks() as demo:
        count = gr.Number()
        gr.Button().click(space.endpoint("/increment").handler(), None, count, api_name="increment")
    edge.space("owner/sleepy").wake_seconds = 6.0
    try:
        edge.set_stage("owner/sleepy", "SLEEPING")
        with serve(demo) as url:
            events = [m for _, m in raw_events(url, "/increment", [])]
    finally:
        edge.space("owner/sleepy").wake_seconds = 1.0
    said = [p.get("desc") or "" for m in events if m.get("msg") == "progress" for p in m.get("progress_data") or []]
    assert any("waking the Space…" in text or "the Space is starting…" in text for text in said), said
    assert events[-1]["success"] and events[-1]["output"]["data"][0] == 1


def test_the_cli_says_it_is_waking_the_space(edge: compose.testing.Hub) -> None:
    from typer.testing import CliRunner

    from compose.apps.cli import app

    edge.set_stage("owner/sleepy", "SLEEPING")
    result = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"}).invoke(app, ["call", "owner/sleepy", "/increment"])
    assert result.exit_code == 0, result.output
    assert "waking the Space…" in result.output
    assert result.output.strip().endswith("1")


def test_an_edge_429_is_waited_out_as_retry_after_says_and_reported_when_it_persists(
        edge: compose.testing.Hub) -> None:
    space = compose.Space("owner/headers").load()
    edge.rate_limit("owner/headers", 2, retry_after=1)
    with compose.identity(session="patient"):
        assert space.endpoint("/increment").predict() == 1  # two 429s, then through
    edge.rate_limit("owner/headers", 50, retry_after=1)
    try:
        with pytest.raises(compose.RateLimited):
            space.endpoint("/increment").predict()
    finally:
        edge.rate_limit("owner/headers", 0)


def test_the_visitors_zero_gpu_quota_through_huggingface_hub(edge: compose.testing.Hub) -> None:
    import huggingface_hub

    user = f"q{uuid.uuid4().hex[:6]}"
    visitor = edge.visitor(user)
    with compose.identity(session=user, headers={"x-ip-token": visitor}):
        compose.Space("owner/gpu").endpoint("/generate").predict("a")
    quota = huggingface_hub.HfApi(token=edge.token(user)).get_zero_gpu_quota()
    assert quota.remaining == edge.quota(visitor) == quota.base - GPU_SECONDS
