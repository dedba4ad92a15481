"""Round trips per call over an emulated wide-area link, for gradio_client, compose and the floor side by side, in
RTT units, at 50 and 100 ms: wall time / RTT (each client's and the app's own processing included), and the round
trips the link adds, (time at this RTT − time at RTT 0) / RTT, from a pass over the same link with no delay.

The link is bench/wan/proxy.py (TLS ends there; each byte waits RTT/2, a new connection 2 RTT more for TCP and TLS;
the proxy runs in a process of its own). The upstreams are spaces/translator and spaces/streaming (MCP on, as every
app of spaces/). The floor (bench/wan/floor.py) speaks Gradio's protocol by hand with the fewest round trips it
allows: cold 5 (handshakes 2, /config and /info at once 1, then a session's first call: join 1, data stream 1),
cold with the schema on disk 4, warm 1, idle 3 (the pool's connections expired: both open again in parallel).

Scenarios (each sample a new end user, so "cold" includes a session Gradio has not seen):
- cold: a new client (compose: a new Space, schema_ttl=0) and its first call;
- cold, schema on disk: compose's Space reading the schema from its disk cache (the floor: knowing the fn index),
  the app's last confirmation of it older than the default `Limits.schema_check_every` (2 s): compose asks the
  app's id before binding arguments (the redeploy check, compose.drift), one round trip more than the floor, by
  design: 5;
- cold, schema on disk, check window 60 s: the same with `Limits(schema_check_every=60)`: the schema the app
  confirmed seconds ago (an earlier process's fetch or check) is trusted without asking: the floor's 4;
- warm: the same client and session again (several calls per sample);
- first streamed output: streaming /count_up(3, delay=0.5) on a warm session, the app's own 0.5 s taken out;
- idle: a warm client after 6 s, past the pools' 4 s keep-alive (uvicorn closes idle connections at 5 s);
- one hop: an end user on 127.0.0.1 calls an outer Gradio app (bench/wan/outer) whose handler calls translator over
  the link (compose `ep.handler()`, a shared gradio_client Client, the floor by hand): the time the link adds, i.e.
  (end-to-end time at this RTT − at RTT 0) / RTT, warm sessions.

Usage: `python -m bench.wan [--quick] [--trace] [--write]`: about 10 minutes on a loaded 2-core machine (`--quick`:
2 samples, about 4 minutes). `--write` puts the tables into bench/WAN.md and README.md (between its bench/wan
markers); `--trace` prints, for the first sample, what each client sent on the link and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bench  # noqa: F401 - its environment defaults (no telemetry, a throwaway cache) before gradio loads
from bench.core import launch

from .floor import Floor
from .proxy import DelayProxy, Event, opened

RTTS = (0.05, 0.1)
BASE = 0.0  # the same link with no delay: what a call costs besides its round trips (processing, the app's work)
IDLE = 6.0
APP_DELAY = 0.5  # /count_up(3, delay=0.5) sleeps this long before its first output: not the link's time
CLIENTS = ("gradio_client", "compose", "floor")
WINDOW = "cold, schema on disk, check window 60 s"
SCENARIOS = ("cold", "cold, schema on disk", WINDOW, "warm", "first streamed output", "idle", "one hop")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

Key = tuple[float, str, str]  # rtt, client, scenario
# --write replaces what README.md holds between these two lines (and writes bench/WAN.md).
README_START, README_END = "<!-- bench/wan: written by `python -m bench.wan --write` -->", "<!-- /bench/wan -->"


class Record:
    """Samples (seconds), new connections per call, and the first sample's link traces."""

    def __init__(self) -> None:
        self.samples: dict[Key, list[float]] = {}
        self.conns: dict[Key, list[float]] = {}
        self.traces: dict[Key, tuple[float, list[Event]]] = {}

    def add(self, key: Key, seconds: float, conns: float | None = None, trace: tuple[float, list[Event]] | None = None
            ) -> None:
        self.samples.setdefault(key, []).append(seconds)
        if conns is not None:
            self.conns.setdefault(key, []).append(conns)
        if trace is not None and key not in self.traces:
            self.traces[key] = trace

    def median(self, key: Key) -> float | None:
        got = self.samples.get(key)
        return statistics.median(got) if got else None


