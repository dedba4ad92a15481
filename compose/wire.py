"""A lean HTTP/1.1 keep-alive pool for httpx: an asyncio protocol and httptools, without httpcore's and anyio's
layers.

Why: a Gradio call is two small requests (queue/join, then the session's SSE stream). Through httpx's default
stack each one costs about a millisecond of CPU in httpcore's pool bookkeeping, anyio's cancel scopes and sniffio
look-ups, which was most of a call's client CPU; h11 in pure Python was still half of what remained. This transport
keeps httpx's API (the Space still has one `httpx.AsyncClient`, with its timeouts, redirect policy and exceptions)
and swaps only the part that moves bytes.

httptools (llhttp, the parser under uvicorn) parses responses; requests are written here, and every header is
checked so a value can never smuggle a line break. This module owns the pool: idle connections per origin,
reused last-in first-out, dropped when the server has closed them, has sent anything unasked, or has idled
`keepalive_expiry` seconds (Gradio's server, uvicorn, drops idle connections after 5 s).

Usage: `httpx.AsyncClient(transport=WireTransport())` (proxied origins keep httpx's own transport; see
`compose.transport`).
"""

from __future__ import annotations

import asyncio
import collections
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httptools
import httpx

from .loop import deadline

__all__ = ["Body", "WireTransport", "connect_hook"]

Key = tuple[str, str, int]  # scheme, host, port
Headers = list[tuple[bytes, bytes]]

_HIGH, _LOW = 256 * 1024, 64 * 1024  # stop reading a socket past _HIGH unread body bytes, go on below _LOW
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"[^\r\n\x00]*")
_TARGET = re.compile(rb"[!-~]+")  # visible ASCII: no space, no control character


def encode_head(method: bytes, target: bytes, headers: Headers) -> bytes:
    """The request line and header block, refusing anything that would break HTTP framing."""
    if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target):
        raise httpx.LocalProtocolError(f"invalid request line: {method!r} {target!r}")
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
            raise httpx.LocalProtocolError(f"invalid header {name!r}: a name must be a token and a value may "
                                           "not contain CR, LF or NUL")
        lines += [name, b": ", value.strip(b" \t"), b"\r\n"]
    lines.append(b"\r\n")
    return b"".join(lines)


