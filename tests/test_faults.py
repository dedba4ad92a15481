"""Errors and faults of the core transport, injected by a misbehaving Gradio look-alike (tests/fault_server.py) and,
where only the real thing will do (a restart, gr.Error), by the real spaces/ apps.

Nothing here mocks gradio, gradio_client or HTTP: every request crosses a real socket. Tests wait on events the
server sets, never on sleeps, and bound every wait so a hang fails the test instead of stalling the run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import gradio  # noqa: F401 - imported at collection: compose's first call imports it, and that takes seconds
import pytest
from fault_server import API_PREFIX, FaultServer

import compose
from compose.apps.processes import LocalSpace, free_port, start_space, wait_ready
from compose.loop import run_async

JOIN = f"{API_PREFIX}/queue/join"
DATA = f"{API_PREFIX}/queue/data"
HANG = 15.0  # longer than any of these calls may take; a call still running then has hung


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


@pytest.fixture
def other() -> Iterator[FaultServer]:
    """A second server on another port: another origin, which must never hear from compose."""
    with FaultServer() as s:
        yield s


async def echo(space: compose.Space, text: str = "hi") -> Any:
    return await asyncio.wait_for(space.endpoint("/echo").call(text), HANG)


async def wait_for(event: Any, timeout: float = 5.0) -> bool:
    """Wait for a threading.Event set by the server thread, without blocking this loop."""
    return bool(await asyncio.to_thread(event.wait, timeout))


# --- join answered 429 / 5xx ----------------------------------------------------------------------------------------


async def test_join_429_waits_as_long_as_retry_after_says_then_succeeds(server, make_space):
    server.join_faults = [(429, {"retry-after": "1"})]
    space = make_space(server.url)

    assert await echo(space) == "echo: hi"

    first, second = server.joins
    # compose's own first backoff is at most 0.375 s: a gap of a second is Retry-After being honoured.
    assert second.at - first.at >= 0.9
    assert len(server.events) == 1


@pytest.mark.parametrize(("status", "error"), [
    (429, compose.RateLimited),
    (503, compose.SpaceUnavailable),
    (500, compose.SpaceUnavailable),
    (502, compose.SpaceUnavailable),
    (504, compose.SpaceUnavailable),
])
async def test_join_that_keeps_failing_gives_up_after_bounded_retries(server, make_space, status, error):
    server.join_fault_forever = (status, {"retry-after": "0"})
    space = make_space(server.url, retries=2)

    with pytest.raises(error) as info:
        await echo(space)

    assert len(server.joins) == 3  # the first try and two retries, no more
    assert (info.value.space, info.value.api_name) == (space.name, "/echo")
    assert str(status) in str(info.value)


async def test_a_huge_retry_after_is_cut_to_max_wait(server, make_space):
    server.join_fault_forever = (429, {"retry-after": "3600"})
    space = make_space(server.url, max_wait=1.0)
    started = time.monotonic()

    with pytest.raises(compose.RateLimited):
        await echo(space)

    assert 0.9 <= time.monotonic() - started < 5  # it waited out max_wait, not the hour asked for
    assert len(server.joins) == 2  # a try, and one retry at the max_wait deadline


async def test_an_unreadable_retry_after_falls_back_to_compose_backoff(server, make_space):
    server.join_faults = [(503, {"retry-after": "soon"})]
    space = make_space(server.url)

    assert await echo(space) == "echo: hi"
    assert len(server.joins) == 2


async def test_a_refused_join_is_not_retried(server, make_space):
    server.join_fault_forever = (400, {})
    space = make_space(server.url)

    with pytest.raises(compose.APIChanged):
        await echo(space)
    assert len(server.joins) == 1


# --- a job that has started is never re-run -------------------------------------------------------------------------


async def test_a_join_whose_answer_was_cut_off_is_not_sent_again(server, make_space):
    # The server took the job, then died while answering: the job may be running, so it must not be sent twice.
    server.join_drop = True
    space = make_space(server.url, retries=3)

    with pytest.raises(compose.UpstreamDisconnected):
        await echo(space)
    assert len(server.joins) == 1


async def test_a_schema_read_cut_off_mid_answer_is_retried(server, make_space):
    # Reading the config starts nothing upstream, so unlike a join it is safe to try again.
    server.config_drops = 1
    space = make_space(server.url)

    assert await echo(space) == "echo: hi"
    assert len(server.seen("/config")) == 2


async def test_server_dying_mid_stream_raises_at_once_and_the_job_is_not_rerun(server, make_space):
    server.stream_mode = "drop"
    space = make_space(server.url, idle_timeout=30)
    started = time.monotonic()

    with pytest.raises(compose.UpstreamDisconnected) as info:
        await echo(space)

    assert time.monotonic() - started < 5  # the break is noticed at once, not at the idle deadline
    assert info.value.api_name == "/echo"
    assert server.started.is_set()
    assert len(server.joins) == 1

    # Once the server behaves again, the next call goes through on a fresh stream.
    server.stream_mode = "ok"
    assert await echo(space, "again") == "echo: again"
    assert len(server.joins) == 2


async def test_stream_ending_without_a_result_raises_upstream_disconnected(server, make_space):
    server.stream_mode = "end"
    space = make_space(server.url, idle_timeout=30)
    started = time.monotonic()

    with pytest.raises(compose.UpstreamDisconnected):
        await echo(space)

    assert time.monotonic() - started < 5
    assert len(server.joins) == 1


async def test_server_forgetting_the_session_raises_session_lost(server, make_space):
    server.stream_mode = "lost"
    space = make_space(server.url, idle_timeout=30)

    with pytest.raises(compose.SessionLost):
        await echo(space)
    assert len(server.joins) == 1


@pytest.mark.parametrize(("path", "error"), [
    ("/config", compose.ConfigError),
    (f"{API_PREFIX}/info", compose.ConfigError),
    (JOIN, compose.SpaceUnavailable),
])
async def test_a_page_that_is_not_gradio_is_a_compose_error(server, make_space, path, error):
    server.html.add(path)
    space = make_space(server.url)

    with pytest.raises(error):  # not a bare ValueError or KeyError from inside compose
        await echo(space)
    assert len(server.joins) <= 1


async def test_no_data_stream_is_left_open_once_the_calls_are_done(server, make_space):
    # Gradio sends a job's result and close_stream back to back. Each call's stream must end with the job, not be
    # reopened and held open to the Space for as long as the user's session lives.
    space = make_space(server.url)
    for i in range(5):
        assert await echo(space, str(i)) == f"echo: {i}"

    assert await run_async(space.upstream.streams.settle(5)) == 0


async def test_a_result_that_arrives_before_its_join_answer_is_not_lost(server, make_space):
    # Two calls of one user share the session's data stream. The second one's job finishes, and the server closes
    # the stream, before its join has even answered: its result is already here and must reach it.
    a_may_finish, b_may_finish = threading.Event(), threading.Event()
    server.scripts = [[a_may_finish, "ok"], [b_may_finish, "ok"]]
    server.join_answer_gates = [None, server.closed_stream]
    space = make_space(server.url, idle_timeout=5)
    echo_ep = space.endpoint("/echo")

    a = asyncio.ensure_future(echo_ep.call("a"))
    assert await wait_for(server.started)
    b = asyncio.ensure_future(echo_ep.call("b"))
    assert await asyncio.to_thread(server.wait_joins, 2)
    a_may_finish.set()
    assert await asyncio.wait_for(a, HANG) == "echo: a"
    b_may_finish.set()  # b's messages and close_stream go out; only then is b's join answered

    assert await asyncio.wait_for(b, HANG) == "echo: b"  # not UpstreamTimeout: nothing was dropped
    assert len(server.joins) == 2


async def test_no_stream_is_reopened_for_a_call_whose_events_all_came_before_its_join_answered(server, make_space):
    # A cancelled call's completion is still pending, so its stream stays open, when the same user's next call
    # joins: that call asks for the stream to be reopened once this one closes (it opens its stream early). Then the
    # cancelled call's completion and all of the new call's events come, and the server closes the stream, before
    # the new join has answered. Nothing is left to come: a stream opened again would be held open by Gradio
    # (heartbeats only) for as long as the session lives, with nothing to read.
    a_completes, b_answers = threading.Event(), threading.Event()
    server.scripts = [["ok"], [a_completes], ["ok"]]  # a's completion comes only after a_completes (and its cancel)
    server.join_answer_gates = [None, None, b_answers]
    space = make_space(server.url, idle_timeout=60)
    ep = space.endpoint("/echo")
    try:
        assert await echo(space, "warm") == "echo: warm"  # the session is known: later calls open streams early
        server.started.clear()
        server.closed_stream.clear()
        a = asyncio.ensure_future(ep.call("a"))
        assert await wait_for(server.started)
        a.cancel()
        with pytest.raises(asyncio.CancelledError):
            await a
        assert await wait_for(server.cancelled)  # a's completion is queued behind a_completes: pending
        b = asyncio.ensure_future(ep.call("b"))
        assert await asyncio.to_thread(server.wait_joins, 3)
        a_completes.set()  # a's completion, b's events, close_stream: all before b's join answers
        assert await wait_for(server.closed_stream)
        b_answers.set()
        assert await asyncio.wait_for(b, HANG) == "echo: b"
        assert await run_async(space.upstream.streams.settle(5)) == 0
    finally:
        a_completes.set()
        b_answers.set()


# --- stalls: the idle deadline, and cancelling upstream --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["silent"])  # nothing at all (heartbeats: see test_hostile)
async def test_stalled_stream_times_out_and_the_upstream_job_is_cancelled(server, make_space, mode):
    server.stream_mode = mode
    space = make_space(server.url, idle_timeout=0.5)
    started = time.monotonic()

    with pytest.raises(compose.UpstreamTimeout) as info:
        await echo(space)

    assert 0.5 <= time.monotonic() - started < 5
    assert info.value.api_name == "/echo"
    assert await wait_for(server.cancelled), "the timed-out job was not cancelled upstream"
    (join,) = server.joins
    assert server.cancels == [{"session_hash": join.json()["session_hash"], "fn_index": 0,
                               "event_id": server.events[0]}]


async def test_a_join_that_is_never_answered_times_out_at_the_idle_deadline(server, make_space):
    never = threading.Event()
    server.join_answer_gates = [never]
    space = make_space(server.url, idle_timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(compose.UpstreamTimeout) as info:
            await echo(space)
        assert 0.5 <= time.monotonic() - started < 5  # not the minute a join may otherwise take
        assert info.value.api_name == "/echo" and "not re-sent" in str(info.value)
        assert len(server.joins) == 1  # it may have started a job: never sent twice
    finally:
        never.set()


async def test_cancelling_the_caller_cancels_the_upstream_job(server, make_space):
    server.stream_mode = "silent"
    space = make_space(server.url, idle_timeout=60)
    call = asyncio.ensure_future(space.endpoint("/echo").call("hi"))
    assert await wait_for(server.started), "the job never started"

    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    assert await wait_for(server.cancelled), "cancelling the caller did not cancel the upstream job"
    assert [c["event_id"] for c in server.cancels] == server.events


async def test_cancelling_while_the_join_is_in_flight_still_cancels_the_job(server, make_space):
    # The job starts when the join arrives, but its id only comes with the join's answer: a caller that leaves in
    # between must still stop it.
    server.stream_mode = "silent"
    answer = threading.Event()
    server.join_answer_gates = [answer]
    space = make_space(server.url, idle_timeout=60)
    call = asyncio.ensure_future(space.endpoint("/echo").call("hi"))
    assert await asyncio.to_thread(server.wait_joins, 1)

    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    answer.set()  # only now does compose learn the event id

    assert await wait_for(server.cancelled), "the job whose join was in flight was not cancelled upstream"
    assert [c["event_id"] for c in server.cancels] == server.events


# --- redirects and tokens ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "error"), [
    ("/config", compose.SpaceUnavailable),
    (JOIN, compose.SpaceUnavailable),
    (DATA, compose.SpaceError),
])
async def test_redirect_to_another_origin_is_never_followed(server, other, make_space, path, error):
    server.redirects[path] = other.url + path
    space = make_space(server.url, headers={"x-secret": "s3cret"})

    with pytest.raises(error):
        await echo(space)

    assert server.seen(path), "the redirecting request was never made"
    assert other.requests == []  # not a single request, so no header ever reached the other origin


async def test_token_is_never_sent_to_a_non_hugging_face_origin(server, make_space):
    space = make_space(server.url, token="hf_secret")

    assert await echo(space) == "echo: hi"

    assert len(server.requests) >= 4  # config, info, join, data
    for request in server.requests:
        assert "authorization" not in request.headers
        assert not any("hf_secret" in value for value in request.headers.values())


@pytest.mark.parametrize("token", [None, True])
async def test_hf_token_from_the_environment_is_not_sent_without_opt_in(server, make_space, monkeypatch, token):
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    space = make_space(server.url, token=token)

    assert await echo(space) == "echo: hi"

    assert server.requests
    for request in server.requests:
        assert "authorization" not in request.headers
        assert not any("hf_from_env" in value for value in request.headers.values())


def test_token_goes_to_hugging_face_only_when_given_or_opted_in(monkeypatch):
    # A *.hf.space origin cannot be served on loopback, so this reads the headers compose would send there.
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")

    def authorization(**options: Any) -> str | None:
        headers = compose.Space("https://owner-name.hf.space", **options).upstream.headers(None)
        assert "authorization" not in headers  # plain Authorization would pass the Spaces proxy to the app's code
        return headers.get("x-hf-authorization")

    assert authorization() is None
    assert authorization(token=True) == "Bearer hf_from_env"
    assert authorization(token="hf_given") == "Bearer hf_given"


# --- the real apps: a restart that lost the session, and gr.Error ----------------------------------------------------


def _start_diagnostics(port: int) -> LocalSpace:
    process, temp_dir, _ = start_space("diagnostics", port=port)
    return wait_ready("diagnostics", process, temp_dir, timeout=25)


@pytest.mark.parametrize("schema_from", ["the app", "the disk cache"])
async def test_restart_that_lost_the_session_raises_session_lost_then_starts_over(make_space, schema_from):
    port = free_port()
    app = _start_diagnostics(port)
    try:
        if schema_from == "the disk cache":
            await make_space(app.url).aload()  # another process's visit, in effect: it left the schema on disk
        space = make_space(app.url)
        increment = space.endpoint("/increment")

        async def count(user: str) -> Any:
            with compose.identity(session=user):
                return await asyncio.wait_for(increment.call(), HANG)

        users = ["alice", "bob", "carol"]
        for expected in (1, 2, 3):
            assert [await count(u) for u in users] == [expected] * 3

        app.stop()
        app = _start_diagnostics(port)

        # Every user whose state was lost hears it, also when they call at the same moment.
        lost = await asyncio.gather(*(count(u) for u in users), return_exceptions=True)
        assert all(isinstance(e, compose.SessionLost) for e in lost), lost
        assert {e.api_name for e in lost} == {"/increment"}
        # Their sessions were reset: the next calls work, each with a fresh counter.
        assert [await count(u) for u in users] == [1, 1, 1]
    finally:
        app.stop()


# The first test to use the session-wide `urls` fixture pays for starting all five apps (about 25 s on a loaded
# 2-CPU machine) inside its own time limit; this test itself takes well under a second.
@pytest.mark.timeout(120)
async def test_remote_gr_error_is_app_error_with_its_message_and_title(urls, make_space):
    space = make_space(urls["calculator"])

    with pytest.raises(compose.AppError) as info:
        await asyncio.wait_for(space.endpoint("/calculate").call(a=1, operation="divide", b=0), HANG)

    assert info.value.message == "Cannot divide by zero."
    assert info.value.title == "Math error"
    assert (info.value.space, info.value.api_name) == (space.name, "/calculate")
