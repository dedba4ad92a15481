"""The emulated Spaces edge: HTTPS for `*.hf.space`, in front of each Space's replicas, behaving as Hugging Face's
proxy does where it matters to a client:

- a private Space answers 404 unless the request carries a token of its owner or a member (`X-HF-Authorization`
  or `Authorization: Bearer …`);
- `X-HF-Authorization` is stripped before the request reaches the app; `Authorization` passes through to it;
- the visitor's `X-IP-Token`: one this edge signed passes through; otherwise the edge adds one for the caller (the
  token's user when a valid token came along, else an anonymous visitor by address);
- replica affinity by cookie (`spaces-replica`); without the cookie requests go round robin and the answer sets it;
- stages: SLEEPING (the first request wakes it, as fresh replicas; 503 with an HTML page meanwhile), BUILDING,
  APP_STARTING, PAUSED, RUNTIME_ERROR, ... all 503 with a page naming the stage; RUNNING proxies;
- 429 with Retry-After for the next N requests when a test asks (`Hub.rate_limit`).

Usage: `edge_app(world, ledger_url)` is served by the emulator on its own thread.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Callable

import aiohttp
from aiohttp import web

from .world import EmulatedSpace, World

__all__ = ["AFFINITY_COOKIE", "LEDGER_HEADER", "edge_app"]

AFFINITY_COOKIE = "spaces-replica"
# Where an emulated ZeroGPU Space finds the ledger (the real `spaces` package talks to HF's own service).
LEDGER_HEADER = "x-compose-testing-ledger"
_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
        "transfer-encoding", "upgrade", "host", "content-length"}


def _page(status: int, title: str, text: str, **headers: str) -> web.Response:
    body = (f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>")
    return web.Response(status=status, text=body, content_type="text/html", headers=headers)


def _stage_page(space: EmulatedSpace, stage: str) -> web.Response:
    return _page(503, f"{space.id} is {stage.lower().replace('_', ' ')}",
                 f"This Space is {stage}. It is not serving requests right now.", **{"x-space-stage": stage})


def edge_app(world: World, ledger_url: Callable[[], str]) -> web.Application:
    session: dict[str, aiohttp.ClientSession] = {}

    async def client() -> aiohttp.ClientSession:
        if "s" not in session:
            session["s"] = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return session["s"]

    async def close(_: web.Application) -> None:
        if "s" in session:
            await session.pop("s").close()

    async def handle(request: web.Request) -> web.StreamResponse:
        space = world.by_host(request.host.split(":")[0])
        if space is None:
            return _page(404, "404", "Sorry, we can't find the page you are looking for.")
        auth_user = (world.bearer_user(request.headers.get("x-hf-authorization"))
                     or world.bearer_user(request.headers.get("authorization")))
        with world.lock:
            space.requests += 1
            if not world.may_see(space, auth_user):
                return _page(404, "404", "Sorry, we can't find the page you are looking for.")
            if space.rate_limited > 0:
                space.rate_limited -= 1
                return _page(429, "Too Many Requests", "You are being rate limited.",
                             **{"Retry-After": str(space.retry_after)})
            space.wake()
            stage = space.stage_now()
            backends = list(space.backends)
        if stage != "RUNNING" or not backends:
            return _stage_page(space, stage if stage != "RUNNING" else "APP_STARTING")
        chosen = request.cookies.get(AFFINITY_COOKIE, "").split(".")[0]
        index = int(chosen) if chosen.isdigit() and int(chosen) < len(backends) else None
        set_cookie = index is None
        if index is None:
            index = space.next_backend()
        headers = [(k, v) for k, v in request.headers.items()
                   if k.lower() not in _HOP and k.lower() not in ("x-hf-authorization", "x-ip-token",
                                                                   LEDGER_HEADER)]
        visitor = world.identity_of(request.headers.get("x-ip-token"))
        if visitor is None:
            peer = request.remote or "unknown"
            visitor = f"user:{auth_user.name}" if auth_user is not None else f"anon:{peer}"
        headers += [("x-ip-token", world.ip_token(visitor)), ("host", request.host),
                    ("x-forwarded-proto", "https"), ("x-forwarded-host", request.host),
                    (LEDGER_HEADER, ledger_url())]
        upstream = backends[index] + request.rel_url.raw_path_qs
        body = await request.read() if request.body_exists else None
        try:
            answer = await (await client()).request(request.method, upstream, headers=headers, data=body,
                                                    allow_redirects=False)
        except aiohttp.ClientError:
            return _stage_page(space, "RUNTIME_ERROR")
        async with answer:
            response = web.StreamResponse(status=answer.status, reason=answer.reason)
            for k, v in answer.headers.items():
                if k.lower() not in _HOP:
                    response.headers.add(k, v)
            if set_cookie:
                # Opaque and unique per issue, as balancers' cookies are (so a test can tell whose it is).
                response.set_cookie(AFFINITY_COOKIE, f"{index}.{secrets.token_hex(6)}", path="/", secure=True,
                                    httponly=True, samesite="None")
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app = web.Application(client_max_size=512 * 2**20)
    app.router.add_route("*", "/{tail:.*}", handle)
    app.on_cleanup.append(close)
    return app
