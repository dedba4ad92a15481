"""Run the benchmarks and write bench/RESULTS.md.

Usage:
    python -m bench.run                 # everything (4–9 min on 2 cores, by load; core ~2 min); `make bench`
    python -m bench.run --only core     # or --only hop
    python -m bench.run --quick         # fewer calls, for checking that the bench itself works
    python -m bench.run --no-write      # print only

Benchmarks, not tests: nothing here fails on a timing. Targets are reported as met or not, next to the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import core, hop
from .core import Section, table

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
ROOT = RESULTS.parent.parent


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "compose"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted changes in compose/' if dirty else ''}"


def machine(load_before: float, load_after: float) -> str:
    rows: list[list[Any]] = [
        ["cores (nproc)", os.cpu_count()],
        ["CPU", _cpu_model()],
        ["Python", platform.python_version()],
        ["gradio / gradio_client", f"{_version('gradio')} / {_version('gradio_client')}"],
        ["httpx / httpcore / anyio", f"{_version('httpx')} / {_version('httpcore')} / {_version('anyio')}"],
        ["httptools / uvloop", f"{_version('httptools')} / {_version('uvloop')}"],
        ["gradio-compose", f"{_version('gradio-compose')} (git {_git()})"],
        ["load average (1 min) at start / end", f"{load_before:.2f} / {load_after:.2f}"],
    ]
    return table(["machine", ""], rows)


def verdict_table(sections: list[Section]) -> str:
    rows = []
    for s in sections:
        for target, measured, met in s.verdicts:
            rows.append([target, measured, "—" if met is None else ("yes" if met else "**no**")])
    return table(["target", "measured", "met"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["core", "hop"], help="run one part")
    parser.add_argument("--quick", action="store_true", help="fewer calls: check the bench works, not the figures")
    parser.add_argument("--no-diagnostics", action="store_true", help="skip the profile and keep-alive experiment")
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not write {RESULTS.name}")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the markdown")
    args = parser.parse_args(argv)

    started, load_before = time.perf_counter(), os.getloadavg()[0]
    sections: list[Section] = []
    if args.only in (None, "core"):
        sections += core.run(quick=args.quick, diagnostics=not args.no_diagnostics)
    if args.only in (None, "hop"):
        sections += hop.run(quick=args.quick)
    elapsed, load_after = time.perf_counter() - started, os.getloadavg()[0]

    command = "python -m bench.run" + (f" --only {args.only}" if args.only else "") + (
        " --quick" if args.quick else "")
    parts = [
        "# Benchmark results",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `{command}` in {elapsed:.0f} s"
        + (" (**quick mode: few samples**)" if args.quick else "") + ".",
        machine(load_before, load_after),
        "Every server is a real Gradio app on 127.0.0.1 in its own process; clients run in the bench process. The "
        "machine is shared and noisy, so read the ratios (measured side by side, interleaved) rather than the "
        "absolute milliseconds. \"Floor\" is one keep-alive `httpx.Client` speaking Gradio's queue protocol by hand.",
        "## Targets",
        verdict_table(sections),
    ]
    parts += [f"## {s.title}\n\n{s.markdown}" for s in sections]
    parts.append(
        "## How to rerun\n\n"
        "```\nmake bench                      # = .venv/bin/python -m bench.run\n"
        ".venv/bin/python -m bench.run --only core    # or --only hop; --quick for a fast check\n```\n\n"
        "It launches translator, streaming and media from spaces/, and bench/apps/sleep50 plus one bench/apps/outer "
        "per hop, on 127.0.0.1; stops them; prints these tables and rewrites bench/RESULTS.md (`--no-write` to "
        "skip). All traffic stays on loopback.")
    text = "\n\n".join(parts) + "\n"
    print("\n" + text)
    if not args.no_write:
        args.output.write_text(text)
        print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
