"""The main app on its embedded default: local spaces/ on loopback as the "remote Spaces", an agent chat over them.

`make demo` and `compose demo` run this. Pointing it at real Spaces is configuration: `--spaces owner/a,owner/b`
or `COMPOSE_SPACES=owner/a,owner/b`.

Usage: `run_demo()` (blocks until interrupted), or `build_demo(["http://127.0.0.1:7861"])` for a Blocks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

from .space import Space

__all__ = ["DEMO_SPACES", "EXAMPLES", "build_demo", "demo_sources", "run_demo"]

DEMO_SPACES = ("calculator", "translator", "streaming")
EXAMPLES = ["what is 12 times 7", "translate 'good morning' to French", "run the long job for 5 seconds"]


def build_registry(sources: Sequence[str]) -> Any:
    """Every public endpoint of the given Spaces, as tools (the long job under a short name for the examples)."""
    from .registry import ToolRegistry

    registry = ToolRegistry()
    for src in sources:
        space = Space(src)
        for name, ep in space.endpoints.items():
            if name == "/job_log":
                continue  # a diagnostics endpoint of the local streaming app, not a tool anyone asks for
            registry.add(ep)
    return registry


def build_demo(sources: Sequence[str], model: Any = None) -> Any:
    """The AgentChat over `sources` (Space ids or URLs)."""
    from .chat import AgentChat

    return AgentChat(tools=build_registry(sources), model=model, examples=EXAMPLES,
                     title="gradio-compose: an agent whose tools are Gradio Spaces")


@contextlib.contextmanager
def demo_sources(spaces: Sequence[str] | None) -> Iterator[list[str]]:
    """The configured Spaces, or the local spaces/ launched on loopback for as long as the block runs."""
    configured = list(spaces or []) or [s for s in os.environ.get("COMPOSE_SPACES", "").split(",") if s.strip()]
    if configured:
        yield [s.strip() for s in configured]
        return
    from .local import launch_spaces

    with launch_spaces(DEMO_SPACES) as running:
        yield [running[name].url for name in DEMO_SPACES]


def run_demo(host: str = "127.0.0.1", port: int = 7860, spaces: Sequence[str] | None = None,
             model: str | None = None) -> None:
    """Start the Spaces (if local), build the chat, print its URL and serve until interrupted."""
    from rich.console import Console

    console = Console()
    console.print("Starting the Spaces (the local spaces/ on loopback unless --spaces is given)…")
    with demo_sources(spaces) as sources:
        console.print(f"Spaces: {', '.join(sources)}")
        with console.status("Loading the model…"):
            chat = build_demo(sources, model=model)
        console.print(f"Model: {chat.model_label}")
        chat.demo.queue(default_concurrency_limit=None).launch(server_name=host, server_port=port,
                                                                prevent_thread_lock=True, quiet=True)
        console.print(f"\n[bold green]Agent chat running at {chat.demo.local_url}[/]  (Ctrl+C to stop)\n")
        try:
            chat.demo.block_thread()
        finally:
            chat.demo.close()
