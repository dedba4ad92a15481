"""Memory bounds for the hostile-upstream tests: the peak of what this process allocated inside a block.

Usage: `with peak_mib() as peak: ...; assert peak[0] < 20` (a test server in the same process should build what it
sends before the block, or its own bytes count too).
"""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Iterator


@contextlib.contextmanager
def peak_mib() -> Iterator[list[float]]:
    """The peak of Python's memory allocated in this process (every thread) inside the block, in MiB, measured by
    tracemalloc from the block's start (RSS could miss a spike freed before the end, and ru_maxrss is a lifetime
    peak that an earlier test may already have set)."""
    found: list[float] = []
    tracemalloc.start()
    try:
        yield found
        found.append(tracemalloc.get_traced_memory()[1] / 2**20)
    finally:
        tracemalloc.stop()
