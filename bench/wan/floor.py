"""The floor: Gradio's queue protocol by hand on aiohttp, with the fewest round trips the protocol allows.

- cold: open the connections and read what a client that binds arguments needs, /config and /info, at once (two
  connections opened in parallel: 2 RTT of handshakes, 1 for the answers), then the session's first call;
- a session's first call: POST queue/join, then GET queue/data (Gradio answers a data stream for a session it does
  not know yet with 404, so this order is forced): 2 RTT (a second connection opens meanwhile, for the next call);
- a warm call: the join and the session's data stream at once, on keep-alive connections opened before: 1 RTT;
- idle: the pooled connections expired (as compose's do, after 4 s): both open again in parallel, 3 RTT.

The time of a call ends at its `process_completed` (or first output); the stream is then read to its end, untimed,
so its connection goes back to the pool.

Usage:
    floor = Floor(url, ssl_context); await floor.cold()
    seconds = await floor.call("/translate", ["hello", "French"])
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from typing import Any

import aiohttp
import orjson

__all__ = ["Floor"]

PREFIX = "/gradio_api"


class Floor:
    """See the module docstring. One end user: one session hash, unless a call names another."""

    def __init__(self, url: str, ssl_context: ssl.SSLContext | None = None, *, keepalive: float = 4.0) -> None:
        self.url, self.ssl = url.rstrip("/"), ssl_context
        self.keepalive = keepalive
        self.session_hash = uuid.uuid4().hex[:11]
        self.http: aiohttp.ClientSession | None = None
        self.fn: dict[str, int] = {}
        self.known: set[str] = set()  # sessions whose data stream Gradio has answered

    def _client(self) -> aiohttp.ClientSession:
        if self.http is None:
            self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                ssl=self.ssl if self.ssl is not None else False, keepalive_timeout=self.keepalive, limit=0))
        return self.http

    async def cold(self) -> None:
        """Read /config and /info at once (their connections stay in the pool for the calls)."""
        config, _ = await asyncio.gather(self._get("/config"), self._get(f"{PREFIX}/info"))
        self.fn = {"/" + str(d["api_name"]).lstrip("/"): i for i, d in enumerate(config["dependencies"])
                   if d.get("api_name")}

    async def reopen(self, fn: dict[str, int]) -> None:
        """A new client that has the schema already (on disk): no fetch, new connections, a new session."""
        await self.close()
        self.fn, self.session_hash, self.known = dict(fn), uuid.uuid4().hex[:11], set()

    async def _get(self, path: str) -> Any:
        async with self._client().get(self.url + path) as r:
            return orjson.loads(await r.read())

    async def call(self, api_name: str, data: list[Any], *, first_output: bool = False,
                   session_hash: str | None = None) -> tuple[float, Any]:
        """Run one call; (seconds to its result or first output, that message's output data)."""
        http = self._client()
        session_hash = session_hash or self.session_hash
        body = {"data": data, "fn_index": self.fn[api_name], "session_hash": session_hash, "event_data": None,
                "trigger_id": None}
        stream_url = f"{self.url}{PREFIX}/queue/data?session_hash={session_hash}"
        t0 = time.monotonic()
        join = http.post(f"{self.url}{PREFIX}/queue/join", data=orjson.dumps(body),
                         headers={"content-type": "application/json"})
        if session_hash in self.known:  # a session Gradio knows: both at once
            joined, stream = await asyncio.gather(join, http.get(stream_url))
            await joined.read()
        else:
            # A session's first call: join, then stream, on one connection; a second opens meanwhile (a request
            # that starts nothing), so the session's next call finds the two it needs at once already open.
            spare = asyncio.ensure_future(self._get(f"{PREFIX}/app_id"))
            async with join as joined:
                await joined.read()
            stream = await http.get(stream_url)
            await spare
        if joined.status != 200 or stream.status != 200:
            raise RuntimeError(f"floor: join {joined.status}, stream {stream.status}")
        self.known.add(session_hash)
        seconds, output = float("nan"), None
        try:
            async for line in stream.content:
                if not line.startswith(b"data:"):
                    continue
                msg = orjson.loads(line[5:])
                kind = msg.get("msg")
                if first_output and output is None and kind in ("process_generating", "process_completed"):
                    seconds, output = time.monotonic() - t0, msg["output"]["data"]
                elif kind == "process_completed":
                    if not msg.get("success"):
                        raise RuntimeError(f"floor: {msg}")
                    if output is None:
                        seconds, output = time.monotonic() - t0, msg["output"]["data"]
                # Read on to close_stream and the body's end: the connection goes back to the pool.
        finally:
            stream.release()
        return seconds, output

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
