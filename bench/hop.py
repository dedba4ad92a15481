"""Hop benchmark: what one outer Gradio app in front of a 50 ms endpoint costs, per way of making the hop.

An upstream app (bench/apps/sleep50: `async def` that sleeps 50 ms) runs on 127.0.0.1, and in front of it one outer
app per hop (bench/apps/outer, each in its own process, GRADIO_DEFAULT_CONCURRENCY_LIMIT=64 everywhere):

- compose `ep.handler()`;
- a hand-written `async def` handler awaiting compose's `ep.call` (what handler() builds on);
- gr.load — its builder `gradio.external.from_spaces_blocks` given the URL (gr.load itself only takes Space ids and
  asks huggingface.co for the host, which loopback cannot do);
- a sync handler around one shared gradio_client Client;
- and, to show what the outer Gradio app costs by itself, an outer app that sleeps 50 ms itself (no hop).

Simulated users are raw httpx queue clients (the floor protocol of bench.core, over one AsyncClient), so the load
generator is as cheap as a client can be. Measured: the latency one hop adds (sequential, against calling the
upstream directly), the outer app's CPU per call (psutil on its process), and throughput, latency and failures
with 16 and 64 concurrent users.

Usage: `python -m bench.run --only hop` (or `python -m bench.hop`).
"""

from __future__ import annotations

import collections
import contextlib
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from compose.apps.processes import LocalSpace

from .core import Floor, Section, fmt_ms, launch, paused, summarize, table

__all__ = ["run"]

APPS = Path(__file__).resolve().parent / "apps"
ENV = {"GRADIO_DEFAULT_CONCURRENCY_LIMIT": "64"}
CALL_TIMEOUT = 30.0
SLEEP = 0.05  # what the upstream endpoint (and the outer app alone) sleeps

# label, OUTER_MODE (None: call the upstream directly)
HOPS: list[tuple[str, str | None]] = [
    ("direct to upstream (no hop)", None),
    ("outer app alone, sleeping 50 ms itself", "local"),
    ("compose handler()", "compose_handler"),
    ("compose ep.call in an async handler", "compose_call"),
    ("gr.load (from_spaces_blocks)", "gr_load"),
    ("shared gradio_client Client handler", "gc_shared"),
]




def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


@dataclass
class Load:
    """One load run: C users calling back to back for a while."""

    users: int
    ok: int = 0
    failures: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0  # from the start to the last successful call (a stuck call does not stretch it)
    server_cpu: float = 0.0
    generator_cpu: float = 0.0
    app_error: str = ""

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def merge(self, other: Load) -> Load:
        """Pool another round of the same load into this one."""
        self.ok += other.ok
        self.failures += other.failures
        self.errors.update(other.errors)
        self.latencies += other.latencies
        self.elapsed += other.elapsed
        self.server_cpu += other.server_cpu
        self.generator_cpu += other.generator_cpu
        self.app_error = self.app_error or other.app_error
        return self


def _load(url: str, users: int, duration: float, proc: psutil.Process) -> Load:
    """`users` simulated users, each a thread with its own keep-alive floor client calling /sleep back to back.

    Threads of sync `httpx.Client`s, not one AsyncClient: measured here, that costs the load generator about half the
    CPU per call at 16 users and a seventh at 64, so the generator stays out of the way of what is measured.
    """
    result = Load(users)
    floors = [Floor(url, timeout=CALL_TIMEOUT) for _ in range(users)]
    sessions = [f"load-{users}-{i}-{uuid.uuid4().hex[:8]}" for i in range(users)]
    lock = threading.Lock()
    clock: dict[str, float] = {}

    def go() -> None:  # run once, by the last thread to arrive, before any is released: the clock starts here
        clock.update(cpu=_cpu(proc), gen=time.process_time(), t0=time.perf_counter())
        clock["deadline"] = clock["t0"] + duration

    start = threading.Barrier(users + 1, action=go)

    def user(floor: Floor, session: str) -> None:
        try:
            floor.call("/sleep", ["hi"], session)  # warm-up: connection open, session known; not counted
        except Exception:
            pass
        start.wait()
        while time.perf_counter() < clock["deadline"]:
            t0 = time.perf_counter()
            try:
                floor.call("/sleep", ["hi"], session)
            except Exception as e:
                with lock:
                    result.failures += 1
                    result.errors[f"{type(e).__name__}: {str(e)[:80]}"] += 1
                continue
            with lock:
                done = time.perf_counter()
                result.latencies.append(done - t0)
                result.ok += 1
                clock["last_ok"] = max(clock.get("last_ok", 0.0), done)

    threads = [threading.Thread(target=user, args=(f, s), name=f"bench-user-{i}", daemon=True)
               for i, (f, s) in enumerate(zip(floors, sessions, strict=True))]
    try:
        for t in threads:
            t.start()
        start.wait(timeout=120)
        for t in threads:
            t.join(timeout=duration + CALL_TIMEOUT + 60)
        result.elapsed = clock.get("last_ok", time.perf_counter()) - clock["t0"]
        result.server_cpu = _cpu(proc) - clock["cpu"]
        result.generator_cpu = time.process_time() - clock["gen"]
    finally:
        for f in floors:
            f.close()
    return result


