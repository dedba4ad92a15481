"""Soak: many concurrent users through a composed outer app for a long while; failures, memory and sockets.

Three real upstream apps (spaces/streaming, calculator, media) run on 127.0.0.1; an outer Gradio app composed of
them with compose (`ep.handler()`) runs in its own process; `--users` simulated browsers speak Gradio's queue
protocol to it (join, SSE), each looping over a mix of calls:

    stream   count_up streamed through the outer app (3 updates, then the result)
    calc     2 + 3 = 5
    error    1 / 0: the upstream gr.Error must reach the browser as an error, with its message
    file     a 1 KiB file uploaded to the outer app, sent on to media's file_info, its summary back
    cancel   a 5 s long_job, cancelled by the browser after its first progress update

Every `--every` seconds it prints the calls so far, failures (a wrong result, an error where none belongs, no error
where one does, a call over the per-call deadline), the outer app's resident memory and its open sockets. Then the
result, the load average, and a verdict line: PASS when there were no failures, the outer app's RSS stayed within
8 MiB of where it was after the warm-up (the first quarter of the run) and its sockets went back to where they
started. Loopback only; every wait is bounded.

gradio's analytics: after every event, gradio (6.31) rebuilds a pandas table of the last GRADIO_ANALYTICS_MAX_EVENTS
events (10,000 by default), in a worker thread. Until that table is full the outer app's RSS grows with it (about
5 KiB an event here, so about +45 MiB by 10,000 events, which this load reaches only after 8-10 minutes), then it
stays: gradio's own bounded state, not compose's. The soak caps it at 1,000 events (`--gradio-analytics-events`),
so it fills during the warm-up and what the verdict measures after it is the composed app; pass 10000 to see
gradio's default. `--trace FILE` (tracemalloc top growth and object counts) and `--trim FILE` (RSS before and
after gc and malloc_trim, and the allocator's arenas in the outer app's log) are the diagnoses that found this.

Usage:
    python -m bench.soak                  # 10 minutes, 64 users, a report every 30 s
    python -m bench.soak --minutes 3 --users 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from compose.apps.processes import free_port, launch_spaces

CALL_DEADLINE = 60.0  # one simulated call, join to completion; past it, a failure
KINDS = ("stream", "calc", "error", "file", "cancel")


# --- the outer app (run in its own process: its memory and sockets are what is measured) ---------------------------


def serve(port: int, urls: dict[str, str]) -> None:
    if os.environ.get(PLAIN_ENV):  # serve on asyncio and h11, as a Space without uvloop and httptools does
        sys.modules["uvloop"] = sys.modules["httptools"] = None  # type: ignore[assignment]
    import gradio as gr

    import compose

    if os.environ.get(TRACE_ENV):
        trace_memory(Path(os.environ[TRACE_ENV]), float(os.environ.get(TRACE_EVERY_ENV, "60")))
    if os.environ.get(TRIM_ENV):
        trim_memory(Path(os.environ[TRIM_ENV]), float(os.environ.get(TRACE_EVERY_ENV, "60")))

    streaming, calculator, media = (compose.Space(urls[n]) for n in ("streaming", "calculator", "media"))
    # As a long-running app that serves files should run: gradio deletes its cached files (uploads, results) once
    # they are a minute old, and forgets them; without delete_cache its per-file records (and the disk) only grow.
    with gr.Blocks(delete_cache=(60, 60)) as demo:
        n, delay, counted = gr.Number(), gr.Number(), gr.Textbox()
        gr.Button().click(streaming.endpoint("/count_up").handler(), [n, delay], counted, api_name="stream")
        a, op, b, result = gr.Number(), gr.Textbox(), gr.Number(), gr.Number()
        gr.Button().click(calculator.endpoint("/calculate").handler(), [a, op, b], result, api_name="calc")
        f, report, summary = gr.File(), gr.File(), gr.Textbox()
        gr.Button().click(media.endpoint("/file_info").handler(), f, [report, summary], api_name="file")
        seconds, done = gr.Number(), gr.Textbox()
        gr.Button().click(streaming.endpoint("/long_job").handler(), seconds, done, api_name="long")
    demo.queue(default_concurrency_limit=None).launch(server_name="127.0.0.1", server_port=port, quiet=True,
                                                      show_error=True)


TRACE_ENV = "COMPOSE_SOAK_TRACEMALLOC"  # the outer app writes tracemalloc top-diffs to this file
TRACE_EVERY_ENV = "COMPOSE_SOAK_TRACEMALLOC_EVERY"


def trace_memory(out: Path, every: float) -> None:
    """In the outer app: trace allocations (one frame each, to keep the app's pace) and count live objects by type;
    every `every` seconds append to `out` the lines of code and the types whose live memory / count grew most since
    the first snapshot (taken `every` seconds in, after warm-up), and since the previous one."""
    import gc
    import threading
    import tracemalloc

    tracemalloc.start(1)
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "*/linecache.py"),
              tracemalloc.Filter(False, __file__)]

    def census() -> Counter[str]:
        return Counter(type(o).__qualname__ for o in gc.get_objects())

    def watch() -> None:
        time.sleep(every)
        first = previous = tracemalloc.take_snapshot().filter_traces(ignore)
        first_types = previous_types = census()
        started = time.monotonic()
        while True:
            time.sleep(every)
            snapshot = tracemalloc.take_snapshot().filter_traces(ignore)
            types = census()
            current, peak = tracemalloc.get_traced_memory()
            with out.open("a") as f:
                print(f"=== {time.monotonic() - started:.0f} s after the first snapshot; traced "
                      f"{current / 2**20:.1f} MiB (peak {peak / 2**20:.1f}), RSS {rss_mib(os.getpid()):.0f} MiB, "
                      f"{sum(types.values())} objects", file=f)
                for title, base, base_types in (("since the first", first, first_types),
                                                ("since the last", previous, previous_types)):
                    print(f"--- {title} snapshot: lines", file=f)
                    for stat in snapshot.compare_to(base, "lineno")[:20]:
                        print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d}  {stat.traceback[0]}",
                              file=f)
                    print(f"--- {title} snapshot: object types", file=f)
                    growth = Counter({k: types[k] - base_types.get(k, 0) for k in types})
                    for name, n in growth.most_common(12):
                        print(f"{n:+8d}  {name} ({types[name]})", file=f)
            previous, previous_types = snapshot, types

    threading.Thread(target=watch, daemon=True, name="soak-tracemalloc").start()


PLAIN_ENV = "COMPOSE_SOAK_PLAIN"  # the outer app runs without uvloop and httptools
TRIM_ENV = "COMPOSE_SOAK_TRIM"  # the outer app frees what its allocator keeps, and writes how much that was


def trim_memory(out: Path, every: float) -> None:
    """In the outer app: every `every` seconds, collect garbage and hand the C allocator's free memory back to the
    system (glibc's malloc_trim), appending RSS before and after each to `out`. Memory that comes back is free
    memory the allocator kept (fragmentation, per-thread arenas), not a leak; memory that stays is live."""
    import ctypes
    import gc
    import threading

    libc = ctypes.CDLL("libc.so.6")

    def watch() -> None:
        while True:
            time.sleep(every)
            before = rss_mib(os.getpid())
            gc.collect()
            collected = rss_mib(os.getpid())
            libc.malloc_trim(0)
            sys._debugmallocstats()  # pymalloc's arenas and pools, to the outer app's log (C stderr)
            status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
            with out.open("a") as f:
                print(f"RSS {before:.0f} MiB, after gc {collected:.0f} MiB, after malloc_trim "
                      f"{rss_mib(os.getpid()):.0f} MiB (anon {status['RssAnon'].strip()}, file "
                      f"{status['RssFile'].strip()}, threads {status['Threads'].strip()})", file=f, flush=True)

    threading.Thread(target=watch, daemon=True, name="soak-trim").start()


# --- the simulated browsers ----------------------------------------------------------------------------------------


class Browser:
    """One simulated user: one page (one session hash, as a browser tab has) for the whole run; Gradio's queue
    protocol over httpx."""

    def __init__(self, client: httpx.AsyncClient, url: str, fn: dict[str, int]) -> None:
        self.client, self.url, self.fn = client, url, fn
        self.session = secrets.token_hex(8)

    async def run(self, api_name: str, data: list[Any], *, cancel_after_progress: bool = False
                  ) -> dict[str, Any]:
        """Join `api_name` and read its events to the completion; the completion message (or a cancel's)."""
        session = self.session
        fn_index = self.fn[api_name]
        r = await self.client.post(f"{self.url}/gradio_api/queue/join", json={
            "data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None})
        r.raise_for_status()
        event_id = r.json()["event_id"]
        updates = 0
        async with self.client.stream("GET", f"{self.url}/gradio_api/queue/data",
                                      params={"session_hash": session}) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") not in (None, event_id):
                    # Another event of this page's session (the completion of a job cancelled earlier): the
                    # stream carries the whole session's messages, so a browser reads only its own event's.
                    continue
                kind = msg.get("msg")
                if kind == "process_generating":
                    updates += 1
                if kind == "progress" and cancel_after_progress:
                    cancel_after_progress = False
                    await self.client.post(f"{self.url}/gradio_api/cancel", json={
                        "session_hash": session, "fn_index": fn_index, "event_id": event_id})
                if kind == "process_completed":
                    return {**msg, "updates": updates}
        raise RuntimeError("the stream ended without a completion")

    async def upload(self, content: bytes) -> dict[str, Any]:
        r = await self.client.post(f"{self.url}/gradio_api/upload", files=[("files", ("soak.txt", content))])
        r.raise_for_status()
        path = r.json()[0]
        return {"path": path, "orig_name": "soak.txt", "size": len(content), "meta": {"_type": "gradio.FileData"}}


async def one_call(browser: Browser, kind: str) -> str | None:
    """Make one call of `kind`; None if it behaved, else what was wrong."""
    if kind == "stream":
        done = await browser.run("stream", [3, 0.05])
        ok = done.get("success") and done["output"]["data"] == ["1 2 3"] and done["updates"] >= 1
        return None if ok else f"stream: {str(done)[:200]}"
    if kind == "calc":
        done = await browser.run("calc", [2, "add", 3])
        return None if done.get("success") and done["output"]["data"] == [5] else f"calc: {str(done)[:200]}"
    if kind == "error":
        done = await browser.run("calc", [1, "divide", 0])
        ok = not done.get("success") and "divide by zero" in str(done.get("output", {}).get("error"))
        return None if ok else f"error: {str(done)[:200]}"
    if kind == "file":
        content = os.urandom(512).hex().encode()  # 1 KiB
        done = await browser.run("file", [await browser.upload(content)])
        ok = done.get("success") and done["output"]["data"][1] == f"soak.txt: {len(content)} bytes"
        return None if ok else f"file: {str(done)[:200]}"
    # cancel: a long job, cancelled after its first progress update; it must end (not run on, not hang)
    done = await browser.run("long", [5], cancel_after_progress=True)
    return None if done.get("msg") == "process_completed" else f"cancel: {str(done)[:200]}"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            pass
    return count


async def soak(url: str, pid: int, *, users: int, seconds: float, every: float) -> int:
    config = httpx.get(f"{url}/config", timeout=30).json()
    fn = {str(d["api_name"]): int(d["id"]) for d in config["dependencies"] if d.get("api_name")}
    calls: Counter[str] = Counter()
    failures: list[str] = []
    ends = time.monotonic() + seconds
    # Idle connections expire well before uvicorn drops them (5 s): a request sent on one it is closing is lost.
    limits = httpx.Limits(max_connections=users * 3, max_keepalive_connections=users * 2, keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(CALL_DEADLINE), limits=limits) as client:

        async def user(i: int) -> None:
            browser = Browser(client, url, fn)
            rng = random.Random(i)
            while time.monotonic() < ends:
                kind = rng.choice(KINDS)
                try:
                    problem = await asyncio.wait_for(one_call(browser, kind), CALL_DEADLINE)
                except Exception as e:  # a hang (past the deadline), a refused join, a broken stream
                    problem = f"{kind}: {e!r}"[:200]
                calls[kind] += 1
                if problem is not None:
                    failures.append(problem)
                    await asyncio.sleep(0.5)  # a broken app must not turn this loop into a busy one

        samples: list[tuple[float, float]] = []  # (seconds in, outer RSS in MiB), one per report

        async def report() -> None:
            started = time.monotonic()
            while time.monotonic() < ends:
                await asyncio.sleep(min(every, max(0.0, ends - time.monotonic())))
                samples.append((time.monotonic() - started, rss_mib(pid)))
                print(f"[{samples[-1][0]:6.0f} s] calls {sum(calls.values()):6d} "
                      f"({', '.join(f'{k} {calls[k]}' for k in KINDS)}), failures {len(failures)}, "
                      f"outer RSS {samples[-1][1]:.0f} MiB, open sockets {open_sockets(pid)}", flush=True)

        first_rss, first_sockets = rss_mib(pid), open_sockets(pid)
        await asyncio.gather(report(), *(user(i) for i in range(users)))
    # Let the outer app finish what the last cancels started, then look once more.
    await asyncio.sleep(5)
    last_rss, last_sockets = rss_mib(pid), open_sockets(pid)
    for problem in failures[:10]:
        print("  failure:", problem)
    total = sum(calls.values())
    print(f"soak result: {seconds / 60:g} min, {users} users, {total} calls "
          f"({', '.join(f'{k} {calls[k]}' for k in KINDS)}), {len(failures)} failures; outer app RSS "
          f"{first_rss:.0f} -> {last_rss:.0f} MiB, open sockets {first_sockets} -> {last_sockets}", flush=True)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min)", flush=True)
    ok, verdict = judge(len(failures), samples, last_rss, first_sockets, last_sockets)
    print(f"soak verdict: {'PASS' if ok else 'FAIL'}: {verdict}", flush=True)
    return 0 if ok else 1


WARM_UP = 0.25  # the first quarter of a run (at least one report) fills caches and pools; flatness is judged after
FLAT_MIB = 8.0  # RSS may drift this much after the warm-up and still be flat (allocator noise, a late pool)
SOCKETS_LEFT = 8  # open sockets the outer app may keep above its start once the users are gone (keep-alive pools)


def judge(failures: int, samples: list[tuple[float, float]], last_rss: float, first_sockets: int,
          last_sockets: int) -> tuple[bool, str]:
    """The soak's line: no failures, memory flat after the warm-up, sockets back to where they started."""
    problems = []
    if failures:
        problems.append(f"{failures} failures")
    if len(samples) < 3:
        problems.append("too short to judge memory (fewer than 3 reports)")
        drift = ""
    else:
        ends = samples[-1][0]
        warm = next((s for s in samples if s[0] >= ends * WARM_UP), samples[0])
        peak = max(rss for at, rss in samples if at >= warm[0])
        grew = max(peak, last_rss) - warm[1]
        slope = (samples[-1][1] - warm[1]) / max(1e-9, (samples[-1][0] - warm[0]) / 60)
        drift = (f"outer RSS {warm[1]:.0f} MiB after the warm-up ({warm[0]:.0f} s), at most {max(peak, last_rss):.0f}"
                 f" MiB later, {last_rss:.0f} MiB at the end ({slope:+.1f} MiB/min)")
        if grew > FLAT_MIB:
            problems.append(f"memory not flat: +{grew:.0f} MiB after the warm-up (limit {FLAT_MIB:g})")
    if last_sockets > first_sockets + SOCKETS_LEFT:
        problems.append(f"{last_sockets - first_sockets} more sockets open than at the start")
    summary = "; ".join(p for p in (f"{failures} failures", drift,
                                    f"open sockets {first_sockets} -> {last_sockets}") if p)
    return not problems, summary if not problems else f"{'; '.join(problems)} ({summary})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between reports")
    parser.add_argument("--gradio-analytics-events", type=int, default=1000, metavar="N",
                        help="GRADIO_ANALYTICS_MAX_EVENTS for the outer app (gradio's default: 10000; see the module "
                        "docstring)")
    parser.add_argument("--trace", type=Path, help="the outer app traces its allocations (tracemalloc, slow) and "
                        "appends the top growth since warm-up to this file every --every seconds")
    parser.add_argument("--trim", type=Path, help="the outer app collects garbage and trims the C allocator's free "
                        "memory every --every seconds, appending RSS before and after to this file (a diagnosis)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # internal: run the outer app on this port
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, json.loads(args.urls))
        return
    env = {"GRADIO_DEFAULT_CONCURRENCY_LIMIT": str(args.users)}
    with launch_spaces(["streaming", "calculator", "media"], env=env) as running:
        urls = {name: s.url for name, s in running.items()}
        port = free_port()
        # The outer app's own log (gradio prints each gr.Error it passes on) goes to a file, not over the reports.
        log = Path(tempfile.mkdtemp(prefix="compose-soak-")) / "outer.log"
        outer_env = dict(os.environ)
        outer_env[TRACE_EVERY_ENV] = str(args.every)
        outer_env["GRADIO_ANALYTICS_MAX_EVENTS"] = str(args.gradio_analytics_events)
        if args.trace:
            outer_env[TRACE_ENV] = str(args.trace.resolve())
        if args.trim:
            outer_env[TRIM_ENV] = str(args.trim.resolve())
        outer = subprocess.Popen([sys.executable, "-m", "bench.soak", "--serve", str(port), "--urls", json.dumps(urls)],
                                 env=outer_env, cwd=Path(__file__).resolve().parent.parent, stdout=log.open("w"),
                                 stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{url}/config", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or outer.poll() is not None:
                    raise SystemExit("the outer app did not start")
                time.sleep(0.5)
            print(f"soak: {args.users} users for {args.minutes:g} min through {url} "
                  f"(upstreams: {', '.join(urls)}; gradio's analytics keep {args.gradio_analytics_events} events; "
                  f"the outer app's log: {log}; load average {os.getloadavg()[0]:.1f})", flush=True)
            code = asyncio.run(soak(url, outer.pid, users=args.users, seconds=args.minutes * 60, every=args.every))
        finally:
            outer.terminate()
            try:
                outer.wait(10)
            except subprocess.TimeoutExpired:
                outer.kill()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
