"""The upstream's job log (streaming /job_log): what became of one long job, found by its unique duration.

Tests wait on it with real calls (one per round, bounded by a deadline), never with sleeps.

Usage: `assert wait_for_state(streaming, 7.25, "cancelled", limit=15) == "cancelled"`.
"""

from __future__ import annotations

import time

import compose


def job_state(streaming: compose.Space, seconds: float) -> str | None:
    """The upstream state ("running", "finished", "cancelled") of the long job started with `seconds`, if any."""
    mine = [j for j in streaming.endpoint("/job_log").predict() if j["seconds"] == seconds]
    assert len(mine) <= 1, f"two jobs of {seconds} s: pick a duration no other test uses"
    return str(mine[0]["state"]) if mine else None


def wait_for_state(streaming: compose.Space, seconds: float, wanted: str | None, limit: float = 10.0) -> str | None:
    """Poll the job log until the job reaches `wanted` or `limit` seconds pass; the last state seen."""
    deadline = time.monotonic() + limit
    state = job_state(streaming, seconds)
    while state != wanted and time.monotonic() < deadline:
        state = job_state(streaming, seconds)
    return state
