"""The real Gradio apps behind an emulated Space: 1..N replicas, each its own server on 127.0.0.1.

A source is a folder like those under spaces/ (each replica its own process, as on Hugging Face), a `gr.Blocks`
(one replica, in this process) or a callable returning a fresh `gr.Blocks` (N replicas, in this process).

A restart (`restart(index)`, or all of them again after a sleep) is what Hugging Face's is: a fresh process or a
fresh `gr.Blocks` server, so the app has a new app id and every session's state is gone; the replica's URL changes.

Usage: `running = start_replicas("spaces/translator", 2); running.urls; running.restart(0); running.stop()`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..apps.processes import LocalSpace, start_space, wait_ready
from ..errors import ConfigError

__all__ = ["Replicas", "start_replicas"]


@dataclass
class Replicas:
    urls: list[str]
    _processes: list[LocalSpace] = field(default_factory=list)
    _blocks: list[Any] = field(default_factory=list)
    source: Any = None
    env: dict[str, str] | None = None
    timeout: float = 120.0

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

    def restart(self, index: int) -> str:
        """Stop replica `index` and start it afresh (new app id, no session state); returns its new URL."""
        if self._processes:
            self._processes[index].stop()
            fresh = start_replicas(self.source, 1, env=self.env, timeout=self.timeout)
            self._processes[index] = fresh._processes[0]
        else:
            old = self._blocks[index]
            old.close()
            # A factory makes a fresh gr.Blocks; the one gr.Blocks given is served again (see _launch).
            demo = self.source() if callable(self.source) and not hasattr(self.source, "launch") else old
            _launch(demo)
            self._blocks[index] = demo
            fresh = Replicas([_url(demo)])
        self.urls[index] = fresh.urls[0]
        return self.urls[index]


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
        return Replicas([r.url for r in running], _processes=running, source=source, env=env, timeout=timeout)
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
        _launch(demo)
    return Replicas([_url(demo) for demo in blocks], _blocks=blocks, source=source, env=env, timeout=timeout)


def _launch(demo: Any) -> None:
    if demo.local_url is not None:
        # A gr.Blocks served before (a restart, a wake-up): a new server (whose state holder is new) under a new app
        # id, which is what a restarted app shows its clients (gradio draws it once, in Blocks()).
        demo.app_id = random.getrandbits(64)
    demo.queue(default_concurrency_limit=None).launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                                                      show_error=True)


def _url(demo: Any) -> str:
    return str(demo.local_url).rstrip("/")
