"""compose's blocking hand-off to its I/O loop (`compose.loop.run_sync`): results and errors come back to the caller's
thread, and a wait cut short (out of time, Ctrl-C) cancels the work on the loop instead of leaving it running.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from compose.loop import io_loop, run_sync


async def _on_io_loop() -> bool:
    return asyncio.get_running_loop() is io_loop()


def test_the_result_and_the_error_come_back_to_the_calling_thread() -> None:
    assert run_sync(_on_io_loop()) is True

    async def fails() -> None:
        raise ValueError("from the loop")

    with pytest.raises(ValueError, match="from the loop"):
        run_sync(fails())


async def _long(started: threading.Event, cancelled: threading.Event) -> None:
    """A minute of work on the loop, saying when it started and whether it was cancelled."""
    started.set()
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        cancelled.set()
        raise


def test_a_wait_out_of_time_cancels_the_work() -> None:
    started, cancelled = threading.Event(), threading.Event()
    job: Coroutine[Any, Any, None] = _long(started, cancelled)
    with pytest.raises(TimeoutError):
        run_sync(job, timeout=0.2)
    assert cancelled.wait(10), "the coroutine ran on after its caller gave up"


def test_ctrl_c_during_a_blocking_call_cancels_the_work() -> None:
    # A terminal's Ctrl-C is a SIGINT to the process, which the kernel may hand to any of its threads (compose's
    # I/O thread, a server's); CPython then runs the handler in the main thread, but a main thread asleep in a lock
    # wait is not woken. `interrupt_main` is exactly that case: the handler is due, the waiting thread is not
    # interrupted. A wait that never looked again hung until the call ended (here, a minute).
    # In a process of its own, with Python's own Ctrl-C handler: a suite started in the background (`make test &`)
    # inherits SIGINT ignored, as a shell's background jobs do, and an ignored Ctrl-C is meant to do nothing.
    script = textwrap.dedent("""
        import _thread, signal, threading
        from compose.loop import run_sync
        from test_loop import _long

        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal

        started, cancelled = threading.Event(), threading.Event()

        def interrupt():
            started.wait(10)  # the job is running on the loop: now the user presses Ctrl-C
            _thread.interrupt_main(signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        try:
            run_sync(_long(started, cancelled))
        except KeyboardInterrupt:
            print("interrupted; cancelled:", cancelled.wait(10))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=25,
                          cwd=Path(__file__).parent)  # where `_long` is imported from
    assert done.stdout.strip() == "interrupted; cancelled: True", (done.stdout, done.stderr)
