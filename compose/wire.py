"""A lean HTTP/1.1 keep-alive pool for httpx: asyncio streams and h11, without httpcore's and anyio's layers.

Why: a Gradio call is two small requests (queue/join, then the session's SSE stream). Through httpx's default
stack each one costs about a millisecond of CPU in httpcore's pool bookkeeping, anyio's cancel scopes and sniffio
look-ups, which is most of a call's client CPU. This transport keeps httpx's API (the Space still has one
`httpx.AsyncClient`, with its timeouts, redirects policy and exceptions) and swaps only the part that moves bytes.

h11 parses and frames HTTP/1.1 (a well-kept library, already under httpx); this module owns only the pool:
idle connections per origin, reused last-in first-out, dropped when the server has closed them or after
`keepalive_expiry` seconds (Gradio's server, uvicorn, drops idle connections after 5 s).

Usage: `httpx.AsyncClient(transport=WireTransport())` (proxied origins keep httpx's own transport; see
`compose.transport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import h11
import httpx

from .loop import deadline

__all__ = ["Body", "WireTransport"]

_READ_SIZE = 64 * 1024

class _Connection:
    """One TCP (or TLS) connection and its h11 state machine."""

    __slots__ = ("h11", "idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def reusable(self, now: float, expiry: float) -> bool:
        # A server that closed the connection while it sat idle has sent EOF by now; reusing it would lose a
        # request that can't always be re-sent (a join).
        return (now - self.idle_since < expiry and not self.reader.at_eof() and not self.writer.is_closing()
                and self.h11.our_state is h11.IDLE and self.h11.their_state is h11.IDLE)

    async def next_event(self, timeout: float | None) -> Any:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                async with deadline(timeout):
                    data = await self.reader.read(_READ_SIZE)
            except TimeoutError as e:
                raise httpx.ReadTimeout("no data from the server in time") from e
            except OSError as e:
                raise httpx.ReadError(repr(e)) from e
            if not data and self.h11.their_state is h11.SEND_RESPONSE:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            self.h11.receive_data(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class Body(httpx.AsyncByteStream):
    """A response body read off its connection; the connection returns to the pool once the body is complete."""

    def __init__(self, pool: WireTransport, key: tuple[str, str, int], conn: _Connection, timeout: float | None
                 ) -> None:
        self._pool, self._key, self._conn, self._timeout = pool, key, conn, timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        try:
            while True:
                event = await conn.next_event(self._timeout)
                if type(event) is h11.Data:
                    yield bytes(event.data)
                elif type(event) is h11.EndOfMessage:
                    self._done = True
                    self._pool._release(self._key, conn)
                    return
                elif isinstance(event, h11.ConnectionClosed):
                    raise httpx.RemoteProtocolError("the server closed the connection mid-body")
        except h11.RemoteProtocolError as e:
            raise httpx.RemoteProtocolError(str(e)) from e

    async def aread(self) -> bytes:
        """The whole body (the connection then goes back to the pool)."""
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        if not self._done:
            # Left before its end (a stream the caller stopped reading): the connection can't be reused.
            self._done = True
            self._conn.close()


class WireTransport(httpx.AsyncBaseTransport):
    """httpx transport: HTTP/1.1 over asyncio streams with a keep-alive pool per origin. See the module docstring."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True, max_keepalive: int = 128,
                 keepalive_expiry: float = 4.0) -> None:
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._max_keepalive, self._expiry = max_keepalive, keepalive_expiry
        self._closed = False

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = (self._verify if isinstance(self._verify, ssl.SSLContext)
                         else httpx.create_ssl_context(verify=self._verify))
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    async def _connect(self, key: tuple[str, str, int], timeout: float | None) -> _Connection:
        scheme, host, port = key
        try:
            async with deadline(timeout):
                if scheme == "https":
                    reader, writer = await asyncio.open_connection(host, port, ssl=self._ssl_context(),
                                                                   server_hostname=host)
                else:
                    reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError as e:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from e
        except OSError as e:  # refused, unreachable, DNS, TLS handshake (ssl.SSLError is an OSError)
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {e}") from e
        return _Connection(reader, writer)

    def _checkout(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.reusable(now, self._expiry):
                return conn
            conn.close()
        return None

    def _release(self, key: tuple[str, str, int], conn: _Connection) -> None:
        state = conn.h11
        if self._closed or state.our_state is not h11.DONE or state.their_state is not h11.DONE:
            conn.close()
            return
        state.start_next_cycle()
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self._max_keepalive:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def exchange(
        self, key: tuple[str, str, int], method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | bytes = b"", *, connect_timeout: float | None = None,
        read_timeout: float | None = None, on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[h11.Response, Body]:
        """Send one request on a pooled (or new) connection of `key` = (scheme, host, port); return the response
        head and its body, which hands the connection back to the pool once read to its end.

        `headers` must include `host` (and the body's framing, `content-length` or `transfer-encoding`).
        Raises httpx's exceptions (ConnectError before anything was sent, then WriteError, ReadError,
        RemoteProtocolError, ReadTimeout), so callers can tell a request that never left from one that did.
        """
        conn = self._checkout(key)
        if conn is None:
            conn = await self._connect(key, connect_timeout)
            if on_connect is not None:
                await on_connect()
        try:
            await self._send(conn, method, target, headers, body)
            response = await conn.next_event(read_timeout)
            while type(response) is h11.InformationalResponse:  # 100 Continue and the like
                response = await conn.next_event(read_timeout)
            if not isinstance(response, h11.Response):
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        except h11.ProtocolError as e:
            conn.close()
            raise httpx.RemoteProtocolError(str(e)) from e
        except BaseException:
            conn.close()
            raise
        return response, Body(self, key, conn, read_timeout)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        trace: Any = request.extensions.get("trace")

        async def traced() -> None:  # httpcore's trace event name, which callers already listen for
            await trace("connection.connect_tcp.complete", {})

        response, body = await self.exchange(
            (scheme, url.host, url.port or (443 if scheme == "https" else 80)), request.method.encode(),
            url.raw_path, request.headers.raw, request.stream.__aiter__(),  # type: ignore[union-attr]
            connect_timeout=timeouts.get("connect"), read_timeout=timeouts.get("read"),
            on_connect=traced if trace is not None else None,
        )
        return httpx.Response(response.status_code, headers=response.headers, stream=body,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason})

    async def _send(self, conn: _Connection, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                    body: AsyncIterator[bytes] | bytes) -> None:
        state = conn.h11
        writer = conn.writer
        try:
            out = state.send(h11.Request(method=method, target=target, headers=headers))
            if isinstance(body, bytes):
                if body:
                    out += state.send(h11.Data(data=body))  # type: ignore[operator]
            else:
                writer.write(out)  # type: ignore[arg-type]
                out = b""
                async for chunk in body:
                    if chunk:
                        writer.write(state.send(h11.Data(data=chunk)))  # type: ignore[arg-type]
                        if writer.transport.get_write_buffer_size() > _READ_SIZE:
                            await writer.drain()
            writer.write(out + state.send(h11.EndOfMessage()))  # type: ignore[operator]
        except h11.LocalProtocolError as e:
            raise httpx.LocalProtocolError(str(e)) from e
        except OSError as e:
            raise httpx.WriteError(repr(e)) from e

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
