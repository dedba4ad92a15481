"""The real Gradio apps behind an emulated Space: 1..N replicas, each its own server on 127.0.0.1.

A source is a folder like those under spaces/ (each replica its own process, as on Hugging Face), a `gr.Blocks`
(one replica, in this process) or a callable returning a fresh `gr.Blocks` (N replicas, in this process).

Usage: `running = start_replicas("spaces/translator", 2); running.urls; running.stop()`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..local import LocalSpace, start_space, wait_ready

__all__ = ["Replicas", "start_replicas"]


@dataclass
class Replicas:
    urls: list[str]
    _processes: list[LocalSpace] = field(default_factory=list)
    _blocks: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for local in self._processes:
            local.stop()
        for blocks in self._blocks:
            blocks.close()

    def kill(self, index: int) -> None:
        """End one replica at once (a crash), leaving the others running."""
        if self._processes:
            self._processes[index].process.kill()
            self._processes[index].process.wait(10)
        else:
            self._blocks[index].close()


def start_replicas(source: Any, count: int = 1, *, env: dict[str, str] | None = None,
                   timeout: float = 120.0) -> Replicas:
    """Start `count` replicas of `source` and wait until each serves."""
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source).resolve()
        started = [start_space(folder.name, spaces_dir=folder.parent, env=env) for _ in range(count)]
        running: list[LocalSpace] = []
        try:
            for process, temp_dir, _ in started:
                running.append(wait_ready(folder.name, process, temp_dir, timeout=timeout))
        except BaseException:
            for process, _, _ in started:
                process.kill()
            raise
        return Replicas([r.url for r in running], _processes=running)
    blocks: list[Any] = []
    if callable(source) and not hasattr(source, "launch"):
        factory: Callable[[], Any] = source
        blocks = [factory() for _ in range(count)]
    elif hasattr(source, "launch"):
        if count != 1:
            raise ConfigError("a gr.Blocks object runs as one replica; pass a function returning a fresh gr.Blocks "
                              "for several")
        blocks = [source]
    else:
        raise ConfigError(f"cannot run {source!r} as a Space: give a folder, a gr.Blocks or a function returning one")
    for demo in blocks:
        demo.queue(default_concurrency_limit=None).launch(prevent_thread_lock=True, server_name="127.0.0.1",
                                                          quiet=True, show_error=True)
    return Replicas([str(demo.local_url).rstrip("/") for demo in blocks], _blocks=blocks)