def connect_hook(extensions: dict[str, Any]) -> Callable[[], Awaitable[None]] | None:
    """The `on_connect` of a request whose extensions carry httpcore's `trace` callback (the way callers ask
    "did this request open a new connection?" whichever transport serves it), else None."""
    trace = extensions.get("trace")
    if trace is None:
        return None

    async def connected() -> None:
        await trace("connection.connect_tcp.complete", {})

    return connected


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; it parses whatever the server sends for the request in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.busy = False
        self.lost = False  # EOF or connection lost: nothing more will arrive
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._start()

    def _start(self) -> None:
        """Fresh state for one response."""
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: Headers = []
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.head_done = self.complete = self.reusable = False
        self.error: Exception | None = None
        self.paused = False

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.busy or self.complete:
            # Bytes nobody asked for (a 408 before an idle close, say): the connection is no longer in a known
            # state, so it must not carry another request.
            self.lost = True
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self.error = httpx.RemoteProtocolError(f"malformed response: {e}")
            self.close()
        if self.buffered > _HIGH and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.lost = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(httpx.WriteError(f"connection lost: {exc!r}"))

    def pause_writing(self) -> None:
        self._drain = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    # --- httptools callbacks ---

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 100 Continue and the like: the real answer follows
            self.headers = []
            return
        self.status, self.head_done = status, True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        if self.head_done:
            self.complete = True
            self.reusable = self.parser.should_keep_alive()

    # --- used by the pool ---

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until something arrives (or the connection ends), at most `timeout` seconds."""
        self._waiter = self.loop.create_future()
        try:
            if timeout is None:  # a data stream: it may idle for minutes, and a timer per read costs CPU
                await self._waiter
                return
            async with deadline(timeout):
                await self._waiter
        except TimeoutError as e:
            raise httpx.ReadTimeout("no data from the server in time") from e
        finally:
            self._waiter = None

    async def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise httpx.WriteError("the connection is closed")
        self.transport.write(data)
        if self._drain is not None:
            await self._drain

    def take(self) -> bytes | None:
        """The next unread body bytes, if any have arrived."""
        if not self.chunks:
            return None
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        if self.paused and self.buffered < _LOW and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return chunk

    def close_delimited(self) -> bool:
        """A body with neither length nor chunking: it ends when the server closes the connection."""
        names = {name.lower() for name, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    def usable(self, now: float, expiry: float) -> bool:
        return (not self.lost and now - self.idle_since < expiry and self.transport is not None
                and not self.transport.is_closing())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Body(httpx.AsyncByteStream):
    """A response body read off its connection; the connection returns to the pool once the body is complete."""

    def __init__(self, pool: WireTransport, key: Key, conn: _Connection, timeout: float | None) -> None:
        self._pool, self._key, self._conn, self._timeout = pool, key, conn, timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while True:
            chunk = conn.take()
            if chunk is not None:
                yield chunk
                continue
            if conn.complete:
                self._done = True
                self._pool._release(self._key, conn)
                return
            if conn.error is not None:
                self._abandon()
                raise conn.error
            if conn.lost:
                self._abandon()
                if conn.close_delimited():
                    return  # its natural end
                raise httpx.RemoteProtocolError("the server closed the connection mid-body")
            await conn.wait(self._timeout)

    async def aread(self) -> bytes:
        """The whole body (the connection then goes back to the pool)."""
        return b"".join([chunk async for chunk in self])

    def _abandon(self) -> None:
        self._done = True
        self._conn.close()

    async def aclose(self) -> None:
        if not self._done:
            # Left before its end (a stream the caller stopped reading): the connection can't be reused.
            self._abandon()


class WireTransport(httpx.AsyncBaseTransport):
    """httpx transport: HTTP/1.1 with a keep-alive pool per origin. See the module docstring."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True, max_keepalive: int = 128,
                 keepalive_expiry: float = 4.0) -> None:
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._idle: dict[Key, list[_Connection]] = {}
        self._max_keepalive, self._expiry = max_keepalive, keepalive_expiry
        self._closed = False

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = (self._verify if isinstance(self._verify, ssl.SSLContext)
                         else httpx.create_ssl_context(verify=self._verify))
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    async def _connect(self, key: Key, timeout: float | None) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        tls = self._ssl_context() if scheme == "https" else None
        try:
            async with deadline(timeout):
                _, conn = await loop.create_connection(lambda: _Connection(loop), host, port, ssl=tls,
                                                       server_hostname=host if tls else None)
        except TimeoutError as e:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from e
        except OSError as e:  # refused, unreachable, DNS, TLS handshake (ssl.SSLError is an OSError)
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {e}") from e
        return conn

    def _checkout(self, key: Key) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            # A server that closed the connection while it sat idle has sent EOF by now; reusing it would lose a
            # request that can't always be re-sent (a join).
            if conn.usable(now, self._expiry):
                return conn
            conn.close()
        return None

    def _release(self, key: Key, conn: _Connection) -> None:
        conn.busy = False
        idle = self._idle.setdefault(key, [])
        if self._closed or not conn.reusable or conn.lost or len(idle) >= self._max_keepalive:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def exchange(
        self, key: Key, method: bytes, target: bytes, headers: Headers, body: AsyncIterator[bytes] | bytes = b"",
        *, connect_timeout: float | None = None, read_timeout: float | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[int, Headers, Body]:
        """Send one request on a pooled (or new) connection of `key`; return the response status, headers and
        body, which hands the connection back to the pool once read to its end.

        `headers` must include `host` and the body's framing (`content-length`, or `transfer-encoding: chunked`
        for an iterator). Raises httpx's exceptions (ConnectError before anything was sent, then WriteError,
        ReadError, RemoteProtocolError, ReadTimeout), so callers can tell a request that never left from one that
        did.
        """
        head = encode_head(method, target, headers)  # before any connection: a bad header sends nothing
        conn = self._checkout(key)
        if conn is None:
            conn = await self._connect(key, connect_timeout)
            if on_connect is not None:
                await on_connect()
        conn._start()
        conn.busy = True
        try:
            if isinstance(body, bytes):
                await conn.write(head + body)
            else:
                await self._send_stream(conn, head, headers, body)
            while not conn.head_done:
                if conn.error is not None:
                    raise conn.error
                if conn.lost:
                    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
                await conn.wait(read_timeout)
            if method == b"HEAD":  # no body follows, whatever the headers say
                conn.complete, conn.reusable = True, False
        except BaseException:
            conn.close()
            raise
        return conn.status, conn.headers, Body(self, key, conn, read_timeout)

    async def _send_stream(self, conn: _Connection, head: bytes, headers: Headers, body: AsyncIterator[bytes]
                           ) -> None:
        chunked = any(n.lower() == b"transfer-encoding" and b"chunked" in v.lower() for n, v in headers)
        await conn.write(head)
        async for chunk in body:
            if chunk:
                await conn.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            await conn.write(b"0\r\n\r\n")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        status, headers, body = await self.exchange(
            (scheme, url.host, url.port or (443 if scheme == "https" else 80)), request.method.encode(),
            url.raw_path, request.headers.raw, request.stream.__aiter__(),  # type: ignore[union-attr]
            connect_timeout=timeouts.get("connect"), read_timeout=timeouts.get("read"),
            on_connect=connect_hook(request.extensions),
        )
        return httpx.Response(status, headers=headers, stream=body, extensions={"http_version": b"HTTP/1.1"})

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
