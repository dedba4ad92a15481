"""compose's default HTTP backend: one `aiohttp.ClientSession` per Space, on compose's I/O loop.

aiohttp parses responses with llhttp under limits (header count and size), keeps an HTTP/1.1 keep-alive pool, and
speaks TLS and proxies. This module adds what a pool shared by every end user of a Space needs:

- no cookie jar (a `DummyCookieJar`): a cookie one user's answer set must never ride along with another user's
  request (per-session cookies, where wanted, are compose's own business above this seam);
- a pooled connection that received bytes while idle (an unsolicited answer) is never reused, so those bytes can
  never be read as the next request's answer;
- a progress deadline on request bodies: an upload the server stops reading fails after `write_timeout` seconds
  without progress instead of hanging (aiohttp's read deadline starts only once the body is sent);
- the environment's proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) read once per origin, as aiohttp's
  `trust_env` would, but without its two thread hops per request (and without reading ~/.netrc);
- a pid check: in a forked child the parent's session and sockets are left alone (closing them would end the
  parent's TLS sessions) and a fresh session is made.

Usage: `Space(url, http_backend=AiohttpBackend(verify="/etc/ssl/company-ca.pem"))` (this is also the default).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import os
import select
import socket
import ssl
import urllib.request
import weakref
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import client_exceptions as aio_errors
from aiohttp import http_exceptions as aio_http_errors
from yarl import URL

from . import redact
from .http import BadResponse, ConnectFailed, Headers, HTTPFailure, Interrupted, Request, TimedOut, TooLarge

__all__ = ["AiohttpBackend", "Verify", "ssl_context"]

Verify = bool | str | os.PathLike[str] | ssl.SSLContext

# Set by the connector for the request in flight (this task): the connection it got, whether it was opened for it,
# and its pool key.
_opened: contextvars.ContextVar[tuple[Any, bool, Any]] = contextvars.ContextVar("compose_opened",
                                                                                default=(None, False, None))

# How long a request that found no idle connection waits for one whose answer is ending (`_Reply.ending`) before
# it opens its own. The end is on its way when the wait starts (the reader saw the last message), so this only
# bounds a server that never sends it.
_RETURN_WAIT = 0.25

_NO_CONTENT_TYPE = ("content-type",)

_SMALL_BODY = 16 * 1024  # below any socket send buffer (Linux's smallest default is 16 KiB)

log = redact.logger("compose.aiohttp_backend")

# Backends with an open session, closed at interpreter exit (aiohttp warns about sessions left open).
_live: weakref.WeakSet[AiohttpBackend] = weakref.WeakSet()

# Sessions of a parent process, kept referenced in a forked child so that garbage collection never closes (and so
# never shuts down) sockets the parent still uses.
_orphans: list[Any] = []


def ssl_context(verify: Verify) -> ssl.SSLContext | bool:
    """aiohttp's `ssl=` for `verify`: False (no verification), a CA bundle file or folder, or a ready context.

    True trusts SSL_CERT_FILE / SSL_CERT_DIR when set (a company proxy's CA), else certifi's bundle when installed
    (as httpx and requests do), else the system store.
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        return False
    if verify is True:
        if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
            return ssl.create_default_context()
        try:
            import certifi
        except ImportError:  # pragma: no cover - certifi comes with httpx and huggingface_hub
            return ssl.create_default_context()
        return ssl.create_default_context(cafile=certifi.where())
    path = os.fspath(verify)
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)


