"""The limits a shared app needs, per Space: how many calls run at once, how long one may take, how much one call
may upload, how large a schema may be, and a circuit breaker for a dead host.

`Limits` is the configuration (every field has a default; SECURITY.md lists them); `Gate` is its runtime side,
one per `Space`, used by every call:

- at most `max_in_flight` calls of one Space run at once; the others wait their turn here, so one busy outer app
  cannot flood a Space (and its owner's quota) with joins;
- a host that could not be reached is remembered for `breaker_cooldown` seconds: calls in that time fail at once
  with `SpaceUnavailable` saying so, instead of each spending its whole retry budget on a dead host;
- each call gets an `UploadBudget`: at most `max_uploads` files and `max_upload_total` bytes, and the same file
  referenced many times in one call is uploaded once.

Usage: `compose.Space(url, limits=compose.Limits(max_in_flight=8, max_duration=600))`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .errors import ConfigError, SpaceUnavailable, UnsafeInput

__all__ = ["Gate", "Limits", "UploadBudget", "check_schema_counts", "current_budget", "schema_json",
           "schema_too_large", "unreachable"]

MiB = 2**20


@dataclass(frozen=True)
class Limits:
    """Per-Space limits; every one has a default. See the module docstring and SECURITY.md."""

    max_in_flight: int = 32  # calls of this Space running at once (the rest wait their turn, in order)
    max_duration: float = 3600.0  # one call, start to end, however alive the upstream says it is (heartbeats)
    max_uploads: int = 32  # distinct files one call may upload
    max_upload_total: int = 512 * MiB  # bytes one call may upload, all files together
    breaker_cooldown: float = 10.0  # how long an unreachable host is remembered (0 turns the breaker off)
    max_schema_bytes: int = 20 * MiB  # /config or /info larger than this is refused
    max_endpoints: int = 2000  # named endpoints (and dependencies) a schema may declare
    download_timeout: float = 600.0  # one file download, start to end
    # Files one result may bring down (a Gallery holds many); past it the rest stay links on the Space's origin.
    max_downloads: int = 64
    # How often a call first asks the app whether it was redeployed (0: always). A schema the app confirmed within
    # this many seconds is trusted without asking, whether this process or an earlier one (through the disk cache)
    # confirmed it: a larger value saves a restarted process that round trip, and lets a redeploy go unnoticed as
    # long (compose.drift).
    schema_check_every: float = 2.0
    # compose's own download folder (not a `download_dir=` you gave), swept by compose.sweep. A result file is a
    # hand-off, not storage: Gradio copies what a handler returns into its own cache, and code that keeps a
    # `call()` result should move it. A day leaves any agent run or session time to read its files; 2 GiB is ten
    # files at the default 200 MiB per-file cap, and a small share of a Space's 50 GB of disk.
    max_download_disk: int = 2048 * MiB  # bytes in the folder; past it the oldest files go (not the just-fetched)
    download_max_age: float = 86400.0  # seconds after which a downloaded file is removed

    def __post_init__(self) -> None:
        for name in ("max_in_flight", "max_uploads", "max_upload_total", "max_schema_bytes", "max_endpoints",
                     "max_download_disk", "max_downloads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Limits.{name} must be at least 1, not {getattr(self, name)!r}")
        for name in ("max_duration", "download_timeout", "download_max_age"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"Limits.{name} must be positive, not {getattr(self, name)!r}")
        if self.schema_check_every < 0:
            raise ConfigError(f"Limits.schema_check_every may not be negative, not {self.schema_check_every!r}")
        if self.breaker_cooldown < 0:
            raise ConfigError(f"Limits.breaker_cooldown may not be negative, not {self.breaker_cooldown!r}")


@dataclass
class UploadBudget:
    """What one call has uploaded so far: the count and bytes against its limits, and each file's answer, so the
    same file (same real path, size and modification time) referenced again goes up only once."""

    limits: Limits
    count: int = 0
    total: int = 0
    sent: dict[tuple[str, int, int], dict[str, Any]] = field(default_factory=dict)

    @staticmethod
    def key(path: Path) -> tuple[str, int, int]:
        st = path.stat()
        return (os.path.realpath(path), st.st_size, st.st_mtime_ns)

    def already(self, path: Path) -> dict[str, Any] | None:
        """The FileData this call already got for `path`, if it uploaded it before."""
        found = self.sent.get(self.key(path))
        return dict(found) if found is not None else None

    def charge(self, path: Path) -> None:
        """Count one more upload of `path`, or refuse it (`UnsafeInput`) if it would exceed the budget."""
        size = path.stat().st_size
        if self.count + 1 > self.limits.max_uploads:
            raise UnsafeInput(f"refused {path.name!r}: one call may upload at most {self.limits.max_uploads} files "
                              "(Limits.max_uploads)")
        if self.total + size > self.limits.max_upload_total:
            raise UnsafeInput(f"refused {path.name!r}: one call may upload at most {self.limits.max_upload_total} "
                              f"bytes in all (Limits.max_upload_total); this file would make {self.total + size}")
        self.count += 1
        self.total += size

    def record(self, path: Path, data: dict[str, Any]) -> None:
        self.sent[self.key(path)] = dict(data)


_budget: contextvars.ContextVar[UploadBudget | None] = contextvars.ContextVar("compose_upload_budget", default=None)


def current_budget(limits: Limits) -> UploadBudget:
    """The running call's upload budget (a fresh one outside `Gate.call`)."""
    budget = _budget.get()
    return budget if budget is not None else UploadBudget(limits)


