"""A threading lock that a forked child gets fresh.

compose's I/O thread takes a few locks while it works (the redaction list, each Space's cookie jars, the session
resets). `os.fork()` copies a lock in whatever state it is, but not the thread holding it: a child forked at that
moment (gunicorn --preload, multiprocessing "fork") would wait on its copy forever at its first call. Every `Lock`
made here is replaced by a new, unheld one in the child, before the child runs anything else.

Usage:
    _lock = forksafe.Lock()
    with _lock:
        ...
"""

from __future__ import annotations

import os
import threading
import weakref
from types import TracebackType

__all__ = ["Lock"]


class Lock:
    """`threading.Lock` for `with` blocks, new and unheld again in a forked child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        _made.add(self)

    def __enter__(self) -> Lock:
        self._lock.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def _renew(self) -> None:
        self._lock = threading.Lock()


_made: weakref.WeakSet[Lock] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for lock in list(_made):
        lock._renew()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