class Run:
    """One RTT's measurements: the links, the clients that live across samples, and the record."""

    def __init__(self, rtt: float, tp: DelayProxy, sp: DelayProxy, hp: DelayProxy, outer: str, record: Record,
                 warm: int, hop: int) -> None:
        self.rtt, self.tp, self.sp, self.hp, self.outer = rtt, tp, sp, hp, outer
        self.record, self.warm_n, self.hop_n = record, warm, hop
        self.loop = asyncio.new_event_loop()  # the floors' and the end user's (compose runs on its own I/O loop)
        self.streaming: dict[str, Any] = {}

    def timed(self, client: str, scenario: str, proxy: DelayProxy, call: Callable[[], Any], *,
              minus: float = 0.0) -> float:
        """Run `call` (a sync function, or one returning a coroutine run on this run's loop) and record it."""
        t0 = time.monotonic()
        got = call()
        if asyncio.iscoroutine(got):
            got = self.loop.run_until_complete(got)
        seconds = (time.monotonic() - t0) if not isinstance(got, float) else got
        events = proxy.events(since=t0)
        self.record.add((self.rtt, client, scenario), seconds - minus, opened(events), (t0, events))
        return seconds

    def ctx(self, proxy: DelayProxy) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=proxy.ca_file)

    # --- one sample of every scenario ---

    def sample(self) -> None:
        import compose

        tp = self.tp
        user = f"wan-{uuid.uuid4().hex}"  # a new end user: an upstream session Gradio has not seen
        with compose.identity(session=user):
            space = compose.Space(tp.url, verify=tp.ca_file, schema_ttl=0)
            ep = space.endpoint  # not bound before the call: the schema is fetched by the call itself

            def call() -> Any:
                return ep("/translate").predict("hello", "French")

            self.timed("compose", "cold", tp, call)
            for _ in range(self.warm_n):
                self.timed("compose", "warm", tp, call)
        # The default check window past since the app last confirmed the schema (the cold Space's fetch): a Space
        # reading it from disk now asks the app's id first, as a process restarted a while later does.
        time.sleep(compose.Limits().schema_check_every)
        with compose.identity(session=f"wan-{uuid.uuid4().hex}"):
            disk = compose.Space(tp.url, verify=tp.ca_file)  # the schema the cold Space stored
            self.timed("compose", "cold, schema on disk", tp, lambda: disk.endpoint("/translate").predict(
                "hello", "French"))
        disk.close()
        with compose.identity(session=f"wan-{uuid.uuid4().hex}"):
            # Confirmed seconds ago (by the check just made): within a 60 s window, trusted without asking.
            trusting = compose.Space(tp.url, verify=tp.ca_file, limits=compose.Limits(schema_check_every=60))
            self.timed("compose", WINDOW, tp, lambda: trusting.endpoint("/translate").predict("hello", "French"))
        trusting.close()
        self.compose_first()

        from gradio_client import Client

        made: list[Any] = []

        def gc_cold() -> Any:
            # gradio_client cannot be given a CA file: verification off (the handshakes' round trips are the same).
            made.append(Client(tp.url, verbose=False, ssl_verify=False))
            return made[0].predict("hello", "French", api_name="/translate")

        self.timed("gradio_client", "cold", tp, gc_cold)
        client = made[0]
        for _ in range(self.warm_n):
            self.timed("gradio_client", "warm", tp, lambda: client.predict("hello", "French", api_name="/translate"))
        self.gc_first()

        floor = Floor(tp.url, self.ctx(tp))

        async def floor_cold() -> float:
            t0 = time.monotonic()
            await floor.cold()
            fetched = time.monotonic() - t0
            return fetched + (await floor.call("/translate", ["hello", "French"]))[0]

        async def floor_call() -> float:
            return (await floor.call("/translate", ["hello", "French"]))[0]

        self.timed("floor", "cold", tp, floor_cold)
        for _ in range(self.warm_n):
            self.timed("floor", "warm", tp, floor_call)
        disk_floor = Floor(tp.url, self.ctx(tp))
        self.loop.run_until_complete(disk_floor.reopen(floor.fn))
        seconds = self.timed("floor", "cold, schema on disk", tp,
                             lambda: disk_floor.call("/translate", ["hello", "French"]))
        self.record.add((self.rtt, "floor", WINDOW), seconds)  # the same floor: the schema known
        self.loop.run_until_complete(disk_floor.close())
        self.floor_first()

        if self.rtt:
            self.one_hop()  # measured against RTT 0 on its own link (its own baseline)

        # Idle: every client has been left alone at least IDLE seconds when its call starts.
        time.sleep(IDLE)
        with compose.identity(session=user):
            self.timed("compose", "idle", tp, call)
        self.timed("gradio_client", "idle", tp, lambda: client.predict("hello", "French", api_name="/translate"))
        self.timed("floor", "idle", tp, floor_call)
        space.close()
        client.close()
        self.loop.run_until_complete(floor.close())

    # --- first streamed output, warm, per client ---

    def compose_first(self) -> None:
        import compose

        sp = self.sp
        if "compose" not in self.streaming:
            self.streaming["compose"] = compose.Space(sp.url, verify=sp.ca_file)
        st = self.streaming["compose"]
        st.endpoint("/count_up").predict(1, delay=0)  # warm: connections open, session known

        async def first() -> None:
            async for u in st.endpoint("/count_up").stream(3, delay=APP_DELAY):
                if u.kind == "output":
                    return

        self.timed("compose", "first streamed output", sp, lambda: compose_run(first()), minus=APP_DELAY)
        st.endpoint("/count_up").predict(1, delay=0)  # the cancelled stream's job is over before the next sample

    def gc_first(self) -> None:
        from gradio_client import Client

        sp = self.sp
        if "gradio_client" not in self.streaming:
            self.streaming["gradio_client"] = Client(sp.url, verbose=False, ssl_verify=False)
        sclient = self.streaming["gradio_client"]
        sclient.predict(1, 0, api_name="/count_up")
        jobs: list[Any] = []

        def first() -> None:
            job = sclient.submit(3, APP_DELAY, api_name="/count_up")
            jobs.append(job)
            while not job.outputs():
                time.sleep(0.002)

        self.timed("gradio_client", "first streamed output", sp, first, minus=APP_DELAY)
        jobs[0].result()

    def floor_first(self) -> None:
        sp = self.sp
        if "floor" not in self.streaming:
            fresh = Floor(sp.url, self.ctx(sp))
            self.loop.run_until_complete(fresh.cold())
            self.streaming["floor"] = fresh
        sfloor: Floor = self.streaming["floor"]
        self.loop.run_until_complete(sfloor.call("/count_up", [1, 0]))

        async def first() -> float:
            seconds, _ = await sfloor.call("/count_up", [3, APP_DELAY], first_output=True)
            return seconds

        self.timed("floor", "first streamed output", sp, first, minus=APP_DELAY)

    # --- one hop through an outer app ---

    def one_hop(self) -> None:
        user = Floor(self.outer)  # the end user: on 127.0.0.1, next to the outer app
        self.loop.run_until_complete(user.cold())
        got: dict[tuple[str, float], list[float]] = {}
        conns: dict[str, float] = {}
        traces: dict[str, tuple[float, list[Event]]] = {}
        for rtt in (self.rtt, 0.0):
            self.hp.set_rtt(rtt)
            for client in CLIENTS:
                api = f"/{client}"
                self.loop.run_until_complete(user.call(api, ["hello", "French"]))  # warm: connections, sessions
                t0 = time.monotonic()
                for _ in range(self.hop_n):
                    seconds, _ = self.loop.run_until_complete(user.call(api, ["hello", "French"]))
                    got.setdefault((client, rtt), []).append(seconds)
                if rtt:
                    events = self.hp.events(since=t0)
                    conns[client] = opened(events) / self.hop_n
                    traces[client] = (t0, events)
        self.hp.set_rtt(self.rtt)
        self.loop.run_until_complete(user.close())
        for client in CLIENTS:
            added = statistics.median(got[(client, self.rtt)]) - statistics.median(got[(client, 0.0)])
            self.record.add((self.rtt, client, "one hop"), added, conns[client], traces[client])

    def close(self) -> None:
        for name, c in self.streaming.items():
            if name == "floor":
                self.loop.run_until_complete(c.close())
            else:
                c.close()
        self.loop.close()


