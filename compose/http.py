"""The seam between compose and an HTTP client: plain request/response values and the `Backend` protocol.

Everything above this seam (retries, redirects, typed errors, sessions) is compose's; everything below it moves
bytes. The default backend is `compose.aiohttp_backend.AiohttpBackend`; a test or a special network (a custom
proxy, a unix socket, an in-process app) can hand `Space(..., http_backend=...)` anything that implements `Backend`.
No type of the HTTP library ever crosses this seam.

Usage:
    async with backend.send(Request("GET", "https://x.hf.space/config", headers=(("accept", "*/*"),))) as reply:
        body = await reply.read(limit=2**20)
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

__all__ = [
    "Backend",
    "BadResponse",
    "ConnectFailed",
    "HTTPFailure",
    "Headers",
    "Interrupted",
    "Reply",
    "Request",
    "Response",
    "TimedOut",
    "TooLarge",
]


class Headers:
    """Response headers: case-insensitive, repeatable (several `set-cookie`), read-only.

    Usage: `headers.get("content-type")`, `headers.get_all("set-cookie")`.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterator[tuple[str, str]] | list[tuple[str, str]] | tuple[tuple[str, str], ...] = ()
                 ) -> None:
        self._items = tuple((k.lower(), v) for k, v in items)

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for k, v in self._items:
            if k == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self._items if k == name]

    get_list = get_all  # httpx's name for it

    def items(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


@dataclass(frozen=True)
class Request:
    """One request as the backend must send it: `headers` are final (built and checked by compose, no duplicates),
    the backend adds only framing (host, content-length or chunking)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | AsyncIterable[bytes] | None = None
    connect_timeout: float = 10.0
    read_timeout: float | None = 60.0  # each wait for bytes of the answer; None: a stream that may idle for minutes
    proxy: str | None = None  # an explicit proxy URL; None: direct


class Reply(Protocol):
    """An answer whose head has arrived; its body is read through `chunks()` or `read()`."""

    status: int
    new_connection: bool  # the request went out on a connection opened for it (not a pooled one)
    connection: object | None  # which connection carried it (an opaque, weakly referable token), if known

    @property
    def headers(self) -> Headers: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def read(self, limit: int) -> bytes:
        """The whole body; `TooLarge` as soon as it is known to be over `limit` bytes (never more is held)."""
        ...

    def ending(self) -> None:
        """The reader has what it wanted (a data stream's last message) and reads on only to the body's end: a
        request that finds no idle connection meanwhile may wait for this one instead of opening a new one."""


class Backend(Protocol):
    """What compose needs from an HTTP client. `send` raises only `HTTPFailure` subclasses."""

    def send(self, request: Request) -> AbstractAsyncContextManager[Reply]: ...

    async def preconnect(self, url: str) -> None:
        """Open a spare connection to `url`'s origin if the pool holds no idle one (a call about to need two at
        once, its join and its data stream, then finds both open). A no-op is a correct implementation."""

    async def aclose(self) -> None: ...


class HTTPFailure(Exception):
    """A request that did not get a usable answer; `sent` says whether it may have reached the server."""

    sent = True


class ConnectFailed(HTTPFailure):
    """No connection (refused, DNS, TLS verification, proxy): nothing was sent."""

    sent = False


class TimedOut(HTTPFailure):
    """Connecting, sending the body, or waiting for the answer took longer than its deadline."""

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class Interrupted(HTTPFailure):
    """The connection broke after the request went out (it may have reached the app)."""


class BadResponse(HTTPFailure):
    """The answer broke HTTP's rules or compose's limits (header count or size, body size, framing)."""


class TooLarge(BadResponse):
    """The answer's body is over the limit its reader set (`Reply.read(limit)`), known from its length or found
    while reading: the reading stops there, so the rest is never held."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True)
class Response:
    """A whole answer, read into memory (bounded). Usage: `r.status_code`, `r.json()`, `r.headers.get(...)`."""

    status_code: int
    headers: Headers
    content: bytes = b""
    new_connection: bool = False
    connection: object | None = None  # see Reply.connection

    def json(self) -> Any:
        """The body as JSON; a body that is not JSON raises ValueError."""
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers
