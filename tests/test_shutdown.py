"""What ending does to calls in flight: `Space.close()` and a script's exit cancel a running job upstream, instead of
leaving it to run on for no one (on a ZeroGPU Space, on the visitor's quota), and nothing is printed on the way out.

The exit tests run each script in its own Python process against the real apps on 127.0.0.1; it exits the
ordinary way.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap

import pytest
from jobs import wait_for_state

import compose
from compose.errors import UpstreamDisconnected

EXIT_DEADLINE = 25.0  # a generous bound on a script's exit: a hang would last forever
NOISE = ("Task was destroyed", "never retrieved", "Traceback", "Unclosed")


def _script(body: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(body)]


def test_a_job_still_running_when_the_script_exits_is_cancelled_upstream(urls: dict[str, str],
                                                                          streaming: compose.Space) -> None:
    seconds = round(random.uniform(30, 39), 6)  # a long_job duration no other test uses (see tests/jobs.py)
    child = subprocess.Popen(_script(f"""
        import sys
        import compose
        job = compose.Space({urls["streaming"]!r}).endpoint("/long_job").submit(seconds={seconds!r})
        print("submitted", flush=True)
        sys.stdin.read()  # the test closes stdin once the job runs upstream: then the script ends, job unfinished
    """), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_state(streaming, seconds, "running", limit=15) == "running"
        _, err = child.communicate("", timeout=EXIT_DEADLINE)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 0, err
    assert not [line for line in err.splitlines() if any(n in line for n in NOISE)], err
    assert wait_for_state(streaming, seconds, "cancelled", limit=15) == "cancelled"


def test_a_script_that_made_calls_exits_without_a_word_on_stderr(urls: dict[str, str]) -> None:
    # The call returns at the job's completion; the session's data stream ends just after. A script exiting in
    # between used to print "Task was destroyed but it is pending!" and an aiohttp error, two runs in three.
    script = _script(f"""
        import compose
        ep = compose.Space({urls["translator"]!r}).endpoint("/translate")
        print(*(ep.predict("hello", "French") for _ in range(3)))
    """)
    for _ in range(3):
        done = subprocess.run(script, capture_output=True, text=True, timeout=EXIT_DEADLINE)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["bonjour"] * 3, done.stdout
        assert not [line for line in done.stderr.splitlines() if any(n in line for n in NOISE)], done.stderr


def test_closing_the_space_cancels_its_running_job_upstream_and_the_caller_is_told(urls: dict[str, str],
                                                                                    streaming: compose.Space) -> None:
    seconds = round(random.uniform(40, 49), 6)
    space = compose.Space(urls["streaming"])
    job = space.endpoint("/long_job").submit(seconds=seconds)
    assert wait_for_state(streaming, seconds, "running", limit=15) == "running"
    space.close()
    with pytest.raises(UpstreamDisconnected, match="closed while this call ran"):
        job.result(timeout=EXIT_DEADLINE)
    assert wait_for_state(streaming, seconds, "cancelled", limit=15) == "cancelled"


def test_calls_waiting_their_turn_when_the_space_closes_are_never_sent(urls: dict[str, str],
                                                                       streaming: compose.Space) -> None:
    # One call runs, two wait for an in-flight slot; close(). One waiter got aiohttp's bare RuntimeError, the
    # other was sent after the close and ran upstream to its end for no one.
    running, waiting = (round(random.uniform(50, 59), 6) for _ in range(2))
    space = compose.Space(urls["streaming"], limits=compose.Limits(max_in_flight=1))
    first = space.endpoint("/long_job").submit(seconds=running)
    assert wait_for_state(streaming, running, "running", limit=15) == "running"
    waiters = [space.endpoint("/long_job").submit(seconds=waiting) for _ in range(2)]
    space.close()
    for job in waiters:
        with pytest.raises(UpstreamDisconnected, match="waited its turn"):
            job.result(timeout=EXIT_DEADLINE)
    with pytest.raises(UpstreamDisconnected):
        first.result(timeout=EXIT_DEADLINE)
    assert wait_for_state(streaming, waiting, "running", limit=2) is None  # never started upstream


def test_whole_app_events_waiting_their_turn_when_the_space_closes_are_never_sent(urls: dict[str, str],
                                                                                  streaming: compose.Space) -> None:
    # The seam space.render() wires every remote event to takes the same turn as a call: one waiting for an
    # in-flight slot when the Space closes is not sent afterwards to run upstream for no one.
    from compose.identity import Identity
    from compose.loop import spawn

    running, waiting = (round(random.uniform(60, 69), 6) for _ in range(2))
    space = compose.Space(urls["streaming"], limits=compose.Limits(max_in_flight=1))
    first = space.endpoint("/long_job").submit(seconds=running)
    assert wait_for_state(streaming, running, "running", limit=15) == "running"
    schema = space.schema.endpoints["/long_job"]
    event = spawn(space.run_payloads(schema, [waiting], Identity(session="render-user"), lambda update: None))
    space.close()
    with pytest.raises(UpstreamDisconnected, match="waited its turn"):
        event.result(timeout=EXIT_DEADLINE)
    with pytest.raises(UpstreamDisconnected):
        first.result(timeout=EXIT_DEADLINE)
    assert wait_for_state(streaming, waiting, "running", limit=2) is None  # never started upstream
