"""One process-wide background event loop that runs all of compose's network I/O.

Every Space keeps its connection pool on this loop, so one Space can be used from sync code, from any
thread and from any other event loop: callers hand coroutines over and wait (blocking or awaiting) for the result.
It is one daemon thread for the whole process, however many Spaces and users there are, running uvloop where
it is installed (everywhere but Windows) and the stdlib loop otherwise. A forked child starts its own loop on
first use; whatever belonged to the parent's loop (connection pools, data streams) is rebuilt there, never shared.

When the process exits, what still runs on the loop is wound down (`EXIT_GRACE`): a job nobody waited for is
cancelled upstream (it would otherwise run on for no one, on the visitor's quota), and data streams end cleanly
instead of being destroyed pending.

Usage: `result = run_sync(coro)`, or `await run_async(coro)` from another loop.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import sys
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["EXIT_GRACE", "deadline", "io_loop", "run_async", "run_sync", "spawn"]

EXIT_GRACE = 2.0  # seconds the process's exit waits at most for compose's last requests (a running job's cancel)
# Seconds between a blocking caller's looks at its signals. CPython runs a Ctrl-C's handler in the main thread, but
# wakes a lock wait there only if the SIGINT reached that very thread; the kernel may hand it to any thread of the
# process (compose's I/O thread, a server's), and the Ctrl-C was then seen only when the call ended. Waiting in
# slices bounds that.
_SIGNAL_POLL = 0.5

T = TypeVar("T")

if sys.version_info >= (3, 11):

    def deadline(seconds: float | None) -> contextlib.AbstractAsyncContextManager[Any]:
        """`async with deadline(s):` raises TimeoutError after `s` seconds (None: never).

        Unlike `asyncio.wait_for` on Python 3.11, it starts no extra task, which matters on a per-message path.
        """
        return asyncio.timeout(seconds)
else:  # pragma: no cover - Python 3.10: anyio (under httpx) has the same scoped deadline
    import anyio

    def deadline(seconds: float | None) -> contextlib.AbstractAsyncContextManager[Any]:
        return anyio.fail_after(seconds) if seconds is not None else contextlib.nullcontext()  # type: ignore[return-value]

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pid = os.getpid()
# Loops of a parent process, kept referenced in a forked child: their thread does not exist here, and closing them
# (or letting them be collected) would touch file descriptors the parent still uses.
_orphans: list[asyncio.AbstractEventLoop] = []


def _after_fork_in_child() -> None:
    """A forked child (gunicorn --preload, multiprocessing "fork") has no I/O thread: start over on first use.

    The lock may have been held by a parent thread at the moment of the fork, so it is replaced, not released.
    """
    global _lock, _loop, _pid
    _lock = threading.Lock()
    if _loop is not None:
        _orphans.append(_loop)
    _loop, _pid = None, os.getpid()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def io_loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use (and again in a forked child)."""
    global _loop
    if _pid != os.getpid():  # forked by a path that skipped the fork hooks (os.fork from C): same remedy
        _after_fork_in_child()
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = _new_loop()
            ready = threading.Event()

            def main() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=main, name="compose-io", daemon=True).start()
            ready.wait()
            _loop = loop
            # Registered now, after compose's modules registered theirs at import: atexit runs last-in first-out,
            # so this runs before the connection pools close (aiohttp_backend), and the cancels can still go out.
            atexit.register(_wind_down_at_exit, loop)
        return _loop


def _wind_down_at_exit(loop: asyncio.AbstractEventLoop) -> None:
    """At exit: cancel the tasks still running on `loop` and give what that sets off up to `EXIT_GRACE` seconds.

    The daemon thread would otherwise be frozen mid-call: a submitted job nobody waited for ran on upstream (its
    cancel was never sent), and a data stream's task was destroyed pending ("Task was destroyed but it is
    pending!" on stderr). The loop itself keeps running: a later atexit hook may still call a Space.
    """
    if loop is not _loop or _pid != os.getpid() or not loop.is_running():
        return  # a forked child's copy of its parent's loop (no thread runs it here), or one stopped already
    with contextlib.suppress(Exception):  # an exit must not fail over what it tidies
        asyncio.run_coroutine_threadsafe(_wind_down(EXIT_GRACE), loop).result(EXIT_GRACE + 1.0)


async def _wind_down(grace: float) -> None:
    """Cancel every other task on this loop, then wait up to `grace` seconds for them and for what their
    cancellation started (a cancelled call sends its cancel upstream from a task of its own); whatever is left
    then is cancelled without waiting."""
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    ends = loop.time() + grace
    running = {task for task in asyncio.all_tasks() if task is not me}
    for task in running:
        task.cancel()
    while running and (left := ends - loop.time()) > 0:
        await asyncio.wait(running, timeout=left)
        running = {task for task in asyncio.all_tasks() if task is not me and not task.done()}
    for task in running:
        task.cancel()
    for task in asyncio.all_tasks():
        if task is not me:
            # Whatever they ended with, nobody will ask: retrieved, so asyncio does not log it at collection.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it is, except on Windows): the loop's own bookkeeping was a third of a call's CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _in_io_loop() -> bool:
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False


def spawn(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start `coro` on the background loop; the returned future cancels the task when cancelled."""
    return asyncio.run_coroutine_threadsafe(coro, io_loop())


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run `coro` on the background loop and block until it is done (cancelling it if interrupted).

    The waiting thread sleeps on a bare lock that the task's completion releases: what a blocking call costs in
    hand-off is two thread wake-ups, not the condition variables and callback chain of a concurrent Future
    (`run_coroutine_threadsafe`): an empty coroutine took 85 µs of CPU that way here, 52 this way.
    """
    if _in_io_loop():
        coro.close()
        raise RuntimeError("compose's blocking API was called from inside its own I/O loop; use the async API")
    loop = io_loop()
    done = threading.Lock()
    done.acquire()
    tasks: list[asyncio.Task[T]] = []

    def finished(task: asyncio.Task[T]) -> None:
        done.release()

    def start() -> None:
        task = loop.create_task(coro)
        tasks.append(task)
        task.add_done_callback(finished)

    loop.call_soon_threadsafe(start)
    try:
        ends = float("inf") if timeout is None else time.monotonic() + timeout
        while not done.acquire(timeout=max(0.0, min(_SIGNAL_POLL, ends - time.monotonic()))):
            if time.monotonic() >= ends:
                raise TimeoutError(f"the call did not finish within {timeout:g} s")
    except BaseException:
        # Interrupted (Ctrl-C) or out of time: cancel the task. `start` ran first (the loop runs callbacks in order).
        def cancel() -> None:
            task = tasks[0]
            task.cancel()
            # Whatever it ends with, nobody will ask: retrieve it so asyncio does not log it as never retrieved.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

        loop.call_soon_threadsafe(cancel)
        raise
    return tasks[0].result()


async def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` run on the background loop; cancelling the awaiting task cancels it there too."""
    if _in_io_loop():
        return await coro
    return await asyncio.wrap_future(spawn(coro))