def _env_proxy(url: str) -> str | None:
    """The proxy the environment sets for `url` (None: direct), with urllib's rules, as aiohttp's trust_env."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


class _Connector(aiohttp.TCPConnector):
    """A TCPConnector that drops a pooled connection with unread bytes instead of reusing it, and knows which
    connections are about to come back.

    aiohttp parses whatever an idle keep-alive connection receives; if the server sent an answer nobody asked for,
    the next request on that connection would read it as its own. `should_close` is aiohttp's own verdict that
    such a connection holds buffered data.

    A request that finds no idle connection while another request's answer is ending (its reader has seen the
    last message, only the body's last bytes are on their way: `_Reply.ending`) waits for that connection instead
    of opening one: on a wide-area link a new TLS connection costs two round trips more.

    aiohttp internals used, pinned by tests/test_hostile_http.py: `_get` (pooled-connection checkout), `_release`
    (a connection back to the pool), `_create_connection` and `_conns` (the idle connections per key).
    """

    seen: weakref.WeakSet[Any]
    ending: dict[Any, int]  # per connection key: answers being read to their end now
    returning: dict[Any, list[asyncio.Future[None]]]  # per key: requests waiting for one of those connections
    sparing: set[Any]  # keys with a spare connection being opened

    async def connect(self, req: Any, traces: list[Any], timeout: Any) -> Any:
        """aiohttp's public connector hook: notes, for the request in flight, whether it got a fresh connection
        (the answer may be read and its connection released before compose looks at it)."""
        key = req.connection_key
        if self.ending.get(key) and not self._conns.get(key):
            waiter = asyncio.get_running_loop().create_future()
            self.returning.setdefault(key, []).append(waiter)
            try:
                async with asyncio.timeout(_RETURN_WAIT):  # a fallback: the end is on its way already
                    await waiter
            except TimeoutError:
                pass
            finally:
                if waiter in self.returning.get(key, ()):
                    self.returning[key].remove(waiter)
        conn = await super().connect(req, traces, timeout)
        protocol = conn.protocol
        fresh = protocol is not None and protocol not in self.seen
        if fresh:
            self.seen.add(protocol)
        _opened.set((protocol, fresh, key))
        return conn

    def _release(self, key: Any, protocol: Any, *, should_close: bool = False) -> None:
        super()._release(key, protocol, should_close=should_close)
        waiters = self.returning.get(key)
        while waiters:
            waiter = waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                break

    async def _get(self, key: Any, traces: list[Any]) -> Any:
        while True:
            conn = await super()._get(key, traces)
            # (`is None`: a protocol with nothing buffered has length 0, so it is falsy.)
            if conn is None or conn.protocol is None or not (conn.protocol.should_close or _stirred(conn.protocol)):
                return conn
            conn.close()

    def idle(self, key: Any) -> int:
        """How many idle connections the pool holds for `key`."""
        return len(self._conns.get(key) or ())

    async def spare(self, req: Any, timeout: Any) -> None:
        """Open one more connection for `req`'s origin and put it in the pool."""
        key = req.connection_key
        if key in self.sparing:
            return
        self.sparing.add(key)
        try:
            protocol = await self._create_connection(req, [], timeout)
            self.seen.add(protocol)
            self._release(key, protocol)
        except (OSError, aiohttp.ClientError, TimeoutError) as e:
            log.debug("a spare connection failed: %r", e)  # the next request opens its own
        finally:
            self.sparing.discard(key)


def _stirred(protocol: Any) -> bool:
    """Has this idle pooled connection received anything the loop has not handled yet: the server's FIN (it closed
    the connection, as uvicorn does after 5 idle seconds) or unsolicited bytes? A zero-timeout poll of the socket.

    aiohttp learns of a close only when its loop gets round to it; a loop lagging behind (a busy app) hands out a
    connection the server has already closed, and a join sent on it is lost (a join is never re-sent). Asking the
    socket itself closes that window, as urllib3 does before reusing a connection.
    """
    transport = protocol.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


