"""Round trips per call over an emulated wide-area link (bench/wan/proxy.py: TLS, 50 and 100 ms RTT), for
gradio_client, compose and a raw floor side by side, in RTT units (wall time / RTT, local processing included).

Scenarios: cold (a new client, schema fetched), cold with the schema on disk (compose only), warm (the same client
and session again), first streamed output (streaming /count_up, warm), idle (a warm client after 6 s, past the
pools' keep-alive). The floor speaks Gradio's protocol by hand on aiohttp: a warm call sends the join and opens the
session's data stream at once (one round trip), a cold one first reads /config and /info at once.

Usage: `python -m bench.wan [--quick]`.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

import bench  # noqa: F401 - its environment defaults (no telemetry, a throwaway cache) before gradio loads
from bench.core import launch

from .proxy import DelayProxy

RTTS = (0.05, 0.1)
IDLE = 6.0
APP_DELAY = 0.5  # /count_up(3, delay=0.5) sleeps this long before its first output: not the link's time


class Floor:
    """Gradio's queue protocol by hand, the fewest round trips it allows."""

    def __init__(self, url: str, ca: str) -> None:
        import ssl

        self.url, self.ssl = url, ssl.create_default_context(cafile=ca)
        self.session_hash = uuid.uuid4().hex[:11]
        self.http: aiohttp.ClientSession | None = None
        self.fn: dict[str, int] = {}
        self.joined = False

    async def cold(self) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl))
        config, _ = await asyncio.gather(self._get("/config"), self._get("/gradio_api/info"))
        self.fn = {"/" + str(d["api_name"]).lstrip("/"): i for i, d in enumerate(config["dependencies"])
                   if d.get("api_name")}

    async def _get(self, path: str) -> Any:
        assert self.http is not None
        async with self.http.get(self.url + path) as r:
            return orjson.loads(await r.read())

    async def call(self, api_name: str, data: list[Any], first_output: bool = False) -> Any:
        assert self.http is not None
        body = {"data": data, "fn_index": self.fn[api_name], "session_hash": self.session_hash,
                "event_data": None, "trigger_id": None}
        join = self.http.post(self.url + "/gradio_api/queue/join", json=body)
        stream_url = f"{self.url}/gradio_api/queue/data?session_hash={self.session_hash}"
        if self.joined:  # a known session: both at once
            joined, stream = await asyncio.gather(join, self.http.get(stream_url))
            await joined.read()
        else:
            async with join as joined:
                await joined.read()
            stream = await self.http.get(stream_url)
            self.joined = True
        try:
            async for line in stream.content:
                if not line.startswith(b"data:"):
                    continue
                msg = orjson.loads(line[5:])
                if first_output and msg.get("msg") in ("process_generating", "process_completed"):
                    return msg
                if msg.get("msg") == "process_completed":
                    result = msg
                if msg.get("msg") == "close_stream":
                    return result
        finally:
            await stream.read() if not stream.content.is_eof() else None
            stream.release()

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(rtt: float, translator: str, streaming: str, n: int) -> dict[str, dict[str, float]]:


    out: dict[str, dict[str, list[float]]] = {}

    def add(client: str, scenario: str, seconds: float) -> None:
        out.setdefault(client, {}).setdefault(scenario, []).append(seconds / rtt)

    with DelayProxy(translator, rtt) as tp, DelayProxy(streaming, rtt) as sp:
        for _ in range(n):
            _round(tp, sp, add)
    return {c: {s: statistics.median(v) for s, v in d.items()} for c, d in out.items()}


def _round(tp: DelayProxy, sp: DelayProxy, add: Callable[[str, str, float], None]) -> None:
    """One measurement of every client and scenario."""
    from gradio_client import Client

    import compose

    # compose
    space = compose.Space(tp.url, verify=tp.ca_file, schema_ttl=0)
    add("compose", "cold", timed(lambda: space.endpoint("/translate").predict("hello", "French")))
    add("compose", "warm", timed(lambda: space.endpoint("/translate").predict("hello", "French")))
    time.sleep(IDLE)
    add("compose", "idle", timed(lambda: space.endpoint("/translate").predict("hello", "French")))
    space.close()
    disk = compose.Space(tp.url, verify=tp.ca_file)
    add("compose", "cold, schema on disk",
        timed(lambda: disk.endpoint("/translate").predict("hello", "French")))
    disk.close()
    st = compose.Space(sp.url, verify=sp.ca_file)
    st.endpoint("/count_up").predict(1, delay=0)

    async def first() -> None:
        async for u in st.endpoint("/count_up").stream(3, delay=0.5):
            if u.kind == "output":
                return

    add("compose", "first streamed output", timed(lambda: asyncio.run(first())) - APP_DELAY)
    st.close()
    # gradio_client
    holder: dict[str, Any] = {}
    # gradio_client cannot be given a CA bundle: verification off (the handshake's round trips are the same).
    add("gradio_client", "cold", timed(lambda: holder.setdefault(
        "c", Client(tp.url, verbose=False, ssl_verify=False)).predict("hello", "French", api_name="/translate")))
    client = holder["c"]
    add("gradio_client", "warm", timed(lambda: client.predict("hello", "French", api_name="/translate")))
    time.sleep(IDLE)
    add("gradio_client", "idle", timed(lambda: client.predict("hello", "French", api_name="/translate")))
    sclient = Client(sp.url, verbose=False, ssl_verify=False)
    sclient.predict(1, 0, api_name="/count_up")

    def gc_first() -> None:
        job = sclient.submit(3, 0.5, api_name="/count_up")
        while not job.outputs():
            time.sleep(0.002)
        job.cancel()

    add("gradio_client", "first streamed output", timed(gc_first) - APP_DELAY)
    client.close()
    sclient.close()
    # the floor
    floor, sfloor = Floor(tp.url, tp.ca_file), Floor(sp.url, sp.ca_file)

    async def floor_run() -> None:
        t0 = time.perf_counter()
        await floor.cold()
        await floor.call("/translate", ["hello", "French"])
        add("floor", "cold", time.perf_counter() - t0)
        t0 = time.perf_counter()
        await floor.call("/translate", ["hello", "French"])
        add("floor", "warm", time.perf_counter() - t0)
        await sfloor.cold()
        await sfloor.call("/count_up", [1, 0])
        t0 = time.perf_counter()
        await sfloor.call("/count_up", [3, 0.5], first_output=True)
        add("floor", "first streamed output", time.perf_counter() - t0 - APP_DELAY)
        await floor.close()
        await sfloor.close()

    asyncio.run(floor_run())


def main() -> None:
    quick = "--quick" in sys.argv
    scenarios = ["cold", "cold, schema on disk", "warm", "first streamed output", "idle"]
    with launch({name: (name, None, {}) for name in ("translator", "streaming")}) as running:
        rows = []
        for rtt in RTTS:
            got = measure(rtt, running["translator"].url, running["streaming"].url, 1 if quick else 3)
            for scenario in scenarios:
                rows.append([f"{rtt * 1000:.0f} ms", scenario] + [
                    f"{got[c][scenario]:.2f}" if scenario in got.get(c, {}) else "—"
                    for c in ("gradio_client", "compose", "floor")])
    print("| RTT | scenario | gradio_client | compose | floor |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
