"""Waking Spaces and starting apps: a bounded wait (max_wait, Retry-After honoured) with visible progress, wherever a
user looks — `load(progress=)`, `ep.stream()` updates, a handler's gr.Progress and an agent chat's tool message.

A plain URL has no Hub to ask: its "not yet" answers (503 while a Space wakes or an app starts) are waited out. A
Space id asks the Hub for its stage; with its schema cached on disk, its first use does not wait at all until the
call itself, which then reports the wake-up.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_server import FaultServer
from scripted import ScriptedModel
from smolagents import ToolCallingAgent

import compose
import compose.testing

SLEEPY = "owner/sleepy"
WAKING = ("waking the Space…", "the Space is starting…")


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


@pytest.fixture
def slow_wake(edge: compose.testing.Hub) -> Iterator[compose.testing.Hub]:
    """The sleepy Space takes 5 s to wake (longer than compose's few quick retries last); asleep at the start."""
    edge.space(SLEEPY).wake_seconds = 5.0
    edge.set_stage(SLEEPY, "SLEEPING")
    try:
        yield edge
    finally:
        edge.space(SLEEPY).wake_seconds = 1.0
        edge.set_stage(SLEEPY, "RUNNING")


def said(updates: list[compose.Update]) -> list[str]:
    return [p.desc or "" for u in updates if u.kind == "progress" for p in u.progress]


# --- a plain URL ------------------------------------------------------------------------------------------------


def test_a_url_app_answering_503_is_waited_for_as_retry_after_says(server: FaultServer, make_space: Any) -> None:
    server.config_faults = [(503, {"retry-after": "1"})] * 5  # five seconds of "starting", as Retry-After says
    heard: list[str] = []
    space = make_space(server.url).load(progress=heard.append)
    assert "/echo" in space.endpoints
    configs = server.seen("/config")
    assert len(configs) == 6  # five refusals waited out, then the app; more than compose's 3 quick retries
    assert all(b.at - a.at >= 0.9 for a, b in itertools.pairwise(configs))  # Retry-After honoured
    assert len([h for h in heard if "the app is starting… (it answered 503" in h]) == 5


def test_a_url_app_that_keeps_answering_503_fails_after_max_wait(server: FaultServer, make_space: Any) -> None:
    server.config_faults = [(503, {"retry-after": "1"})] * 1000
    started = time.monotonic()
    with pytest.raises(compose.SpaceUnavailable, match=r"answered 503.*max_wait") as raised:
        make_space(server.url, max_wait=2.5).load()
    assert time.monotonic() - started >= 2.0  # it did wait, up to max_wait
    assert raised.value.space == server.url


def test_a_space_given_by_url_is_woken_with_progress(slow_wake: compose.testing.Hub, make_space: Any,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPOSE_CACHE_DIR", str(tmp_path))  # no schema on disk yet: it must be asked of the app
    heard: list[str] = []
    space = make_space(f"https://{slow_wake.space(SLEEPY).host}").load(progress=heard.append)
    assert slow_wake.space(SLEEPY).stage_now() == "RUNNING"
    assert any("the app is starting… (it answered 503" in h for h in heard), heard
    with compose.identity(session=f"url-{uuid.uuid4().hex}"):
        assert space.endpoint("/increment").predict() == 1


def test_a_url_space_that_fell_asleep_is_woken_within_the_call(edge: compose.testing.Hub, make_space: Any) -> None:
    space = make_space(f"https://{edge.space(SLEEPY).host}").load()
    edge.space(SLEEPY).wake_seconds = 5.0
    edge.set_stage(SLEEPY, "SLEEPING")
    try:
        async def run() -> list[compose.Update]:
            async with compose.identity(session=f"asleep-{uuid.uuid4().hex}"):
                return [u async for u in space.endpoint("/increment").stream()]

        updates = asyncio.run(run())
    finally:
        edge.space(SLEEPY).wake_seconds = 1.0
    assert any("the app is starting…" in text for text in said(updates)), said(updates)
    assert [u.value for u in updates if u.kind == "output"][-1] == 1


# --- a Space id, first used with its schema cached on disk -------------------------------------------------------


@pytest.fixture
def cached_schema(edge: compose.testing.Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk cache holding the sleepy Space's schema (as after an earlier run of the outer app or the CLI)."""
    monkeypatch.setenv("COMPOSE_CACHE_DIR", str(tmp_path))
    compose.Space(SLEEPY).load()


def test_first_use_streams_the_wake_up(cached_schema: None, slow_wake: compose.testing.Hub) -> None:
    ep = compose.Space(SLEEPY).endpoint("/increment")  # from the disk cache: no wait, nothing woken yet
    assert slow_wake.space(SLEEPY).stage_now() == "SLEEPING"

    async def run() -> list[compose.Update]:
        async with compose.identity(session=f"first-{uuid.uuid4().hex}"):
            return [u async for u in ep.stream()]

    updates = asyncio.run(run())
    assert any(w in text for text in said(updates) for w in WAKING), said(updates)
    assert [u.value for u in updates if u.kind == "output"][-1] == 1


def test_first_use_shows_the_wake_up_in_the_outer_apps_progress_bar(cached_schema: None,
                                                                     slow_wake: compose.testing.Hub) -> None:
    import gradio as gr
    from outer import raw_events, serve

    # Its disk schema taken as unconfirmed (window 0): building a handler would check it against the app, but a
    # Space the Hub says sleeps is not asked (any request wakes it).
    space = compose.Space(SLEEPY, limits=compose.Limits(schema_check_every=0))
    with gr.Blocks() as demo:
        count = gr.Number()
        gr.Button().click(space.endpoint("/increment").handler(), None, count, api_name="increment")
    assert slow_wake.space(SLEEPY).stage_now() == "SLEEPING"  # building the app woke nothing
    with serve(demo) as url:
        events = [m for _, m in raw_events(url, "/increment", [])]
    shown = [p.get("desc") or "" for m in events if m.get("msg") == "progress" for p in m.get("progress_data") or []]
    assert any(w in text for text in shown for w in WAKING), shown
    assert events[-1]["success"] and events[-1]["output"]["data"][0] == 1


def test_rendering_a_sleeping_space_wakes_nothing_and_leaves_its_pictures_out(cached_schema: None,
                                                                              slow_wake: compose.testing.Hub) -> None:
    import gradio as gr

    # The files of its layout (a banner) are fetched when it runs; asleep, the outer app starts without them
    # rather than wake it at build time (its first call wakes it, with progress).
    with gr.Blocks() as demo:
        compose.Space(SLEEPY).render()
    assert slow_wake.space(SLEEPY).stage_now() == "SLEEPING"
    (banner,) = [b for b in demo.blocks.values() if getattr(b, "label", None) == "banner"]
    assert banner.value is None  # type: ignore[attr-defined]


def test_first_use_shows_the_wake_up_in_the_chats_tool_message(cached_schema: None,
                                                                slow_wake: compose.testing.Hub) -> None:
    tool = compose.Space(SLEEPY).endpoint("/increment").tool(name="increment")
    model = ScriptedModel([[("increment", {})], [("final_answer", {"answer": "done"})]])
    agent = ToolCallingAgent(tools=[tool], model=model, verbosity_level=0)
    with compose.identity(session=f"chat-{uuid.uuid4().hex}"):
        snapshots = list(compose.stream_trace(agent, "count"))
    messages = [m for s in snapshots for m in s if "Used tool increment" in (m.metadata or {}).get("title", "")]
    logs = [str((m.metadata or {}).get("log", "")) for m in messages]
    assert any(w in log for log in logs for w in WAKING), logs
    final = [m for m in snapshots[-1] if "Used tool increment" in (m.metadata or {}).get("title", "")]
    assert final and final[0].metadata["status"] == "done" and "1" in str(final[0].content)


def test_first_use_from_the_cli_says_it_is_waking_the_space(cached_schema: None,
                                                            slow_wake: compose.testing.Hub) -> None:
    from typer.testing import CliRunner

    from compose.apps.cli import app

    with compose.identity(session=f"cli-{uuid.uuid4().hex}"):  # its own upstream session in this test process
        result = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"}).invoke(app, ["call", SLEEPY, "/increment"])
    assert result.exit_code == 0, result.output
    assert any(w in result.output for w in WAKING), result.output
    assert result.output.strip().endswith("1")


# --- a Space id with no schema on disk: endpoint() itself waits, says so, and is bounded ---------------------------


def test_endpoint_of_a_sleeping_space_with_no_schema_on_disk_logs_its_wait_and_gives_up_at_max_wait(
        slow_wake: compose.testing.Hub, make_space: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("COMPOSE_CACHE_DIR", str(tmp_path))  # no schema on disk: endpoint() must ask the app
    caplog.set_level(logging.INFO, logger="compose")
    with pytest.raises(compose.SpaceUnavailable, match=r"^owner/sleepy: still \w+ after waiting .*max_wait=1.5 s"
                       ) as raised:
        make_space(SLEEPY, max_wait=1.5).endpoint("/increment")  # the wake-up takes 5 s
    assert raised.value.space == SLEEPY and raised.value.stage in ("SLEEPING", "APP_STARTING")
    waits = [r.getMessage() for r in caplog.records if r.name.startswith("compose") and r.levelno == logging.INFO]
    assert any(w.startswith(f"compose: waiting for {SLEEPY}: waking the Space…") for w in waits), waits
    # With time enough, the same wait ends in the endpoint, and the first call needs no further wait.
    caplog.clear()
    ep = make_space(SLEEPY).endpoint("/increment")
    assert slow_wake.space(SLEEPY).stage_now() == "RUNNING"
    assert any(f"waiting for {SLEEPY}" in r.getMessage() for r in caplog.records), caplog.records
    with compose.identity(session=f"bounded-{uuid.uuid4().hex}"):
        assert ep.predict() == 1


# --- a wake-up is a fresh container (compose.testing emulates Hugging Face's) ----------------------------------------


def test_a_space_wakes_as_a_fresh_app_its_sessions_state_gone(edge: compose.testing.Hub, make_space: Any) -> None:
    space = make_space(SLEEPY).load()
    increment = space.endpoint("/increment")
    user = f"sleeper-{uuid.uuid4().hex}"
    with compose.identity(session=user):
        assert [increment.predict(), increment.predict()] == [1, 2]
    host = f"https://{edge.space(SLEEPY).host}/config"
    before = httpx.get(host).json()["app_id"]
    edge.set_stage(SLEEPY, "SLEEPING")
    assert edge.replica_urls(SLEEPY) == []  # asleep, nothing runs
    with compose.identity(session=user):
        # compose waits for the wake-up, asks the fresh app its id, and tells the user their state is gone (nothing
        # was sent), rather than silently starting them over; the next call starts a fresh gr.State, never the 3
        # that a Space keeping its memory through its sleep would give.
        with pytest.raises(compose.SessionLost):
            increment.predict()
        assert increment.predict() == 1
    assert httpx.get(host).json()["app_id"] != before