def unreachable(error: BaseException) -> bool:
    """Did this failure come from not reaching the host at all (refused, unresolvable, connect timeout)?"""
    seen: BaseException | None = error
    while seen is not None:
        if type(seen).__name__ in ("ConnectError", "ConnectTimeout", "ClientConnectorError",
                                   "ServerTimeoutError") or isinstance(seen, (ConnectionRefusedError,
                                                                              ConnectionResetError)):
            return True
        if getattr(seen, "sent", None) is False:  # compose.http's failures say whether anything left
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# Replica clocks kept per Space (compose.drift): one per replica, or per session until its replica is known.
_MAX_REPLICA_CLOCKS = 4096


class Gate:
    """The runtime side of a Space's `Limits`: its in-flight slots and its circuit breaker (see the module)."""

    def __init__(self, limits: Limits, space: str) -> None:
        self.limits, self.space = limits, space
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._down_until = 0.0
        self._down_since = 0.0
        self._why = ""
        self.in_flight = 0  # calls holding a slot now (for tests and the soak)
        # compose.drift: when the app was last asked whether it was redeployed (any replica: the API is one), and,
        # per replica that stateful sessions are pinned to, when that replica was (`replica_checked`); the checks
        # under way, by the clock they go by ("" for the Space-wide one).
        self.checked_at = -float("inf")
        self._replicas: dict[str, float] = {}
        self.checking: dict[str, asyncio.Future[None]] = {}
        self.known_app_ids: set[str] = set()  # app ids whose API matched the schema (replicas, plain restarts)

    def confirmed_at(self, wall: float) -> None:
        """The app confirmed the schema at wall-clock time `wall` (an earlier process did, as the disk cache says):
        the redeploy check counts from then (`Limits.schema_check_every`). A time in the future is not trusted (a
        clock set back since, a cache copied from elsewhere): the next call checks.

        Usage: `gate.confirmed_at(entry.confirmed_at)`.
        """
        age = time.time() - wall
        if age >= 0:
            self.checked_at = max(self.checked_at, time.monotonic() - age)

    def last_checked(self, clock: str) -> float:
        """When the redeploy check last asked through `clock` ("" for the Space-wide clock, else a replica's, see
        `compose.drift`): `time.monotonic()` seconds, -inf if never."""
        return self.checked_at if not clock else self._replicas.get(clock, -float("inf"))

    def replica_checked(self, clock: str, when: float) -> None:
        """A check asked the replica `clock` stands for at `when` (monotonic seconds). Bounded: a Space with more
        replica clocks than this forgets them all, which costs each a check."""
        if len(self._replicas) >= _MAX_REPLICA_CLOCKS:
            self._replicas.clear()
        self._replicas[clock] = when

    def check(self, api_name: str | None = None) -> None:
        """Fail at once while the breaker remembers the host as unreachable."""
        now = time.monotonic()
        if now < self._down_until:
            raise SpaceUnavailable(
                f"not tried: the host was unreachable {now - self._down_since:.1f} s ago ({self._why}); the "
                f"circuit breaker fails calls fast for {self._down_until - now:.1f} s more "
                "(Limits.breaker_cooldown)", space=self.space, api_name=api_name)

    def failed(self, error: SpaceUnavailable) -> None:
        """Note a failure: one that never reached the host trips the breaker."""
        if unreachable(error):
            self.trip(error)

    def trip(self, error: BaseException) -> None:
        if self.limits.breaker_cooldown > 0:
            self._down_since = time.monotonic()
            self._down_until = self._down_since + self.limits.breaker_cooldown
            self._why = str(getattr(error, "message", error))[:200]

    @contextlib.asynccontextmanager
    async def call(self, api_name: str | None = None) -> AsyncIterator[UploadBudget]:
        """One call: breaker check, an in-flight slot (waiting for one if all are taken), an upload budget."""
        self.check(api_name)
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            # Made on compose's I/O loop, on first use; again in a forked child, whose loop is a new one (the
            # parent's slots and pending check belong to a loop that does not run there).
            self._slots, self.checking, self._loop = asyncio.Semaphore(self.limits.max_in_flight), {}, loop
        async with self._slots:
            self.check(api_name)  # the host may have been found dead while this call waited
            budget = UploadBudget(self.limits)
            token = _budget.set(budget)
            self.in_flight += 1
            try:
                yield budget
            except SpaceUnavailable as e:
                self.failed(e)
                raise
            else:
                self._down_until = 0.0
            finally:
                self.in_flight -= 1
                _budget.reset(token)


