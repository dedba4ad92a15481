"""The live side channel between Space tools and a trace: which Space call started, its progress, how it ended.

smolagents reports a tool call only when the model asks for it and when it returns, and inside a CodeAgent's code
not at all. A `SpaceTool` therefore reports its own call here (through a context variable, so it reaches the
agent's tool threads), and `stream_trace` turns these events into chat messages. It is also how a stop button
reaches the upstream jobs an agent has in flight.

Usage (internal): `with trace_scope(sink) as scope: agent.run(task)`; tools call `current_scope()`.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from ..updates import Update

__all__ = ["ToolEvent", "TraceScope", "current_scope", "trace_scope"]

_ids = itertools.count(1)


@dataclass(frozen=True)
class ToolEvent:
    """One thing that happened to one Space tool call."""

    kind: Literal["start", "update", "end"]
    call: int
    tool: str
    space: str
    arguments: dict[str, Any] = field(default_factory=dict)
    update: Update | None = None
    duration: float | None = None
    error: str | None = None
    result: Any = None


@dataclass
class TraceScope:
    """What one traced agent run shares with its tools: where events go, and what to cancel on stop."""

    sink: Callable[[ToolEvent], None]
    stopped: threading.Event = field(default_factory=threading.Event)
    # Set when the agent's run has returned (stream_trace's agent thread is done with the agent): a stopped run
    # finishes its model step first, and the agent must not start another run before that.
    ended: threading.Event = field(default_factory=threading.Event)
    _inflight: set[concurrent.futures.Future[Any]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_call(self) -> int:
        return next(_ids)

    def track(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            if self.stopped.is_set():
                future.cancel()
                return
            self._inflight.add(future)
        future.add_done_callback(self._untrack)

    def _untrack(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._inflight.discard(future)

    def stop(self) -> None:
        """Cancel every Space call in flight (and so their upstream jobs); later calls are refused."""
        with self._lock:
            self.stopped.set()
            inflight = list(self._inflight)
        for future in inflight:
            future.cancel()


_scope: ContextVar[TraceScope | None] = ContextVar("compose_trace_scope", default=None)


def current_scope() -> TraceScope | None:
    return _scope.get()


@contextmanager
def trace_scope(scope: TraceScope) -> Iterator[TraceScope]:
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)

