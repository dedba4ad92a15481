"""`compose demo` as a user runs it: a taken port, signals that must stop every Space server it started, a quiet
console that lists the Spaces by name and URL; and the parameter descriptions our spaces/ publish."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

import compose
from compose.apps.demo import pick_port

ROOT = Path(__file__).resolve().parent.parent


def _lines(process: subprocess.Popen[str], seen: list[str], ready: threading.Event) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line.rstrip())
        if "Agent chat running at" in line:
            ready.set()
    ready.set()


def _start_demo(*args: str, tmp_path: Path) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "COMPOSE_CACHE_DIR": str(tmp_path), "COLUMNS": "200"}
    process = subprocess.Popen([sys.executable, "-m", "compose.apps.cli", "demo", "--model", "router", *args],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    ready = threading.Event()
    threading.Thread(target=_lines, args=(process, seen, ready), daemon=True).start()
    ready.wait(200)
    return process, seen


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


# Starting three Gradio servers takes 10-20 s on an idle 2-core machine (a minute when five people share it).
@pytest.mark.timeout(240)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_demo_and_every_space_server_it_started(signum: int, taken_port: int,
                                                                     tmp_path: Path) -> None:
    process, seen = _start_demo("--port", str(taken_port), tmp_path=tmp_path)
    try:
        running = next((line for line in seen if "Agent chat running at" in line), None)
        assert running is not None, "\n".join(seen)
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 3  # the three Space servers
        # The taken port was not fatal: the next free one, said in one line that names --port.
        port = int(re.search(r":(\d+)/", running).group(1))  # type: ignore[union-attr]
        assert port != taken_port
        assert any(f"Port {taken_port} is taken" in line and "--port" in line for line in seen)
        # Spaces by name and URL; no agent panels or tracebacks on a quiet console.
        for name in ("calculator", "translator", "streaming"):
            assert any(re.match(rf"\s+{name}\s+http://127\.0\.0\.1:\d+$", line) for line in seen), seen
        process.send_signal(signum)
        assert process.wait(60) == 0
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], f"still running after {signal.Signals(signum).name}: {alive}"
        assert not any("Traceback" in line for line in seen), "\n".join(seen)
    finally:
        if process.poll() is None:
            process.kill()


def test_a_port_range_all_taken_is_a_clear_error_naming_port(taken_port: int) -> None:
    with pytest.raises(compose.ConfigError, match="--port"):
        pick_port("127.0.0.1", taken_port, tries=0)
    assert pick_port("127.0.0.1", taken_port) != taken_port


def test_our_spaces_publish_parameter_descriptions(urls: dict[str, str]) -> None:
    from typer.testing import CliRunner

    from compose.apps.cli import app

    calculate = compose.Space(urls["calculator"]).endpoint("/calculate")
    assert [p.description for p in calculate.parameters] == ["the first number.", "which operation to apply.",
                                                             "the second number."]
    assert calculate.tool().inputs["operation"]["description"].startswith("which operation to apply.")
    out = CliRunner().invoke(app, ["inspect", urls["translator"], "--json"]).stdout
    translate = next(ep for ep in json.loads(out)["endpoints"] if ep["name"] == "/translate")
    assert [p["description"] for p in translate["parameters"]] == ["the English text to translate.",
                                                                   "the language to translate into."]


def test_the_demos_own_spaces_receive_the_visitors_ip_token_and_configured_ones_keep_the_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo launches its Spaces on loopback and forwards the visitor's x-ip-token to them explicitly, so a
    visitor's identity reaches the Space their question called, as on Hugging Face; a Space given with --spaces
    keeps compose's default (a visitor's headers go to Hugging Face origins only)."""
    from scripted import ScriptedModel
    from smolagents import ToolCallingAgent

    from compose.apps.demo import build_registry, demo_sources

    monkeypatch.delenv("COMPOSE_SPACES", raising=False)
    visitor = f"ipt-demo-{os.getpid()}-{id(monkeypatch)}"

    def seen_by_whoami(sources: dict[str, Any]) -> str:
        tools = build_registry(list(sources.values())).tools()
        name = next(t.name for t in tools if "whoami" in t.name)
        model = ScriptedModel([[(name, {})], [("final_answer", {"answer": "done"})]])
        agent = ToolCallingAgent(tools=tools, model=model, verbosity_level=0)
        with compose.identity(session=visitor, headers={"x-ip-token": visitor}):
            final = list(compose.stream_trace(agent, "who am I?"))[-1]
        done = [m for m in final if f"Used tool {name}" in (m.metadata or {}).get("title", "")]
        assert done and done[0].metadata["status"] == "done", final
        return str(done[0].content)

    with demo_sources(None, local=("diagnostics",)) as launched:
        assert visitor in seen_by_whoami(launched)
        url = launched["diagnostics"].url
        with demo_sources([url]) as configured:
            assert visitor not in seen_by_whoami(configured)