class _Reply:
    """One answer from aiohttp, seen through compose's `Reply` protocol."""

    __slots__ = ("_connector", "_ending", "_headers", "_key", "_response", "connection", "new_connection", "status")

    def __init__(self, response: aiohttp.ClientResponse, opened: tuple[Any, bool, Any], connector: _Connector
                 ) -> None:
        self._response = response
        self.status = response.status
        self._headers: Headers | None = None
        self.connection, self.new_connection, self._key = opened
        self._connector = connector
        self._ending = False

    @property
    def headers(self) -> Headers:
        # Built when asked for: a data stream's caller never reads them.
        if self._headers is None:
            self._headers = Headers([(k.decode("latin-1"), v.decode("latin-1"))
                                     for k, v in self._response.raw_headers])
        return self._headers

    def ending(self) -> None:
        """See `compose.http.Reply.ending`."""
        if not self._ending and self._key is not None:
            self._ending = True
            self._connector.ending[self._key] = self._connector.ending.get(self._key, 0) + 1

    def _done(self) -> None:
        if self._ending:
            self._ending = False
            left = self._connector.ending.get(self._key, 1) - 1
            if left > 0:
                self._connector.ending[self._key] = left
            else:
                self._connector.ending.pop(self._key, None)

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk
        except (TimeoutError, aiohttp.ClientError, aio_http_errors.HttpProcessingError) as e:
            raise _failure(e, sent=True) from e

    async def read(self, limit: int) -> bytes:
        length = self._response.content_length
        if length is not None and length > limit:
            raise TooLarge(f"the answer's body is {length} bytes, over the limit of {limit}", limit=limit)
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the answer's body is over the limit of {limit} bytes", limit=limit)
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)


class _Exchange:
    """One request and its answer, as an async context manager (a class, not a generator: it runs twice a call).

    Entering sends the request and yields the `_Reply` once its head is in; leaving returns the connection to the
    pool if the body was read to its end, and closes it otherwise.
    """

    __slots__ = ("_backend", "_reply", "_request", "_response")

    def __init__(self, backend: AiohttpBackend, request: Request) -> None:
        self._backend, self._request = backend, request
        self._response: aiohttp.ClientResponse | None = None
        self._reply: _Reply | None = None

    async def __aenter__(self) -> _Reply:
        backend, request = self._backend, self._request
        client = backend._client()
        proxy = request.proxy if request.proxy is not None else backend.proxy_for(request.url)
        body: Any = request.body
        loop = asyncio.get_running_loop()
        timer: asyncio.Timeout | None = None
        if body is not None and not isinstance(body, bytes):
            # A streamed body: each chunk taken pushes the deadline on, so only a stall (a server that stopped
            # reading) ends it; once the body is out, aiohttp's read deadline takes over.
            timer = asyncio.timeout(backend.write_timeout + request.connect_timeout)
            body = _progressing(body, timer, loop, backend.write_timeout)
        elif body and len(body) > _SMALL_BODY:
            # A body in memory: the kernel takes most of it at once; the rest must go out within write_timeout.
            # (A small one, a join's, fits in the socket's buffer whole: it cannot stall, and aiohttp's read
            # deadline bounds the wait for the answer.)
            timer = asyncio.timeout(request.connect_timeout + backend.write_timeout + (request.read_timeout or 0.0))
        timeout = backend.client_timeout(request.connect_timeout, request.read_timeout)
        response: aiohttp.ClientResponse | None = None
        _opened.set((None, False, None))
        try:
            async with timer if timer is not None else contextlib.nullcontext():
                response = await client.request(
                    request.method, request.url, headers=request.headers, data=body, proxy=proxy,
                    allow_redirects=False, timeout=timeout,
                    # A body's content-type is compose's to set (aiohttp would add application/octet-stream). Only
                    # where compose set none: aiohttp rebuilds a skip list into a new header dict per request.
                    skip_auto_headers=_NO_CONTENT_TYPE if body is not None and not _typed(request.headers) else None,
                )
                if timer is not None:
                    timer.reschedule(None)
        except TimeoutError as e:
            if response is not None:
                response.close()
            if isinstance(e, aio_errors.ConnectionTimeoutError):
                raise TimedOut(f"connecting to {_origin(request.url)} timed out", sent=False) from e
            if timer is not None and timer.expired():
                raise TimedOut(f"{_origin(request.url)} stopped reading the request body for "
                               f"{backend.write_timeout:g} s") from e
            raise TimedOut(f"no answer from {_origin(request.url)} within {request.read_timeout:g} s") from e
        except (aiohttp.ClientError, aio_http_errors.HttpProcessingError, OSError) as e:
            raise _failure(e, sent=not (isinstance(body, bytes | None) and _unwritten(e))) from e
        except RuntimeError as e:
            if not client.closed:
                raise
            # The pool was closed under this request (Space.close()): nothing went out.
            raise ConnectFailed("the connection pool was closed (the Space was closed)") from e
        self._response = response
        self._reply = _Reply(response, _opened.get(), client.connector)  # type: ignore[arg-type]  # ours
        return self._reply

    async def __aexit__(self, *exc: object) -> None:
        response, reply = self._response, self._reply
        if response is None or reply is None:
            return
        # Read to its end, the connection is back in the pool already; left early, it is closed.
        if response.content.is_eof():
            response.release()
        else:
            response.close()
        reply._done()