def _last_exception(log: list[str]) -> str:
    """The last exception line an app printed (what failed calls died of, seen from inside)."""
    for line in reversed(log):
        if re.match(r"^[\w.]+(Error|Exception)\b", line.strip()):
            return line.strip()[:120]
    return ""


@dataclass
class Target:
    label: str
    mode: str | None
    app: LocalSpace | None = None
    url: str = ""
    seq: list[float] = field(default_factory=list)
    seq_server_cpu: float = 0.0
    seq_upstream_cpu: float = 0.0
    loads: dict[int, Load] = field(default_factory=dict)


def run(quick: bool = False) -> list[Section]:
    """Launch the upstream and the outer apps on 127.0.0.1 and measure every hop."""
    targets = [Target(label, mode) for label, mode in HOPS]
    modes = [t.mode for t in targets if t.mode is not None]
    rounds, n_seq = (2, 8) if quick else (2, 20)
    duration = 1.5 if quick else 3.0
    levels = (16, 64)

    print("hop: launching sleep50 and the outer apps …", flush=True)
    with launch({"sleep50": ("sleep50", APPS, ENV)}) as up, contextlib.ExitStack() as stack:
        upstream = up["sleep50"]
        # Each outer app runs as its Space would: with compose's dependencies (uvloop, httptools) only where it
        # uses compose; gr.load, the shared Client and the app alone get gradio's own stack.
        outers = stack.enter_context(launch({m: ("outer", APPS, {**ENV, "OUTER_MODE": m, "UPSTREAM_URL": upstream.url})
                                             for m in modes},
                                            compose_deps={m: m.startswith("compose") for m in modes}))
        apps = {"sleep50": upstream, **outers}  # only the measured path's apps run at a time (see `paused`)
        up_proc = psutil.Process(upstream.process.pid)
        for t in targets:
            t.app = outers[t.mode] if t.mode else upstream
            t.url = t.app.url
        procs = {t.label: psutil.Process(t.app.process.pid) for t in targets if t.app}

        # Sequential: one user, interleaved rounds; the hop's cost is its median minus the direct median.
        print("hop: sequential latency …", flush=True)
        floors = {t.label: Floor(t.url) for t in targets}
        try:
            for t in targets:
                for _ in range(5):
                    floors[t.label].call("/sleep", ["hi"], "seq")
            for _ in range(rounds):
                for t in targets:
                    proc, floor = procs[t.label], floors[t.label]
                    with paused(apps, {"sleep50", t.mode or "sleep50"}):
                        cpu0, up0 = _cpu(proc), _cpu(up_proc)
                        for _ in range(n_seq):
                            t0 = time.perf_counter()
                            floor.call("/sleep", ["hi"], "seq")
                            t.seq.append(time.perf_counter() - t0)
                        t.seq_server_cpu += _cpu(proc) - cpu0
                        t.seq_upstream_cpu += _cpu(up_proc) - up0
        finally:
            for f in floors.values():
                f.close()

        for users in levels:
            for round_ in range(rounds):  # interleaved, so a burst of noise does not land on one path only
                for t in targets:
                    print(f"hop: {users} users → {t.label} (round {round_ + 1}/{rounds}) …", flush=True)
                    with paused(apps, {"sleep50", t.mode or "sleep50"}):
                        load = _load(t.url, users, duration, procs[t.label])
                    if load.failures and t.app is not None:
                        load.app_error = _last_exception(t.app.log)
                    t.loads[users] = t.loads[users].merge(load) if users in t.loads else load
    return _report(targets, levels, duration, rounds)


