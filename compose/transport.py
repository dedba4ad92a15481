"""The HTTP side of one Space: bounded retries, Retry-After, same-origin redirects, typed errors.

Bytes move through a `compose.http.Backend` (aiohttp by default); this layer decides what may be tried again and
turns every failure into a `compose.SpaceError`. One Transport serves every end user of its Space; what differs
per user (headers, session) is passed into each request, never stored. Runs on compose's I/O loop.

Usage: `r = await transport.send("POST", "/gradio_api/queue/join", headers=h, json=body, retry=True)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import os
import random
import time
import uuid
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from typing import Any, BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

import orjson

from . import redact
from .errors import RateLimited, SpaceUnavailable, UpstreamDisconnected, UpstreamTimeout
from .http import Backend, BadResponse, HTTPFailure, Reply, Request, Response, TimedOut

__all__ = ["Transport", "Upload"]

log = redact.logger("compose.transport")

_RETRY_STATUS = {429, 500, 502, 503, 504}
# What a proxy or an app answers while the app starts (a Space waking, a self-hosted app booting behind its
# balancer): with `patient`, waited out up to max_wait rather than for a few tries.
_STARTING_STATUS = {502, 503, 504}
# Requests that start nothing upstream, so repeating one whose answer was lost is harmless.
_SAFE_METHODS = {"GET", "HEAD"}
_CHUNK = 256 * 1024

Headers = Mapping[str, str]
Upload = tuple[str, str, BinaryIO]  # (form field, file name, an open file)


def _retry_after(response: Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError):
        # Neither seconds nor an HTTP date ("Retry-After: soon"): use compose's own backoff rather than crash.
        return None
    return max(0.0, parsed.timestamp() - time.time())


class Transport:
    """Requests to one Gradio app, shared by all users of the Space. See the module docstring."""

    def __init__(self, root: str, *, space: str, backend: Backend | None = None, retries: int = 3,
                 max_wait: float = 30.0, max_body: int = 64 * 2**20) -> None:
        self.root = root.rstrip("/")
        self.space = space
        self.retries, self.max_wait, self.max_body = retries, max_wait, max_body
        if backend is None:
            from .aiohttp_backend import AiohttpBackend

            backend = AiohttpBackend()
        self.backend = backend
        parts = urlsplit(self.root)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._joins: weakref.WeakSet[Any] = weakref.WeakSet()  # connections that have carried a join
        self._background: set[asyncio.Task[None]] = set()

    def first_join_on(self, response: Response) -> bool:
        """Is `response` (a join's answer) the first join its connection carried? A connection that carried none
        may have been opened after the app restarted (by another request: a schema check, a stream), so a
        stateful call on it asks whether the app restarted; one that carried a join before was there already."""
        connection = response.connection
        if connection is None:
            return response.new_connection
        if connection in self._joins:
            return False
        self._joins.add(connection)
        return True

    def url(self, path: str) -> str:
        return self.root + path if path.startswith("/") else urljoin(self.root + "/", path)

    async def send(
        self,
        method: str,
        path: str,
        *,
        headers: Headers,
        retry: bool = False,
        api_name: str | None = None,
        follow: int = 3,
        idempotent: bool = False,
        read_timeout: float = 60.0,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        files: Sequence[Upload] = (),
        max_body: int | None = None,
        patient: bool = False,
        on_wait: Callable[[int, float], None] | None = None,
    ) -> Response:
        """Send one request; with `retry`, back off on 429/5xx and connection failures (honouring Retry-After).

        `headers` come from `compose.headers.request_headers` (final, checked). Only requests that start nothing
        upstream (or that never left) are retried, so a job never runs twice; `idempotent` marks a POST that may
        safely arrive twice (a cancel). `read_timeout` bounds each wait for the answer (connecting has its own
        10 s); `max_body` lowers the transport's body cap for this request (reading stops there: the
        `UpstreamDisconnected` raised is caused by a `compose.http.TooLarge`). Redirects are followed only within
        the same origin, so headers and tokens never reach another host. The body is `json`, `form` (a urlencoded
        form, as a browser's login posts it), `content` or `files` (multipart). With `retry` and `patient`, answers that
        mean "starting" (502/503/504) are waited out until `max_wait` (Retry-After honoured) however many tries
        that takes; `on_wait(status, seconds_left)` hears each such wait (for progress).
        """
        url = self.url(path)
        deadline = time.monotonic() + self.max_wait
        attempt = 0
        while True:
            try:
                response = await self._exchange(method, url, headers, read_timeout, json, form, content, files,
                                                min(max_body or self.max_body, self.max_body))
            except HTTPFailure as e:
                resendable = not e.sent or method in _SAFE_METHODS or idempotent
                if isinstance(e, BadResponse):
                    resendable = False  # a server that breaks HTTP once will do it again
                if resendable and retry and attempt < self.retries and time.monotonic() < deadline:
                    await asyncio.sleep(self._backoff(attempt, None, deadline))
                    attempt += 1
                    continue
                raise self._error(e, method, path, api_name) from e
            if response.is_redirect and follow > 0 and method == "GET":
                target = urljoin(url, response.headers.get("location") or "")
                if _origin(target) != _origin(url):
                    raise SpaceUnavailable(
                        f"{url} redirects to another origin ({urlsplit(target).hostname}); not followed so no header "
                        "leaks", space=self.space, api_name=api_name)
                url, follow = target, follow - 1
                continue
            if response.status_code in _STARTING_STATUS:
                # The app was not serving (a Space asleep or starting, a replica restarting behind the edge): what
                # answers next may be a fresh process, though the connection to the edge is the same one. So each
                # connection's next join asks whether its session's app restarted, as on a new connection.
                self._joins.clear()
            if response.status_code not in _RETRY_STATUS or not retry:
                return response
            starting = patient and response.status_code in _STARTING_STATUS
            if (attempt >= self.retries and not starting) or time.monotonic() >= deadline:
                detail = _detail(response)
                if response.status_code == 429:
                    raise RateLimited(f"rate limited (429) after {attempt + 1} tries{detail}", space=self.space,
                                      api_name=api_name)
                waited = f" (waited {self.max_wait:.0f} s: max_wait)" if starting else ""
                raise SpaceUnavailable(f"answered {response.status_code} after {attempt + 1} tries{waited}{detail}",
                                       space=self.space, api_name=api_name)
            if starting and on_wait is not None:
                on_wait(response.status_code, max(0.0, deadline - time.monotonic()))
            # A patient wait polls at least every few seconds (the backoff stops growing), so it ends soon after the
            # app is up.
            await asyncio.sleep(self._backoff(min(attempt, 3) if starting else attempt, _retry_after(response),
                                              deadline))
            attempt += 1

    def _error(self, e: HTTPFailure, method: str, path: str, api_name: str | None) -> Exception:
        if isinstance(e, BadResponse):
            return UpstreamDisconnected(f"the answer to {method} {path} broke HTTP's rules or compose's limits; "
                                        f"refused: {e}",
                                        space=self.space, api_name=api_name)
        if not e.sent or method in _SAFE_METHODS:
            return SpaceUnavailable(f"cannot reach {self.origin}: {e}", space=self.space, api_name=api_name)
        if isinstance(e, TimedOut):
            return UpstreamTimeout(f"{e} ({method} {path}); not re-sent, since it may have started a job upstream",
                                   space=self.space, api_name=api_name)
        return UpstreamDisconnected(f"the connection to {self.origin} broke before it answered {method} {path} ({e});"
                                    " not re-sent, since it may have started a job upstream",
                                    space=self.space, api_name=api_name)

    async def _exchange(self, method: str, url: str, headers: Headers, read_timeout: float, json: Any,
                        form: Mapping[str, str] | None, content: bytes | AsyncIterable[bytes] | None,
                        files: Sequence[Upload], max_body: int) -> Response:
        body: bytes | AsyncIterable[bytes] | None = content
        framing: tuple[tuple[str, str], ...] = ()
        if json is not None:
            body = orjson.dumps(json)
            framing = (("content-type", "application/json"),)
        elif form is not None:
            body = urlencode(form).encode()
            framing = (("content-type", "application/x-www-form-urlencoded"),)
        elif files:
            body, framing = _multipart(files)
        request = Request(method, url, tuple(headers.items()) + framing, body, read_timeout=read_timeout)
        async with self.backend.send(request) as reply:
            content_bytes = b"" if method == "HEAD" else await reply.read(max_body)
            return Response(reply.status, reply.headers, content_bytes, reply.new_connection,
                            getattr(reply, "connection", None))

    def stream(self, path: str, headers: Headers, *, read_timeout: float | None = None
               ) -> contextlib.AbstractAsyncContextManager[Reply]:
        """GET `path` (with its query) and yield the answer as its `chunks()` arrive (by default with no read
        deadline: a data stream may idle for minutes).

        Raises `compose.http.HTTPFailure` (the data stream decides itself what it retries).
        Usage: `async with transport.stream(path, h) as reply: async for b in reply.chunks(): ...`
        """
        # The backend's own context manager, not one wrapped around it: this runs once per call.
        return self.backend.send(Request("GET", self.url(path), tuple(headers.items()), read_timeout=read_timeout))

    def preconnect(self) -> asyncio.Task[None]:
        """Have a spare connection opened in the background if the pool holds no idle one: for a call that will
        soon need two at once (a session's first call's join, then its next call's join and data stream together),
        so that the next one does not pay a new connection's handshakes on its critical path. Callers need not wait
        for it; the task returned ends once the spare is in the pool (or was not needed)."""
        task = asyncio.get_running_loop().create_task(self._preconnect())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _preconnect(self) -> None:
        try:
            await self.backend.preconnect(self.root + "/")
        except Exception as e:  # a spare is only an optimisation: the request that needs one opens its own
            log.debug("preconnect to %s failed: %r", self.origin, e)

    def _backoff(self, attempt: int, retry_after: float | None, deadline: float) -> float:
        wait = retry_after if retry_after is not None else min(8.0, 0.25 * 2**attempt) * (0.5 + random.random())
        return max(0.0, min(wait, deadline - time.monotonic()))

    async def aclose(self) -> None:
        await self.backend.aclose()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def _detail(response: Response) -> str:
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    return f": {detail}" if detail else ""


def _multipart(files: Sequence[Upload]) -> tuple[AsyncIterable[bytes], tuple[tuple[str, str], ...]]:
    """A multipart/form-data body streamed from disk, with its length known up front (no chunked encoding)."""
    boundary = uuid.uuid4().hex
    heads = []
    for field, name, _ in files:
        # As browsers do: a quote or line break in a file name is percent-encoded, never sent raw.
        safe = name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        heads.append((f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{safe}"\r\n'
                      "Content-Type: application/octet-stream\r\n\r\n").encode())
    tail = f"--{boundary}--\r\n".encode()
    # Sizes taken now and kept to: a file that grows meanwhile cannot break the body's framing.
    sizes = [os.fstat(f.fileno()).st_size for _, _, f in files]
    length = sum(len(h) + n + 2 for h, n in zip(heads, sizes, strict=True)) + len(tail)

    async def body() -> AsyncIterator[bytes]:
        for head, size, (_, _, f) in zip(heads, sizes, files, strict=True):
            yield head
            # Local disk, read a chunk at a time as the socket takes it: no worker thread for a rare upload.
            left = size
            while left > 0:
                chunk = f.read(min(_CHUNK, left))
                if not chunk:
                    raise OSError(f"{f.name!r} shrank while it was being uploaded")
                left -= len(chunk)
                yield chunk
            yield b"\r\n"
        yield tail

    return body(), (("content-type", f"multipart/form-data; boundary={boundary}"), ("content-length", str(length)))
