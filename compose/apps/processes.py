"""Run the apps of a `spaces/` folder as real Gradio servers on 127.0.0.1 (for the demo, tests and benchmarks).

Each app runs unchanged, as it would on Hugging Face, in its own process; `GRADIO_SERVER_NAME/PORT` place it on
loopback and its own `GRADIO_TEMP_DIR` keeps its uploads apart.

Usage:
    with launch_spaces(["calculator", "translator"]) as running:
        print(running["calculator"].url)
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, SpaceUnavailable

__all__ = ["LocalSpace", "default_spaces_dir", "launch_spaces", "start_space"]

_URL = re.compile(r"Running on local URL:\s+(http://\S+)")


def default_spaces_dir() -> Path:
    """The repository's spaces/ folder (or `COMPOSE_SPACES_DIR`)."""
    env = os.environ.get("COMPOSE_SPACES_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "spaces"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalSpace:
    """One app running on loopback: its `url`, its process and its upload folder (`temp_dir`)."""

    name: str
    url: str
    process: subprocess.Popen[str]
    temp_dir: Path
    log: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# Run an app as Hugging Face runs a Space: with what its requirements install. uvicorn (under gradio) switches to
# uvloop and httptools whenever they are importable, and compose installs both, so a plain Gradio app launched from
# this environment would serve on a faster stack than its real Space does (flattering every benchmark against it).
# An app that imports compose gets both on its Space too, through compose's requirements.
_WITHOUT_COMPOSE_DEPS = ("import runpy, sys; sys.modules['uvloop'] = sys.modules['httptools'] = None; "
                         "sys.argv = ['app.py']; runpy.run_path('app.py', run_name='__main__')")


def start_space(
    name: str, *, spaces_dir: Path | None = None, port: int | None = None, env: dict[str, str] | None = None,
    temp_dir: Path | None = None, compose_deps: bool | None = None,
) -> tuple[subprocess.Popen[str], Path, int]:
    """Start one app as its Space would run it; returns at once (see `wait_ready`).

    `compose_deps`: whether the app's environment has compose's dependencies (uvloop, httptools) as its Space
    would; by default, when the app imports compose (see `_WITHOUT_COMPOSE_DEPS`).
    """

    folder = (spaces_dir or default_spaces_dir()) / name
    if not (folder / "app.py").is_file():
        raise ConfigError(f"no app at {folder}/app.py")
    port = port or free_port()
    temp_dir = temp_dir or Path(tempfile.mkdtemp(prefix=f"compose-{name}-"))
    full_env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
                "GRADIO_TEMP_DIR": str(temp_dir), "GRADIO_ANALYTICS_ENABLED": "False",
                "PYTHONUNBUFFERED": "1", **(env or {})}
    if compose_deps is None:
        from .deploy import imports_compose

        compose_deps = imports_compose(folder)
    process = subprocess.Popen(
        [sys.executable, "app.py"] if compose_deps else [sys.executable, "-c", _WITHOUT_COMPOSE_DEPS],
        cwd=folder, env=full_env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    return process, temp_dir, port


def wait_ready(name: str, process: subprocess.Popen[str], temp_dir: Path, timeout: float = 180.0) -> LocalSpace:
    """Read the app's output until it prints its URL (or dies, or the deadline passes)."""
    assert process.stdout is not None
    lines: list[str] = []
    found: list[str] = []
    done = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            m = _URL.search(line)
            if m and not found:
                found.append(m.group(1).rstrip("/"))
                done.set()
        process.stdout.close()  # the process ended: its log pipe too (left open, the garbage collector reports it)
        done.set()

    threading.Thread(target=pump, name=f"log-{name}", daemon=True).start()
    started = time.monotonic()
    try:
        done.wait(timeout)
    except BaseException:
        # Interrupted while waiting (Ctrl-C, a test's timeout): the app is ours to stop, nobody else knows of it
        # yet (seen: a restart test timed out here and its app served on for an hour).
        process.kill()
        raise
    if not found:
        process.kill()
        tail = "\n".join(lines[-15:])
        waited = time.monotonic() - started
        raise SpaceUnavailable(f"local app {name!r} did not start within {waited:.0f} s:\n{tail}", space=name)
    return LocalSpace(name=name, url=found[0], process=process, temp_dir=temp_dir, log=lines)


@contextlib.contextmanager
def launch_spaces(
    names: Sequence[str], *, spaces_dir: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[dict[str, LocalSpace]]:
    """Start several apps in parallel on loopback and stop them on exit."""
    started = [(n, *start_space(n, spaces_dir=spaces_dir, env=env)[:2]) for n in names]
    running: dict[str, LocalSpace] = {}
    try:
        for name, process, temp_dir in started:
            running[name] = wait_ready(name, process, temp_dir)
        yield running
    finally:
        for _, process, _ in started:
            if process.poll() is None:
                process.terminate()
        for _, process, _ in started:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
