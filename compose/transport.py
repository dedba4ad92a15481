"""The HTTP side of one Space: a single keep-alive `httpx.AsyncClient`, bounded retries, no cross-origin redirects.

Everything here runs on compose's I/O loop. One Transport serves every end user of its Space; what differs per
user (headers, session) is passed into each request, never stored.

Usage: `r = await transport.send("POST", "/gradio_api/queue/join", headers=h, json=body, retry=True)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import time
import urllib.request
from collections.abc import AsyncIterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

from .errors import ConfigError, RateLimited, SpaceUnavailable, UpstreamDisconnected, UpstreamTimeout
from .wire import WireTransport, connect_hook

__all__ = ["Transport"]

_RETRY_STATUS = {429, 500, 502, 503, 504}
# Failures that happen before a request leaves: nothing reached the app, so any request may be tried again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Requests that start nothing upstream, so repeating one whose answer was lost is harmless.
_SAFE_METHODS = {"GET", "HEAD"}


def _retry_after(response: httpx.Response) -> float | None:
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
    """One connection pool to one Gradio app, shared by all users of the Space."""

    def __init__(self, root: str, *, space: str, retries: int = 3, max_wait: float = 30.0) -> None:
        self.root = root.rstrip("/")
        self.space = space
        self.retries, self.max_wait = retries, max_wait
        self._client: httpx.AsyncClient | None = None
        self._wire: WireTransport | None = None
        parts = urlsplit(self.root)
        self._key = (parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        self._path = parts.path
        # Headers of every hot-path request; httpx's URL gives the Host value (IDNA, IPv6 brackets, port).
        self._head = [(b"host", httpx.URL(self.root).netloc), (b"accept", b"*/*"), (b"user-agent", b"gradio-compose")]

    @property
    def client(self) -> httpx.AsyncClient:
        """The pooled client, made on first use inside the I/O loop."""
        if self._client is None:
            # Direct origins get the lean HTTP/1.1 pool; one behind an environment proxy keeps httpx's own.
            self._wire = None if _proxied(self.root) else WireTransport(keepalive_expiry=4.0)
            self._client = httpx.AsyncClient(
                transport=self._wire,
                follow_redirects=False,
                # A shared client must not keep one user's cookies and send them with another user's request.
                cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
                timeout=httpx.Timeout(60.0, connect=10.0),
                # For httpx's own transport (proxied origins): every running call holds its session's data stream
                # open, so the pool must not cap concurrency; idle connections expire after 4 s, before uvicorn
                # (Gradio's server) drops them at 5, since a join sent on a connection being closed is lost.
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=128, keepalive_expiry=4),
            )
        return self._client

    def url(self, path: str) -> str:
        return self.root + path if path.startswith("/") else urljoin(self.root + "/", path)

    async def send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        retry: bool = False,
        api_name: str | None = None,
        follow: int = 3,
        idempotent: bool = False,
        read_timeout: float = 60.0,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; with `retry`, back off on 429/5xx and connection failures (honouring Retry-After).

        Only requests that start nothing upstream (or whose start failed) are retried, so a job never runs twice;
        `idempotent` marks a POST that may safely arrive twice (a cancel). `read_timeout` bounds each wait for the
        answer (connecting has its own 10 s).
        Redirects are followed only within the same origin, so headers and tokens never reach another host.
        """
        url = self.url(path)
        deadline = time.monotonic() + self.max_wait
        attempt = 0
        while True:
            try:
                response = await self._request(method, url, headers, read_timeout, kwargs)
            except httpx.LocalProtocolError as e:
                # Nothing was sent: a header value with a line break (from headers=, identity(headers=...)) would
                # otherwise have been a second, forged header.
                raise ConfigError(f"{self.space} {api_name or path}: refused to send a request with an invalid "
                                  f"header ({e})") from e
            except httpx.TransportError as e:
                # A connection that broke after the request went out (RemoteProtocolError, ReadError, a read
                # timeout) may have reached the app: a join may have started its job. Only a request that never
                # left, or one that starts nothing (GET), is tried again, so a job that has started never runs twice.
                # (Before, a cut-off join was re-sent, and other httpx errors escaped as bare httpx exceptions.)
                resendable = isinstance(e, _NOT_SENT) or method in _SAFE_METHODS or idempotent
                if resendable and retry and attempt < self.retries and time.monotonic() < deadline:
                    await asyncio.sleep(self._backoff(attempt, None, deadline))
                    attempt += 1
                    continue
                if resendable:
                    raise SpaceUnavailable(f"cannot reach {self.root}: {e!r}", space=self.space,
                                           api_name=api_name) from e
                if isinstance(e, httpx.TimeoutException):
                    raise UpstreamTimeout(f"no answer from {self.root} to {method} {path}; not re-sent, since it "
                                          "may have started a job upstream", space=self.space, api_name=api_name) from e
                raise UpstreamDisconnected(f"the connection to {self.root} broke before it answered {method} {path} "
                                           f"({e!r}); not re-sent, since it may have started a job upstream",
                                           space=self.space, api_name=api_name) from e
            if response.is_redirect and follow > 0 and method == "GET":
                here = httpx.URL(url)
                target = here.join(response.headers.get("location", ""))
                if (target.scheme, target.host, target.port) != (here.scheme, here.host, here.port):
                    raise SpaceUnavailable(
                        f"{url} redirects to another origin ({target.host}); not followed so no header leaks",
                        space=self.space, api_name=api_name)
                url, follow = str(target), follow - 1
                continue
            if response.status_code not in _RETRY_STATUS or not retry:
                return response
            if attempt >= self.retries or time.monotonic() >= deadline:
                detail = _detail(response)
                if response.status_code == 429:
                    raise RateLimited(f"rate limited (429) after {attempt + 1} tries{detail}", space=self.space,
                                      api_name=api_name)
                raise SpaceUnavailable(f"answered {response.status_code} after {attempt + 1} tries{detail}",
                                       space=self.space, api_name=api_name)
            await asyncio.sleep(self._backoff(attempt, _retry_after(response), deadline))
            attempt += 1

    async def _request(self, method: str, url: str, headers: dict[str, str], read_timeout: float,
                       kwargs: dict[str, Any]) -> httpx.Response:
        client = self.client
        wire = self._wire
        if wire is None or not url.startswith(self.root + "/") or not kwargs.keys() <= {"json", "extensions"}:
            return await client.request(method, url, headers=headers, timeout=httpx.Timeout(read_timeout, connect=10.0),
                                        **kwargs)
        # The hot path (a join, a cancel): straight to the pool, without building httpx's request and URL objects
        # or running its cookie jar, which cost more CPU than the exchange itself.
        body = orjson.dumps(kwargs["json"]) if "json" in kwargs else b""
        raw = self._raw_headers(headers)
        if "json" in kwargs:
            raw += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        elif method not in _SAFE_METHODS:
            raw.append((b"content-length", b"0"))
        status, answer_headers, stream = await wire.exchange(
            self._key, method.encode(), (self._path + url[len(self.root):]).encode(), raw, body,
            connect_timeout=10.0, read_timeout=read_timeout, on_connect=connect_hook(kwargs.get("extensions", {})))
        return httpx.Response(status, headers=answer_headers, content=await stream.aread())

    def _raw_headers(self, headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
        """The hot path's request headers: host, accept and user agent, then the merged ones of this request."""
        return self._head + [(k.encode("ascii"), v.encode("utf-8")) for k, v in headers.items()]

    @contextlib.asynccontextmanager
    async def stream(self, path: str, headers: dict[str, str]) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
        """GET `path` (with its query) and yield (status, body chunks) as they arrive, with no read deadline.

        Usage: `async with transport.stream(path, h) as (status, chunks): async for b in chunks: ...`
        """
        client = self.client
        wire = self._wire
        if wire is None:
            request = client.build_request("GET", self.url(path), headers=headers,
                                           timeout=httpx.Timeout(10.0, read=None))
            response = await client.send(request, stream=True)
            try:
                yield response.status_code, response.aiter_raw()
            finally:
                await response.aclose()
            return
        status, _, body = await wire.exchange(self._key, b"GET", (self._path + path).encode(),
                                              self._raw_headers(headers), connect_timeout=10.0)
        try:
            yield status, body.__aiter__()
        finally:
            await body.aclose()

    def _backoff(self, attempt: int, retry_after: float | None, deadline: float) -> float:
        wait = retry_after if retry_after is not None else min(8.0, 0.25 * 2**attempt) * (0.5 + random.random())
        return max(0.0, min(wait, deadline - time.monotonic()))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def origin(self) -> str:
        parts = urlsplit(self.root)
        return f"{parts.scheme}://{parts.netloc}"


def _proxied(url: str) -> bool:
    """Whether the environment routes `url` through a proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    return f": {detail}" if detail else ""
