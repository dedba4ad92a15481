"""What a running call reports: outputs as they arrive, progress, queue status and log messages.

Usage: `async for u in ep.stream(n=3): print(u.kind, u.value if u.kind == "output" else u)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ProgressUnit", "Update", "UpdateKind"]

UpdateKind = Literal["output", "progress", "status", "log"]


@dataclass(frozen=True)
class ProgressUnit:
    """One level of a `gr.Progress` report (tqdm-like: index of length, or a fraction in `progress`)."""

    index: float | None = None
    length: float | None = None
    unit: str | None = None
    progress: float | None = None
    desc: str | None = None

    @property
    def fraction(self) -> float | None:
        """How far along, 0..1, whichever way the remote reported it."""
        if self.progress is not None:
            return float(self.progress)
        if self.index is not None and self.length:
            return float(self.index) / float(self.length)
        return None

    @property
    def steps(self) -> str:
        """"3/10 steps" when the remote counted (tqdm-like), else ""."""
        if self.index is None or not self.length:
            return ""
        return f"{self.index:g}/{self.length:g} {self.unit or ''}".rstrip()

    def describe(self) -> str:
        """One line for a person, the one wording of progress (trace, CLI): "Translating: 30% (3/10 steps)".

        Usage: `label = update.progress[-1].describe()`.
        """
        frac = self.fraction
        done = " ".join(part for part in (f"{frac:.0%}" if frac is not None else "",
                                          f"({self.steps})" if self.steps else "") if part)
        return f"{self.desc or 'Working'}: {done}" if done else self.desc or "Working"


@dataclass(frozen=True)
class Update:
    """One event of a call.

    - `kind == "output"`: `.value` is shaped like a result; `.final` is True on the last one.
    - `kind == "progress"`: `.progress` is a tuple of `ProgressUnit`.
    - `kind == "status"`: `.stage` ("queued", "started"; a done `Job`'s status: "finished", "failed",
      "cancelled"), `.rank`, `.queue_size`, `.eta` (seconds).
    - `kind == "log"`: `.level` ("info", "warning", ...), `.message`, `.title`.
    """

    kind: UpdateKind
    value: Any = None
    final: bool = False
    progress: tuple[ProgressUnit, ...] = ()
    stage: str | None = None
    rank: int | None = None
    queue_size: int | None = None
    eta: float | None = None
    level: str | None = None
    message: str | None = None
    title: str | None = None
