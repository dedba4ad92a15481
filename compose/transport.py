"""The HTTP side of one Space: a single keep-alive `httpx.AsyncClient`, bounded retries, no cross-origin redirects.

Everything here runs on compose's I/O loop. One Transport serves every end user of its Space; what differs per
user (headers, session) is passed into each request, never stored.

Usage: `r = await transport.send("POST", "/gradio_api/queue/join", headers=h, json=body, retry=True)`.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .errors import RateLimited, SpaceUnavailable, UpstreamDisconnected, UpstreamTimeout

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

    @property
    def client(self) -> httpx.AsyncClient:
        """The pooled client, made on first use inside the I/O loop."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(60.0, connect=10.0),
                # Every running call holds its session's data stream open; don't let the pool cap concurrency.
                # Idle connections expire after 4 s: uvicorn (Gradio's server) drops them after 5, and reusing one
                # it is closing could break a join, which is never re-sent.
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=128, keepalive_expiry=4),
                # 4 s: uvicorn (Gradio's server) drops idle connections after 5 s; reusing one it is closing
                # would break a join we may not re-send.
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
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; with `retry`, back off on 429/5xx and connection failures (honouring Retry-After).

        Only requests that start nothing upstream (or whose start failed) are retried, so a job never runs twice;
        `idempotent` marks a POST that may safely arrive twice (a cancel).
        Redirects are followed only within the same origin, so headers and tokens never reach another host.
        """
        url = self.url(path)
        deadline = time.monotonic() + self.max_wait
        attempt = 0
        while True:
            try:
                response = await self.client.request(method, url, headers=headers, **kwargs)
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
                target = httpx.URL(url).join(response.headers.get("location", ""))
                if (target.scheme, target.host, target.port) != (httpx.URL(url).scheme, httpx.URL(url).host,
                                                                  httpx.URL(url).port):
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


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    return f": {detail}" if detail else ""
