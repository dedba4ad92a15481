"""Calling endpoints: predict/call/stream/submit, argument binding and validation, streaming, cancellation, Jobs,
and one Space used from sync code, threads and several event loops."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from jobs import job_state, wait_for_state
from offline import offline_copy

import compose


def unique_seconds() -> float:
    """A long_job duration no other test uses, so this test can find its own job in the upstream job log."""
    return round(random.uniform(20, 29), 6)


async def await_state(streaming: compose.Space, seconds: float, wanted: str | None, limit: float = 10.0) -> str | None:
    """`wait_for_state` for async tests: the polling calls don't block the test's event loop."""
    return await asyncio.to_thread(wait_for_state, streaming, seconds, wanted, limit)


def job_count(streaming: compose.Space) -> int:
    return len(streaming.endpoint("/job_log").predict())


# --- the four ways to call -----------------------------------------------------------------------------------------


def test_predict_positional_keyword_and_remote_defaults(translator: compose.Space) -> None:
    ep = translator.endpoint("/translate")
    assert ep.predict("good night", "Spanish") == "buenas noches"
    assert ep.predict(text="thank you", target_language="German") == "danke"
    assert ep.predict("hello", target_language="Spanish") == "hola"
    # Remote defaults apply: target_language defaults to "French", text to "good morning".
    assert ep.predict("cat") == "chat"
    assert ep.predict() == "bonjour"
    assert ep.predict(target_language="German") == "guten Morgen"


def test_remote_defaults_in_the_middle(calculator: compose.Space) -> None:
    ep = calculator.endpoint("/calculate")
    assert ep.predict(2, b=5) == 7  # operation defaults to "add"
    assert ep.predict(a=3, operation="multiply") == 21  # b defaults to 7
    assert ep.predict(10, "divide", 4) == 2.5


async def test_call_is_async(translator: compose.Space) -> None:
    ep = translator.endpoint("/translate")
    results = list(await asyncio.gather(ep.call("dog", "German"), ep.call(text="water", target_language="Spanish")))
    assert results == ["Hund", "agua"]


def test_result_shapes(calculator: compose.Space, diagnostics: compose.Space, translator: compose.Space) -> None:
    # Several outputs → a tuple in order; one → the value; none → None.
    assert calculator.endpoint("/stats").predict("4, 1, 7") == (12, 4, 7)
    assert translator.endpoint("/word_count").predict("one two three") == 3
    assert diagnostics.endpoint("/ping").predict() is None


def test_dataframe_and_datetime_arguments(media: compose.Space) -> None:
    totals = media.endpoint("/totals")
    out = totals.predict([["pear", 2, 1.25], ["fig", 4, 0.5]])
    assert out["headers"] == ["item", "quantity", "price", "total"]
    assert [row[-1] for row in out["data"]] == [2.5, 2.0]
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"item": ["kiwi"], "quantity": [3], "price": [2.0]})
    assert totals.predict(frame)["data"][0][-1] == 6.0
    # Its default is the remote component's value.
    assert totals.predict()["data"] == [["apple", 3, 0.5, 1.5]]

    later = media.endpoint("/add_days").predict(dt.datetime(2024, 2, 28, 12, 0, 0), days=2)
    assert str(later).startswith("2024-03-01 12:00:00")


def test_app_error_carries_the_remote_message_and_title(calculator: compose.Space) -> None:
    with pytest.raises(compose.AppError) as e:
        calculator.endpoint("/calculate").predict(1, "divide", 0)
    assert e.value.message == "Cannot divide by zero."
    assert e.value.title == "Math error"
    assert e.value.space == calculator.name and e.value.api_name == "/calculate"


# --- validation before sending -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "parameter", "words"),
    [
        ((), {"colour": "red"}, "colour", "unknown"),
        ((1, "modulo", 2), {}, "operation", "must be one of"),
        ((), {"a": "twelve"}, "a", "expects"),
        ((True,), {}, "a", "expects"),
        ((1,), {"a": 2}, "a", "twice"),
        ((1, "add", 2, 3), {}, None, "takes 3"),
    ],
)
def test_invalid_arguments_name_space_endpoint_and_parameter(
    calculator: compose.Space, args: tuple[Any, ...], kwargs: dict[str, Any], parameter: str | None, words: str
) -> None:
    ep = calculator.endpoint("/calculate")
    with pytest.raises(compose.InvalidArguments) as e:
        ep.predict(*args, **kwargs)
    assert e.value.space == calculator.name and e.value.api_name == "/calculate"
    assert e.value.parameter == parameter
    assert words in str(e.value)
    assert calculator.name in str(e.value) and "/calculate" in str(e.value)
    if parameter:
        assert repr(parameter) in str(e.value)
    # `.problems` lists what is wrong, one (parameter, message) each, whatever it is.
    assert e.value.problems and all(words in message for _, message in e.value.problems)
    assert e.value.problems[0][0] == (parameter or "argument 4")


def test_out_of_range_slider_value_is_refused_before_sending(streaming: compose.Space) -> None:
    ep = streaming.endpoint("/count_up")
    for bad in ({"n": 51}, {"n": 0}, {"delay": 2.5}, {"delay": -0.1}):
        with pytest.raises(compose.InvalidArguments) as e:
            ep.predict(**bad)
        assert e.value.parameter == next(iter(bad)) and "between" in str(e.value)
    # The bounds themselves are fine.
    assert ep.predict(n=1, delay=0) == "1"
    assert ep.predict(n=50, delay=0).split()[-1] == "50"


def test_missing_required_parameter(media: compose.Space) -> None:
    with pytest.raises(compose.InvalidArguments) as e:
        media.endpoint("/add_days").predict(days=3)
    assert e.value.parameter == "when" and "missing" in str(e.value)


def test_invalid_arguments_send_nothing(streaming: compose.Space, diagnostics: compose.Space) -> None:
    long_job = streaming.endpoint("/long_job")
    before = job_count(streaming)
    for bad in ({"seconds": "ten"}, {"secs": 1}, {"seconds": [1]}):
        with pytest.raises(compose.InvalidArguments):
            long_job.predict(**bad)
    with pytest.raises(compose.InvalidArguments):
        long_job.predict(1, 2)
    # Had any of those reached the app, it would have started (and logged) a job.
    assert job_count(streaming) == before

    inc = diagnostics.endpoint("/increment")
    with compose.identity(session=f"validation-{random.random()}"):
        assert inc.predict() == 1
        with pytest.raises(compose.InvalidArguments):
            inc.predict(5)
        with pytest.raises(compose.InvalidArguments):
            inc.predict(count=5)
        assert inc.predict() == 2  # the refused calls did not touch this user's counter


def test_validation_happens_before_any_request(calculator: compose.Space, media: compose.Space) -> None:
    # Against an address where nothing listens, a bad call fails validation rather than connecting.
    dead = compose.Space(offline_copy(calculator.url, "calc-validation"), retries=0)
    with pytest.raises(compose.InvalidArguments):
        dead.endpoint("/calculate").predict(1, "modulo", 2)
    with pytest.raises(compose.SpaceUnavailable):
        dead.endpoint("/calculate").predict(1, "add", 2)  # a valid one does try, and fails to connect
    with pytest.raises(compose.InvalidArguments):
        compose.Space(offline_copy(media.url, "media-validation"), retries=0).endpoint("/add_days").predict()


async def test_async_call_validates_too(calculator: compose.Space) -> None:
    with pytest.raises(compose.InvalidArguments):
        await calculator.endpoint("/calculate").call(operation="pow")


# --- streaming -----------------------------------------------------------------------------------------------------


async def test_stream_outputs_arrive_one_by_one(streaming: compose.Space) -> None:
    outputs: list[tuple[float, Any]] = []
    kinds: list[str] = []
    async for update in streaming.endpoint("/count_up").stream(n=4, delay=0.2):
        kinds.append(update.kind)
        if update.kind == "output" and not update.final:
            outputs.append((time.monotonic(), update.value))
    assert [v for _, v in outputs] == ["1", "1 2", "1 2 3", "1 2 3 4"]
    # Live, not bunched at the end: about 0.6 s separate the first value from the last.
    assert outputs[-1][0] - outputs[0][0] >= 0.4
    assert kinds[-1] == "output"
    # Queue status came before the first output.
    assert "status" in kinds[: kinds.index("output")]


async def test_stream_final_output_is_the_result(streaming: compose.Space) -> None:
    updates = [u async for u in streaming.endpoint("/count_up").stream(3, 0)]
    finals = [u for u in updates if u.kind == "output" and u.final]
    assert len(finals) == 1 and finals[0] is updates[-1]
    assert finals[0].value == "1 2 3"
    assert await streaming.endpoint("/count_up").call(n=2, delay=0) == "1 2"


async def test_stream_status_and_progress_updates(streaming: compose.Space) -> None:
    updates = [u async for u in streaming.endpoint("/long_job").stream(seconds=0.5)]
    stages = [u.stage for u in updates if u.kind == "status"]
    assert "queued" in stages and "started" in stages
    queued = next(u for u in updates if u.kind == "status" and u.stage == "queued")
    assert queued.rank is not None and queued.queue_size is not None and queued.queue_size >= 1
    progress = [u.progress[0] for u in updates if u.kind == "progress"]
    assert len(progress) >= 3
    assert all(p.length == 5 and p.unit == "steps" and p.desc == "Working" for p in progress)
    indexes = [p.index for p in progress if p.index is not None]
    assert indexes == sorted(indexes) and indexes[0] == 0 and indexes[-1] == 4
    assert progress[-1].fraction == pytest.approx(0.8)
    assert updates[-1].kind == "output" and updates[-1].value == "worked 0.5 s"


async def test_stream_raises_the_app_error(calculator: compose.Space) -> None:
    with pytest.raises(compose.AppError, match="divide by zero"):
        async for _ in calculator.endpoint("/calculate").stream(1, "divide", 0):
            pass


# --- cancellation reaches the upstream job -------------------------------------------------------------------------


async def test_cancelling_the_awaiting_task_cancels_upstream(streaming: compose.Space) -> None:
    seconds = unique_seconds()
    task = asyncio.create_task(streaming.endpoint("/long_job").call(seconds=seconds))
    assert await await_state(streaming, seconds, "running") == "running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await await_state(streaming, seconds, "cancelled") == "cancelled"


async def test_leaving_a_stream_early_cancels_upstream(streaming: compose.Space) -> None:
    seconds = unique_seconds()
    async for update in streaming.endpoint("/long_job").stream(seconds=seconds):
        if update.kind == "progress":
            break
    assert await await_state(streaming, seconds, "cancelled") == "cancelled"


async def test_a_stream_kept_in_a_variable_and_closed_cancels_upstream(streaming: compose.Space) -> None:
    # As the README shows: a generator the caller still holds is not collected when the loop is left, so it is
    # closed explicitly; the close cancels the job.
    seconds = unique_seconds()
    async with contextlib.aclosing(streaming.endpoint("/long_job").stream(seconds=seconds)) as updates:
        async for update in updates:
            if update.kind == "progress":
                break
    assert await await_state(streaming, seconds, "cancelled") == "cancelled"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout() is Python 3.11+")
async def test_timeout_around_a_call_cancels_upstream(streaming: compose.Space) -> None:
    seconds = unique_seconds()
    scope: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def call_under_a_timeout() -> Any:
        async with asyncio.timeout(None) as timeout:  # armed below, once the job runs upstream
            scope.set_result(timeout)
            return await streaming.endpoint("/long_job").call(seconds)

    task = asyncio.create_task(call_under_a_timeout())
    timeout = await scope
    assert await await_state(streaming, seconds, "running") == "running"
    timeout.reschedule(asyncio.get_running_loop().time())  # the deadline passes now
    with pytest.raises(TimeoutError):
        await task
    assert await await_state(streaming, seconds, "cancelled") == "cancelled"


def test_job_cancel_cancels_upstream(streaming: compose.Space) -> None:
    seconds = unique_seconds()
    job = streaming.endpoint("/long_job").submit(seconds=seconds)
    assert wait_for_state(streaming, seconds, "running") == "running"
    assert not job.done()
    assert job.cancel() is True
    assert job.done()
    assert wait_for_state(streaming, seconds, "cancelled") == "cancelled"


def test_a_finished_job_is_recorded_finished(streaming: compose.Space) -> None:
    # The other side of the cancel tests: a job left alone finishes upstream.
    seconds = round(random.uniform(0.3, 0.4), 6)
    assert streaming.endpoint("/long_job").predict(seconds) == f"worked {seconds} s"
    assert job_state(streaming, seconds) == "finished"


# --- Job -----------------------------------------------------------------------------------------------------------


def test_job_result_outputs_status_and_callbacks(streaming: compose.Space) -> None:
    seen: list[Any] = []
    called = threading.Event()

    def callback(value: Any) -> None:
        seen.append(value)
        called.set()

    job = streaming.endpoint("/count_up").submit(n=3, delay=0.05, result_callbacks=[callback])
    assert job.result(timeout=10) == "1 2 3"
    assert job.done()
    assert job.outputs() == ["1", "1 2", "1 2 3"]
    assert called.wait(5) and seen == ["1 2 3"]
    status = job.status()
    assert status is not None and (status.kind, status.stage, status.final) == ("status", "finished", True)


def test_a_failed_or_cancelled_jobs_status_says_so(calculator: compose.Space, streaming: compose.Space) -> None:
    failed = calculator.endpoint("/calculate").submit(1, "divide", 0)
    with pytest.raises(compose.AppError):
        failed.result(timeout=10)
    assert failed.status() is not None and failed.status().stage == "failed"  # type: ignore[union-attr]
    running = streaming.endpoint("/count_up").submit(n=3, delay=1)
    running.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        running.result(timeout=10)
    assert running.status() is not None and running.status().stage == "cancelled"  # type: ignore[union-attr]


def test_job_result_timeout(streaming: compose.Space) -> None:
    # A session of its own: another test's cancel of a /count_up call in the shared one would stop this job too.
    with compose.identity(session="result-timeout"):
        job = streaming.endpoint("/count_up").submit(n=3, delay=1)
    with pytest.raises(concurrent.futures.TimeoutError):
        job.result(timeout=0.2)
    assert not job.done()
    job.cancel()


def test_job_result_raises_the_app_error(calculator: compose.Space) -> None:
    job = calculator.endpoint("/calculate").submit(1, "divide", 0)
    with pytest.raises(compose.AppError):
        job.result(timeout=10)
    assert job.done()


def test_job_status_reports_progress(streaming: compose.Space) -> None:
    job = streaming.endpoint("/long_job").submit(seconds=0.3)
    assert job.result(timeout=10) == "worked 0.3 s"
    assert job.outputs() == ["worked 0.3 s"]
    status = job.status()  # done: "finished", with the job's last progress report
    assert status is not None and status.stage == "finished"
    assert status.progress[0].desc == "Working" and status.progress[0].length == 3


def test_job_sync_iteration_yields_outputs_as_they_come(streaming: compose.Space) -> None:
    job = streaming.endpoint("/count_up").submit(n=4, delay=0.15)
    stamps: list[float] = []
    values: list[Any] = []
    for value in job:
        stamps.append(time.monotonic())
        values.append(value)
    assert values == ["1", "1 2", "1 2 3", "1 2 3 4"]
    assert stamps[-1] - stamps[0] >= 0.3


def test_job_iteration_raises_the_error(calculator: compose.Space) -> None:
    job = calculator.endpoint("/calculate").submit(1, "divide", 0)
    with pytest.raises(compose.AppError):
        list(job)


async def test_job_async_iteration(streaming: compose.Space) -> None:
    job = streaming.endpoint("/count_up").submit(n=3, delay=0.1)
    values = [v async for v in job]
    assert values == ["1", "1 2", "1 2 3"]
    assert job.done() and job.result(0) == "1 2 3"


# --- one Space from anywhere ---------------------------------------------------------------------------------------


def test_many_users_calls_open_no_thread_and_no_connection(urls: dict[str, str]) -> None:
    """Forty users' warm calls reuse the Space's pooled connections and compose's one I/O thread: no thread, no
    client, no socket per call or per user."""
    psutil = pytest.importorskip("psutil")
    space = compose.Space(urls["translator"])
    ep = space.endpoint("/translate")
    port = int(urls["translator"].rsplit(":", 1)[1].strip("/"))

    def local_ports() -> set[int]:
        return {c.laddr.port for c in psutil.Process().net_connections("tcp")
                if c.raddr and c.raddr.port == port and c.status == "ESTABLISHED"}

    with compose.identity(session="warm-up"):
        ep.predict("hello", "French")  # the pool's join and stream connections, compose's I/O thread
    threads, seen = threading.active_count(), local_ports()
    opened: set[int] = set()
    for i in range(40):
        with compose.identity(session=f"user-{i}", headers={"x-ip-token": f"t{i}"}):
            assert ep.predict("good night", "French") == "bonne nuit"
        opened |= local_ports() - seen  # a connection made for this call would still sit in the pool
    assert threading.active_count() == threads
    # Per-call connections would be about forty; at most a stray one or two appear on a loaded machine, when a
    # call starts while the previous stream is still handing its connection back.
    assert len(opened) <= 2, opened


def test_one_space_from_many_threads(translator: compose.Space, calculator: compose.Space) -> None:
    ep = calculator.endpoint("/calculate")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: ep.predict(i, "multiply", 3), range(40)))
    assert results == [i * 3 for i in range(40)]
    words = ["cat", "dog", "water", "friend"]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda w: translator.endpoint("/translate").predict(w, "German"), words)) == [
            "Katze", "Hund", "Wasser", "Freund"]


def test_one_space_from_two_event_loops(calculator: compose.Space) -> None:
    ep = calculator.endpoint("/calculate")

    async def work(base: int) -> list[Any]:
        return list(await asyncio.gather(*(ep.call(base + i, "add", 1) for i in range(10))))

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda base: asyncio.run(work(base)), [100, 200])
    assert first == [101 + i for i in range(10)]
    assert second == [201 + i for i in range(10)]
    # ... and then from plain sync code and from this thread's own loop again.
    assert ep.predict(1, "subtract", 1) == 0
    assert asyncio.run(ep.call(2, "multiply", 2)) == 4


async def test_sync_and_async_in_one_process(calculator: compose.Space) -> None:
    ep = calculator.endpoint("/calculate")
    # The blocking API used from a worker thread while this loop awaits the async one.
    blocking = asyncio.to_thread(ep.predict, 6, "multiply", 7)
    awaited = ep.call(6, "subtract", 7)
    assert list(await asyncio.gather(blocking, awaited)) == [42, -1]


async def test_stream_from_another_event_loop(streaming: compose.Space) -> None:
    async def collect() -> list[Any]:
        return [u.value async for u in streaming.endpoint("/count_up").stream(3, 0) if u.kind == "output"]

    values = await asyncio.to_thread(asyncio.run, collect())
    assert values[-1] == "1 2 3" and values[:3] == ["1", "1 2", "1 2 3"]


def test_result_callbacks_run_off_the_io_loop_and_one_that_raises_stops_nothing(streaming: compose.Space,
                                                                                 calculator: compose.Space) -> None:
    # They ran on compose's one I/O thread: a slow one stalled every call of the process, one calling predict()
    # failed, and one that raised left a thread iterating the job waiting for ever.
    ran = threading.Event()
    release = threading.Event()

    def slow_and_calling(value: Any) -> None:
        ran.set()
        assert calculator.endpoint("/calculate").predict(2, "multiply", 3) == 6  # a blocking call from a callback
        release.wait(20)

    def raises(value: Any) -> None:
        raise RuntimeError("a callback's own bug")

    after: list[Any] = []
    job = streaming.endpoint("/count_up").submit(n=2, delay=0, result_callbacks=[raises, slow_and_calling,
                                                                                 after.append])
    iterated = list(job)  # woken at the end, whatever the callbacks do
    assert iterated[-1] == "1 2"
    assert ran.wait(10)
    # While a callback still runs, other calls go on.
    assert calculator.endpoint("/calculate").predict(1, "add", 1) == 2
    release.set()
    deadline = time.monotonic() + 10
    while not after and time.monotonic() < deadline:
        threading.Event().wait(0.02)  # polling what the last callback recorded, with a deadline
    assert after == ["1 2"]  # the callback after the one that raised still ran, with the result


def test_a_running_jobs_status_keeps_its_stage_beside_its_progress(streaming: compose.Space) -> None:
    progress_job = streaming.endpoint("/long_job").submit(seconds=3)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = progress_job.status()
            if status is not None and status.kind == "progress":
                assert status.stage == "started", status  # it was None while progress came in
                break
            threading.Event().wait(0.02)  # polling what the job recorded, with a deadline
        else:
            pytest.fail("no progress reported")
    finally:
        progress_job.cancel()


def test_cancelling_one_of_a_users_two_running_calls_of_an_endpoint_tells_the_other(urls: dict[str, str],
                                                                                   streaming: compose.Space) -> None:
    # Gradio's /cancel stops every running task of a session's endpoint, not the one event: the other call was
    # killed upstream too and then waited out its idle deadline (300 s by default) for messages that never came.
    first, second = (round(random.uniform(60, 69), 6) for _ in range(2))
    space = compose.Space(urls["streaming"], idle_timeout=120)
    with compose.identity(session=f"siblings-{first}"):
        a = space.endpoint("/long_job").submit(seconds=first)
        b = space.endpoint("/long_job").submit(seconds=second)
    try:
        assert wait_for_state(streaming, first, "running", limit=15) == "running"
        assert wait_for_state(streaming, second, "running", limit=15) == "running"
        b.cancel()
        with pytest.raises(compose.UpstreamDisconnected, match="Gradio stopped this call too"):
            a.result(timeout=20)  # told at once, not after idle_timeout
    finally:
        space.close()