class AiohttpBackend:
    """The default `compose.http.Backend`. See the module docstring.

    `write_timeout` bounds each stall while a request body goes out; `max_headers` and `max_field_size` bound an
    answer's head (aiohttp refuses more, so a header flood costs a bounded amount of memory and time).
    """

    def __init__(
        self,
        *,
        verify: Verify = True,
        keepalive_expiry: float = 4.0,
        write_timeout: float = 60.0,
        max_headers: int = 256,
        max_field_size: int = 64 * 1024,
        user_agent: str = "gradio-compose",
    ) -> None:
        self.verify = verify
        self.write_timeout = write_timeout
        # Idle connections expire after 4 s, before uvicorn (Gradio's server) drops them at 5: a join sent on a
        # connection the server is closing is lost, and a join is never re-sent.
        self._keepalive = keepalive_expiry
        self._limits = {"max_line_size": 8190, "max_field_size": max_field_size, "max_headers": max_headers}
        self._agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._owner: tuple[int, asyncio.AbstractEventLoop] | None = None
        self._proxies: dict[str, str | None] = {}
        self._timeouts: dict[tuple[float, float | None], aiohttp.ClientTimeout] = {}

    def _client(self) -> aiohttp.ClientSession:
        owner = (os.getpid(), asyncio.get_running_loop())
        if self._session is None or self._owner != owner:
            if self._session is not None:
                _orphans.append(self._session)  # another process's or loop's: not ours to close
                self._proxies = {}
            connector = _Connector(
                ssl=ssl_context(self.verify),  # made here, on first use: SSL_CERT_FILE set by then is honoured
                limit=0,  # every running call holds its session's data stream open: no cap on concurrency
                keepalive_timeout=self._keepalive,
                ttl_dns_cache=10,
            )
            connector.seen, connector.ending, connector.returning, connector.sparing = weakref.WeakSet(), {}, {}, set()
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # see the module docstring: no cookie crosses users
                headers={"user-agent": self._agent},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10.0),
                auto_decompress=True,
                **self._limits,  # type: ignore[arg-type]
            )
            self._owner = owner
            _live.add(self)
            # A backend dropped without aclose() (its Space was never closed) closes its session once nothing can
            # use it any more: a running request or data stream holds the backend, so none is cut off. Else the
            # garbage collector reports "Unclosed client session" and the connections stay open until then.
            weakref.finalize(self, _close_dropped, self._session, owner).atexit = False  # at exit: _close_at_exit
        return self._session

    def client_timeout(self, connect: float, read: float | None) -> aiohttp.ClientTimeout:
        """aiohttp's timeout for these deadlines, made once (a handful of distinct pairs exist)."""
        timeout = self._timeouts.get((connect, read))
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
            if len(self._timeouts) < 64:
                self._timeouts[(connect, read)] = timeout
        return timeout

    def proxy_for(self, url: str) -> str | None:
        # The origin by slicing (scheme://netloc ends at the first "/" after "//"): every request asks, and
        # urlsplit would cost more than the rest of this lookup.
        end = url.find("/", url.find("//") + 2)
        origin = url if end < 0 else url[:end]
        try:
            return self._proxies[origin]
        except KeyError:
            proxy = self._proxies[origin] = _env_proxy(url)
            return proxy

    def send(self, request: Request) -> _Exchange:
        """See `compose.http.Backend.send`: `async with backend.send(request) as reply: ...`."""
        return _Exchange(self, request)

    async def preconnect(self, url: str) -> None:
        """See `compose.http.Backend.preconnect`: one spare connection to `url`'s origin when the pool has no idle
        one (direct connections only; through a proxy the next request opens its own)."""
        client = self._client()
        if self.proxy_for(url) is not None:
            return
        connector: _Connector = client.connector  # type: ignore[assignment]  # ours, see _client
        request = aiohttp.ClientRequest("GET", URL(url), loop=asyncio.get_running_loop(), session=client)
        if connector.idle(request.connection_key):
            return
        await connector.spare(request, aiohttp.ClientTimeout(total=None, sock_connect=10.0))

    async def aclose(self) -> None:
        if self._session is not None and self._owner == (os.getpid(), asyncio.get_running_loop()):
            await self._session.close()
        self._session = None


