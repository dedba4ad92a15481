"""Checks on what a Space sends on its data stream, so a malformed message fails its own call, typed.

A remote app (or whatever answers in its place) may send anything: `progress_data` of strings, an `output` that is
not an object, a streamed diff pointing past the end of the value. Unchecked, these raised bare AttributeError or
IndexError deep in compose. Here each is a `Malformed` problem, which the call turns into `UpstreamDisconnected`
for that call only (other calls, other users, never see it).

Usage: `problem = malformed(msg); latest = apply_diffs(latest, chunk)`.
"""

from __future__ import annotations

from typing import Any

from gradio_client import utils as gc_utils

__all__ = ["HEARTBEAT", "Malformed", "apply_diffs", "malformed"]

# Put on a waiting call's queue when the session's stream carries a heartbeat: the upstream is alive.
HEARTBEAT: dict[str, Any] = {"msg": "__heartbeat__"}

_OUTPUT_KINDS = ("process_generating", "process_streaming", "process_completed")


class Malformed(Exception):
    """A message from the Space that does not have the shape Gradio's protocol gives it."""


def malformed(msg: Any) -> str | None:
    """What is wrong with one data-stream message, or None if its shape is sound."""
    if not isinstance(msg, dict):
        return f"a {type(msg).__name__} instead of an object"
    kind = msg.get("msg")
    if kind == "progress":
        units = msg.get("progress_data")
        if units is not None and (not isinstance(units, list) or not all(isinstance(u, dict) for u in units)):
            return "progress_data is not a list of objects"
    elif kind in _OUTPUT_KINDS:
        output = msg.get("output")
        if output is not None and not isinstance(output, dict):
            return f"its output is a {type(output).__name__}, not an object"
        data = (output or {}).get("data")
        if data is not None and not isinstance(data, list):
            return f"its output data is a {type(data).__name__}, not a list"
    return None


def apply_diffs(latest: list[Any], chunk: list[Any]) -> list[Any]:
    """Apply one streamed update (a diff per output, as Gradio streams after the first value) to `latest`.

    Raises `Malformed` for a diff that does not fit the value (an index out of range, a path into a string).
    """
    try:
        return [gc_utils.apply_diff(latest[i] if i < len(latest) else None, d) for i, d in enumerate(chunk)]
    except (IndexError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise Malformed(f"a streamed diff does not fit the value so far ({type(e).__name__}: {e})") from None
