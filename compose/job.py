"""A call running in the background: `ep.submit(...)` returns a Job.

Usage:
    job = ep.submit(n=3)
    for value in job:            # or `async for value in job`
        print(value)
    print(job.result(timeout=30), job.status())
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

from . import redact
from .loop import spawn
from .updates import Update

log = redact.logger("compose.job")  # never a token in a log line

__all__ = ["Job"]


def _run_callbacks(callbacks: list[Callable[[Any], object]], result: Any) -> None:
    for callback in callbacks:
        try:
            callback(result)
        except Exception:  # one failing callback neither stops the others nor goes unseen
            log.exception("a result callback of a compose Job raised")


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Job:
    """A handle on one running upstream job: its outputs so far, its latest status, its result."""

    def __init__(self, result_callbacks: list[Callable[[Any], object]] | None = None) -> None:
        self._future: concurrent.futures.Future[Any] | None = None
        self._outputs: list[Any] = []
        self._streamed = False
        self._status: Update | None = None
        self._changed = threading.Condition()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._callbacks = list(result_callbacks or [])

    @classmethod
    def start(cls, run: Callable[[Callable[[Update], None]], Coroutine[Any, Any, Any]],
              result_callbacks: list[Callable[[Any], object]] | None = None) -> Job:
        """Start `run(emit)` on compose's I/O loop and return its Job at once; what `run` emits feeds the Job.

        Usage: `job = Job.start(lambda emit: ep.run_as(ident, args, kwargs, emit))` (what `ep.submit()` does).
        """
        job = cls(result_callbacks)
        job._attach(spawn(run(job._on_update)))
        return job

    # --- fed from compose's I/O loop ----------------------------------------------------------------------------

    def _attach(self, future: concurrent.futures.Future[Any]) -> None:
        self._future = future
        future.add_done_callback(self._finished)

    def _on_update(self, update: Update) -> None:
        with self._changed:
            if update.kind == "output":
                # A generator's final output repeats its last streamed one; keep each value once.
                if not (update.final and self._streamed):
                    self._outputs.append(update.value)
                self._streamed = self._streamed or not update.final
            else:
                before = self._status
                if update.kind != "status" and before is not None and update.stage is None:
                    # Progress or a log while it runs: `.stage` still says where the job is (and the queue's eta
                    # stays), as gradio_client's status keeps its code beside the progress.
                    update = dataclasses.replace(update, stage=before.stage, eta=update.eta or before.eta,
                                                 progress=update.progress or before.progress)
                self._status = update
        self._notify()

    def _finished(self, future: concurrent.futures.Future[Any]) -> None:
        stage = "cancelled" if future.cancelled() else "failed" if future.exception() is not None else "finished"
        with self._changed:
            # The end, as gradio_client's job says FINISHED; the last progress report stays readable in it.
            last = self._status.progress if self._status is not None else ()
            self._status = Update("status", stage=stage, final=True, progress=last)
        self._notify()  # first: a callback that raises or takes long must not keep waiters waiting
        if stage == "finished" and self._callbacks:
            # In a thread of their own, as gradio_client runs them: on compose's I/O loop a slow one stalled every
            # call in the process, and one calling predict() could not.
            result = future.result()
            threading.Thread(target=_run_callbacks, args=(self._callbacks, result), name="compose-job-callbacks",
                             daemon=True).start()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_wake, fut)

    # --- public -------------------------------------------------------------------------------------------------

    def result(self, timeout: float | None = None) -> Any:
        """Block until the job is done and return its result (raising its error, if any)."""
        assert self._future is not None
        return self._future.result(timeout)

    def outputs(self) -> list[Any]:
        """Every output received so far, in order (for a generator: each yielded value)."""
        with self._changed:
            return list(self._outputs)

    def status(self) -> Update | None:
        """The latest status, progress or log update, or None before the first; once the job is done, a status
        update whose `.stage` is "finished", "failed" or "cancelled" (`.progress`: the last progress report)."""
        return self._status

    def done(self) -> bool:
        """True once the job has finished, failed or been cancelled."""
        return self._future is not None and self._future.done()

    def cancel(self) -> bool:
        """Cancel the job here and upstream. True if it was still running."""
        return self._future is not None and self._future.cancel()

    def __iter__(self) -> Iterator[Any]:
        """Yield outputs as they arrive, then raise the job's error if it failed."""
        seen = 0
        while True:
            with self._changed:
                while seen >= len(self._outputs) and not self.done():
                    self._changed.wait()
                fresh, seen = self._outputs[seen:], len(self._outputs)
                finished = self.done()
            yield from fresh
            if finished and seen >= len(self.outputs()):
                self._raise_if_failed()
                return

    async def __aiter__(self) -> AsyncIterator[Any]:
        """Yield outputs as they arrive, without blocking the event loop."""
        loop = asyncio.get_running_loop()
        seen = 0
        while True:
            with self._changed:
                fresh, seen = self._outputs[seen:], len(self._outputs)
                finished = self.done()
                waiter: asyncio.Future[None] | None = None
                if not fresh and not finished:
                    waiter = loop.create_future()
                    self._waiters.append((loop, waiter))
            for value in fresh:
                yield value
            if waiter is not None:
                await waiter
            elif finished and not fresh:
                self._raise_if_failed()
                return

    def _raise_if_failed(self) -> None:
        assert self._future is not None
        if self._future.cancelled():
            return
        error = self._future.exception()
        if error is not None:
            raise error
