"""The main app on its embedded default: local spaces/ on loopback as the "remote Spaces", an agent chat over them.

`make demo` and `compose demo` run this. Pointing it at real Spaces is configuration: `--spaces owner/a,owner/b`
or `COMPOSE_SPACES=owner/a,owner/b`.

It serves on `--port` (7860), or on the next free port when that one is taken (and says so); Ctrl+C, SIGTERM and
SIGHUP stop it and every Space server it started. The console stays quiet: the Spaces by name and URL, the model,
the chat's URL; `--verbose` adds the agents' step-by-step panels.

The Spaces it launches itself on loopback are configured to receive the visitor's `x-ip-token`
(`forward_headers=LOCAL_FORWARD`): by default a visitor's headers go to Hugging Face origins only, and the demo is
meant to show the identity flow as it runs there. Spaces given by `--spaces` keep the default.

Usage: `run_demo()` (blocks until interrupted), or `build_demo(["http://127.0.0.1:7861"])` for a Blocks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import time
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

from ..errors import ConfigError
from ..space import Space

__all__ = ["DEMO_SPACES", "EXAMPLES", "LOCAL_FORWARD", "PORT_TRIES", "build_demo", "demo_sources", "pick_port",
           "run_demo"]

PORT_TRIES = 20  # ports tried after a taken --port

DEMO_SPACES = ("calculator", "translator", "streaming")
EXAMPLES = ["what is 12 times 7", "translate 'good morning' to French", "run the long job for 5 seconds"]
# What the demo's own loopback Spaces receive of the visitor's headers, as a Space on Hugging Face would.
LOCAL_FORWARD = ("x-ip-token",)

Source = str | Space  # a Space id or URL (compose's defaults), or a Space configured already


def build_registry(sources: Sequence[Source]) -> Any:
    """Every public endpoint of the given Spaces, as tools (the long job under a short name for the examples)."""
    from ..agent.registry import ToolRegistry

    registry = ToolRegistry()
    for src in sources:
        space = src if isinstance(src, Space) else Space(src)
        for name, ep in space.endpoints.items():
            if name == "/job_log":
                continue  # a diagnostics endpoint of the local streaming app, not a tool anyone asks for
            registry.add(ep)
    return registry


def build_demo(sources: Sequence[Source], model: Any = None, *, verbose: bool = False) -> Any:
    """The AgentChat over `sources` (Space ids or URLs); `verbose` prints each agent's steps on the console."""
    from .chat import AgentChat

    return AgentChat(tools=build_registry(sources), model=model, examples=EXAMPLES, verbose=verbose,
                     title="gradio-compose: an agent whose tools are Gradio Spaces")


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise ConfigError(f"cannot serve on {host}:{port}: {e.strerror}; choose another with --host/--port") \
                from None
    return True


def pick_port(host: str, port: int, tries: int = PORT_TRIES) -> int:
    """`port` if it is free on `host`, else the next free one of the following `tries`; ConfigError (naming
    --port) when all are taken."""
    for candidate in range(port, min(port + tries + 1, 65536)):
        if _free(host, candidate):
            return candidate
    raise ConfigError(f"ports {port}-{port + tries} on {host} are all taken; choose a free one with --port")


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the demo as Ctrl+C does, so the `with` blocks that started servers stop them."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def demo_sources(spaces: Sequence[str] | None, *, local: Sequence[str] = DEMO_SPACES
                 ) -> Iterator[dict[str, Source]]:
    """The configured Spaces (name → id or URL, compose's defaults), or the `local` spaces/ launched on loopback for
    as long as the block runs (name → a Space of that URL, which the visitor's `x-ip-token` reaches)."""
    configured = list(spaces or []) or [s for s in os.environ.get("COMPOSE_SPACES", "").split(",") if s.strip()]
    if configured:
        yield {s.strip(): s.strip() for s in configured}
        return
    from .processes import launch_spaces

    with launch_spaces(local) as running:
        # Ours, on loopback: forwarding the visitor's identity to them is the demo's explicit choice.
        yield {name: Space(running[name].url, forward_headers=LOCAL_FORWARD) for name in local}


def run_demo(host: str = "127.0.0.1", port: int = 7860, spaces: Sequence[str] | None = None,
             model: str | None = None, verbose: bool = False) -> None:
    """Start the Spaces (if local), build the chat, print its URL and serve until interrupted (Ctrl+C, SIGTERM or
    SIGHUP), then stop every server it started."""
    from rich.console import Console

    console = Console(highlight=False)
    chosen = pick_port(host, port)  # before starting anything: a clear error costs nothing
    if chosen != port:
        console.print(f"Port {port} is taken; serving on {chosen} instead (choose one with --port).")
    with _stop_on_signals():
        try:
            _serve(console, host, chosen, spaces, model, verbose)
        except KeyboardInterrupt:
            console.print("Stopped.")


def _serve(console: Any, host: str, port: int, spaces: Sequence[str] | None, model: str | None,
           verbose: bool) -> None:
    console.print("Starting the Spaces (the local spaces/ on loopback unless --spaces is given)…")
    with demo_sources(spaces) as sources:
        width = max(len(name) for name in sources)
        console.print("Spaces:\n" + "\n".join(f"  {name.ljust(width)}  {src.url if isinstance(src, Space) else src}"
                                               for name, src in sources.items()))
        with console.status("Loading the model…"):
            chat = build_demo(list(sources.values()), model=model, verbose=verbose)
        console.print(f"Model: {chat.model_label}")
        try:
            chat.demo.queue(default_concurrency_limit=None).launch(server_name=host, server_port=port,
                                                                    prevent_thread_lock=True, quiet=True)
        except OSError as e:  # taken between the check and now
            raise ConfigError(f"cannot serve on {host}:{port} ({e}); choose a free port with --port") from None
        console.print(f"\n[bold green]Agent chat running at {chat.demo.local_url}[/]  (Ctrl+C to stop)\n")
        try:
            while chat.demo.is_running:  # gradio's block_thread() would swallow Ctrl+C with a message of its own
                time.sleep(0.2)
        finally:
            chat.demo.close()