def _report(targets: list[Target], levels: tuple[int, ...], duration: float, rounds: int
            ) -> list[Section]:
    direct = next(t for t in targets if t.mode is None)
    base = summarize(direct.seq)["median"]
    alone = summarize(next(t for t in targets if t.mode == "local").seq)["median"]
    by_mode = {t.mode: t for t in targets}

    outer_share = alone - SLEEP  # the outer Gradio app's own queue (and the user's client), from the app alone
    rows: list[list[Any]] = []
    for t in targets:
        st = summarize(t.seq)
        hop = t.mode not in (None, "local")
        added_ms = f"{(st['median'] - base) * 1000:+.1f}" if hop else "—"
        outer = f"{outer_share * 1000:+.1f}" if hop else "—"
        client = f"{(st['median'] - base - outer_share) * 1000:+.1f}" if hop else "—"
        rows.append([t.label, st["n"], fmt_ms(st["median"], 1), fmt_ms(st["p99"], 1), added_ms, outer, client,
                     f"{t.seq_server_cpu / st['n'] * 1000:.2f}", f"{t.seq_upstream_cpu / st['n'] * 1000:.2f}"])
    seq_md = table(["path", "calls", "median ms", "p99 ms", "added by the hop ms", "of which the outer app ms",
                    "of which the hop's client ms", "app CPU ms/call", "upstream CPU ms/call"], rows)
    seq_md += (f"\n\nOne user, calls back to back, {rounds} interleaved rounds. \"added by the hop\" is the "
               "median minus the direct median. It splits into the outer Gradio app's own share (its queue, SSE and "
               "handler dispatch: the median of the outer app that sleeps 50 ms itself, minus 50 ms) and the rest, "
               "which is what the client making the upstream call costs beyond the raw floor client. \"app CPU\" "
               "is the process the user calls (the outer app; for the direct row, the upstream), from psutil.")

    lrows: list[list[Any]] = []
    for users in levels:
        for t in targets:
            load = t.loads[users]
            st = summarize(load.latencies)
            errors = "; ".join(f"{n}× {e}" for e, n in load.errors.most_common(2))
            if load.app_error:
                errors += f" (app log: `{load.app_error}`)"
            lrows.append([users, t.label, f"{load.throughput:.1f}", load.ok, load.failures, fmt_ms(st["median"], 1),
                          fmt_ms(st["p99"], 1), f"{load.server_cpu / max(load.ok, 1) * 1000:.2f}",
                          f"{load.generator_cpu / max(load.ok, 1) * 1000:.2f}", errors or "—"])
    load_md = table(["users", "path", "calls/s", "ok", "failures", "median ms", "p99 ms", "app CPU ms/call",
                     "load-generator CPU ms/call", "errors"], lrows)
    load_md += (f"\n\ncalls/s = successful calls / time from the start to the last success (so one stuck call does "
                "not stretch it). "
                f"Each user calls back to back for {duration:g} s after one warm-up call, in {rounds} rounds "
                "interleaved across paths (figures pooled); every call is bounded "
                f"({CALL_TIMEOUT:g} s). Each user is a thread with its own keep-alive httpx floor client in the bench "
                "process; \"load-generator CPU\" is that process's CPU per call.")

    verdicts: list[tuple[str, str, bool | None]] = []

    def added(t: Target) -> float:
        return summarize(t.seq)["median"] - base

    gc16 = by_mode["gc_shared"].loads[16].throughput
    for mode, note in (("compose_handler", ""), ("compose_call", " [proxy: ep.call in a handler]")):
        hop_target = by_mode[mode]
        a, thr, fails = added(hop_target), hop_target.loads[16].throughput, hop_target.loads[64].failures
        verdicts += [
            (f"≤ +10 ms per hop{note}", f"{a * 1000:+.1f} ms (of which the outer Gradio app {outer_share * 1000:+.1f}, "
             f"the client {(a - outer_share) * 1000:+.1f})", a <= 0.010),
            (f"≥ 2× the shared-Client handler's throughput at 16 users{note}",
             f"{thr:.1f} vs {gc16:.1f} calls/s = {thr / gc16:.2f}×" if gc16 else "n/a", bool(gc16) and thr >= 2 * gc16),
            (f"0 failures at 64 users{note}", str(fails), fails == 0),
        ]
    gl = added(by_mode["gr_load"])
    verdicts.append(("gr.load hop: about +80 ms (reference, not a compose target)", f"{gl * 1000:+.1f} ms", None))
    return [Section("One hop: added latency and outer CPU (50 ms endpoint)", seq_md, verdicts),
            Section("One hop under load: 16 and 64 concurrent users", load_md)]


if __name__ == "__main__":
    for s in run():
        print(f"\n## {s.title}\n\n{s.markdown}\n")