def _close_dropped(session: aiohttp.ClientSession, owner: tuple[int, asyncio.AbstractEventLoop]) -> None:
    pid, loop = owner
    if pid == os.getpid() and loop.is_running() and not session.closed:
        asyncio.run_coroutine_threadsafe(session.close(), loop).add_done_callback(
            lambda done: done.cancelled() or done.exception())


@atexit.register
def _close_at_exit() -> None:
    for backend in list(_live):
        owner = backend._owner
        if backend._session is None or owner is None or owner[0] != os.getpid() or not owner[1].is_running():
            continue
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(backend.aclose(), owner[1]).result(timeout=2.0)


async def _progressing(body: AsyncIterable[bytes], timer: asyncio.Timeout, loop: asyncio.AbstractEventLoop,
                       stall: float) -> AsyncIterator[bytes]:
    async for chunk in body:
        timer.reschedule(loop.time() + stall)
        yield chunk
    timer.reschedule(None)  # sent: aiohttp's read deadline (sock_read) now bounds the wait for the answer


def _typed(headers: tuple[tuple[str, str], ...]) -> bool:
    """Do these (final, lower-cased) request headers set the body's content-type?"""
    return any(name == "content-type" for name, _ in headers)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _unwritten(e: BaseException) -> bool:
    """Did this failure stop the request before any byte of it was written? aiohttp writes a request's head
    together with the first piece of its body; with a body in one piece (or none), a `ClientConnectionResetError`
    (the transport was closing when that write came) means nothing left, so the request may be sent again."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, aio_errors.ClientConnectionResetError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _failure(e: BaseException, *, sent: bool) -> HTTPFailure:
    """compose's view of an aiohttp failure: could the request have reached the server?"""
    if isinstance(e, aio_errors.ConnectionTimeoutError):
        return TimedOut(f"connecting timed out: {e}", sent=False)
    if isinstance(e, asyncio.TimeoutError):
        return TimedOut(f"no data from the server in time: {e}")
    if isinstance(e, aio_errors.ClientConnectorError):
        # aiohttp's own text ("Cannot connect to host h:p ssl:default [Connect call failed ...]") names an SSL
        # setting even for plain http; what went wrong is the OS's error.
        reason = e.os_error
        if isinstance(reason, ConnectionRefusedError):
            why = "connection refused (nothing listens there)"
        elif isinstance(reason, socket.gaierror):
            why = f"the host name does not resolve ({reason.strerror or reason})"
        else:
            why = reason.strerror or str(reason) or type(reason).__name__
        return ConnectFailed(why)
    if isinstance(e, aio_errors.ClientPayloadError):
        return Interrupted(f"the answer's body was cut off: {e}")  # a server that died mid-answer
    if isinstance(e, (aio_errors.ClientResponseError, aio_http_errors.HttpProcessingError)):
        return BadResponse(f"malformed answer: {e}")
    if isinstance(e, (aio_errors.InvalidURL, ValueError)):
        return ConnectFailed(f"invalid request: {e}")
    if not sent:
        return ConnectFailed(f"the connection closed before the request went out: {e}")
    return Interrupted(f"{type(e).__name__}: {e}")