def compose_run(coro: Any) -> None:
    from compose.loop import run_sync

    run_sync(coro)


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def table(record: Record, *, added: bool) -> str:
    """Medians in RTT units: wall time / RTT, or (`added`) the link's share, (time at RTT − time at RTT 0) / RTT.
    One hop is always the link's share (measured against RTT 0 on its own link)."""
    lines = ["| RTT | scenario | gradio_client | compose | floor |", "|---|---|---|---|---|"]
    for rtt in RTTS:
        for scenario in SCENARIOS:
            cells = []
            for client in CLIENTS:
                m = record.median((rtt, client, scenario))
                base = record.median((BASE, client, scenario)) if added and scenario != "one hop" else 0.0
                cells.append("—" if m is None or base is None else f"{(m - base) / rtt:.2f}")
            lines.append(f"| {rtt * 1000:.0f} ms | {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def conns_table(record: Record) -> str:
    lines = ["| RTT | scenario | gradio_client | compose | floor |", "|---|---|---|---|---|"]
    for rtt in RTTS:
        for scenario in ("warm", "one hop"):
            cells = []
            for client in CLIENTS:
                got = record.conns.get((rtt, client, scenario))
                cells.append("—" if not got else f"{sum(got) / len(got):.2f}")
            lines.append(f"| {rtt * 1000:.0f} ms | {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def traces(record: Record) -> str:
    out = []
    for (rtt, client, scenario), (t0, events) in sorted(record.traces.items()):
        if not rtt:
            continue  # the no-delay baseline: nothing to count in RTT
        out.append(f"\n{client}, {scenario}, RTT {rtt * 1000:.0f} ms (times in RTT from the call's start):")
        for e in events:
            out.append(f"  {(e.at - t0) / rtt:6.2f}  #{e.conn:<3} {e.kind:8} {e.what}")
    return "\n".join(out)


@contextlib.contextmanager
def links(rtt: float, translator: str, streaming: str) -> Iterator[tuple[DelayProxy, DelayProxy, DelayProxy, str]]:
    """The three links at `rtt` (translator, streaming, and translator for the outer app) and the outer app."""
    with DelayProxy(translator, rtt) as tp, DelayProxy(streaming, rtt) as sp, DelayProxy(translator, rtt) as hp:
        env = {"UPSTREAM_URL": hp.url, "UPSTREAM_CA": hp.ca_file,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        with launch({"outer": ("outer", HERE, env)}) as outer:
            yield tp, sp, hp, outer["outer"].url


def main() -> None:
    quick = "--quick" in sys.argv
    samples, warm, hop = (2, 3, 3) if quick else (5, 5, 5)
    started, load_before = time.monotonic(), load()
    record = Record()
    with launch({name: (name, None, {}) for name in ("translator", "streaming")}) as running:
        for rtt in (BASE, *RTTS):
            with links(rtt, running["translator"].url, running["streaming"].url) as (tp, sp, hp, outer):
                run = Run(rtt, tp, sp, hp, outer, record, warm, hop)
                try:
                    for i in range(samples + 1):
                        if i == 0:  # a first, unrecorded sample: imports, lazy set-up, the disk cache written
                            scratch = Record()
                            run.record, keep = scratch, run.record
                            run.sample()
                            run.record = keep
                            continue
                        run.sample()
                        print(f"wan: RTT {rtt * 1000:.0f} ms, sample {i}/{samples} done "
                              f"({time.monotonic() - started:.0f} s, load {load()})", file=sys.stderr, flush=True)
                finally:
                    run.close()
    took = time.monotonic() - started
    md = (f"`python -m bench.wan{' --quick' if quick else ''}`: {samples} samples per cell ({warm} warm calls and "
          f"{hop} one-hop calls per sample), medians, in RTT units; {took:.0f} s; load average (1/5/15 min) "
          f"{load_before} at the start, {load()} at the end; {os.cpu_count()} cores.\n\n")
    md += ("Round trips the link adds, (time at the RTT − time over the same link with no delay) / RTT: the "
           "figure the targets are about (warm and first output ≤ 1.1, one hop ≤ 1.1, cold ≤ 5, ≤ 4 with the "
           "schema on disk).\n\n" + table(record, added=True))
    md += ("\n\nWall time / RTT, everything included (each client's and the app's own processing: at RTT 0 a warm "
           "call takes " + ", ".join(f"{c} {m * 1000:.0f} ms" for c in CLIENTS
                                     if (m := record.median((BASE, c, "warm"))) is not None)
           + "):\n\n" + table(record, added=False))
    md += ("\n\nNew TLS connections per warm call, and per one-hop call (at the upstream link; gradio_client's "
           "heartbeat stream not counted):\n\n" + conns_table(record))
    print(md)
    if "--trace" in sys.argv:
        print(traces(record))
    if "--write" in sys.argv:
        (HERE.parent / "WAN.md").write_text("# bench/wan: round trips per call\n\n" + md + "\n")
        readme = ROOT / "README.md"
        text = readme.read_text()
        start, end = text.find(README_START), text.find(README_END)
        if 0 <= start < end:
            readme.write_text(text[:start + len(README_START)] + "\n" + md + "\n" + text[end:])


if __name__ == "__main__":
    main()