def schema_too_large(space: str, what: str, size: int | None, limits: Limits) -> ConfigError:
    """The error for a schema document over `limits.max_schema_bytes` (`size` None: cut off while reading)."""
    found = f"is {size} bytes" if size is not None else "is longer than that (reading stopped there)"
    return ConfigError(f"{space}: {what} {found}, over the limit of {limits.max_schema_bytes} bytes "
                       "(Limits.max_schema_bytes); not used")


def schema_json(space: str, what: str, body: bytes, limits: Limits) -> Any:
    """Parse a schema document (/config, /info) only if it is within `limits.max_schema_bytes`; else `ConfigError`.
    (Fetching reads no more than that either: `Space` passes the limit to the transport as the body cap.)

    Raises ValueError for a body that is not JSON, as `json.loads` does.
    """
    if len(body) > limits.max_schema_bytes:
        raise schema_too_large(space, what, len(body), limits)
    return orjson.loads(body)


def check_schema_counts(space: str, config: dict[str, Any], info: dict[str, Any], limits: Limits, *,
                        source: str = "its schema declares") -> None:
    """Refuse a schema declaring more endpoints than `limits.max_endpoints` (or 10× that many components); also
    what one run of a `@gr.render` function made (`source` says which in the error)."""
    counts = {"named endpoints": len(info.get("named_endpoints") or {}),
              "dependencies": len(config.get("dependencies") or []),
              "components": len(config.get("components") or []) // 10}
    for what, n in counts.items():
        if n > limits.max_endpoints:
            shown = n * 10 if what == "components" else n
            cap = limits.max_endpoints * (10 if what == "components" else 1)
            raise ConfigError(f"{space}: {source} {shown} {what}, over the limit of {cap} "
                              "(Limits.max_endpoints); not used")
