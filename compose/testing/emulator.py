"""`Hub`: the emulated Hugging Face (Hub API + Spaces edge + CONNECT tunnel) on 127.0.0.1, run on its own thread.

Usage:
    with compose.testing.hub(spaces={"owner/app": "spaces/translator"}, replicas={"owner/app": 2}) as hub:
        compose.Space("owner/app").endpoint("/translate").predict("hello", "French")
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from .edge import edge_app
from .hubapi import hub_api
from .replicas import Replicas, start_replicas
from .tls import EdgeTLS
from .tunnel import start_tunnel
from .world import Charge, EmulatedSpace, World

__all__ = ["Hub", "hub"]

_ENV_KEYS = ("HF_ENDPOINT", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "SSL_CERT_FILE",
             "HF_HUB_DISABLE_TELEMETRY")


class Hub:
    """One emulator. Start it with `hub(...)` (a context manager) or the `hub_fixture` pytest fixture.

    `spaces` maps Space ids to what runs them (a spaces/-like folder, a `gr.Blocks`, or a function returning one),
    `replicas` how many replicas each runs (default 1), `private` which are private, `zero_gpu` which run on
    ZeroGPU hardware (only what the Hub reports; billing is `compose.testing.zero_gpu`'s), `gpu_quota` the GPU
    seconds per period of anonymous and signed-in visitors (`{"anonymous": 120, "user": 300}`).
    """

    def __init__(self, spaces: Mapping[str, Any] | None = None, *, replicas: Mapping[str, int] | None = None,
                 private: set[str] | frozenset[str] = frozenset(), zero_gpu: set[str] | frozenset[str] = frozenset(),
                 gpu_quota: dict[str, float] | None = None, wake_seconds: float = 2.0) -> None:
        self.world = World(gpu_quota=gpu_quota)
        self._folder = Path(tempfile.mkdtemp(prefix="compose-testing-"))
        self.tls = EdgeTLS(self._folder)
        self._replicas: dict[str, Replicas] = {}
        self._counts: dict[str, int] = {}  # replicas per Space, for a restart after a pause
        self._waking: dict[str, threading.Thread] = {}  # a sleeping Space's fresh replicas, starting
        self._life = threading.RLock()  # one start, restart or stop of a Space's replicas at a time
        self._errors: dict[str, str] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="compose-testing-hub", daemon=True)
        self._runners: list[web.AppRunner] = []
        self._saved_env: dict[str, str | None] | None = None
        self._saved_hf: tuple[str, str] | None = None
        self.endpoint = self.proxy = ""
        self._initial = (dict(spaces or {}), dict(replicas or {}), set(private), set(zero_gpu), wake_seconds)

    # --- life cycle -----------------------------------------------------------------------------------------------

    def start(self) -> Hub:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(30)
        spaces, replicas, private, zero_gpu, wake = self._initial
        for space_id, source in spaces.items():
            self.world.add_space(EmulatedSpace(id=space_id, private=space_id in private, source=source,
                                               hardware="zero-a10g" if space_id in zero_gpu else "cpu-basic",
                                               wake_seconds=wake))
        # Folders start as processes, all at once (a Gradio import takes seconds); in-process apps one by one, since
        # gradio picks their ports without a lock.
        threads = [threading.Thread(target=self._run, args=(sid, replicas.get(sid, 1)))
                   for sid, source in spaces.items() if isinstance(source, (str, os.PathLike))]
        for t in threads:
            t.start()
        for sid, source in spaces.items():
            if not isinstance(source, (str, os.PathLike)):
                self._run(sid, replicas.get(sid, 1))
        for t in threads:
            t.join()
        failed = {sid: self._errors[sid] for sid in spaces if sid in self._errors}
        if failed:
            self.close()
            raise RuntimeError("compose.testing could not start " +
                               "; ".join(f"{sid}: {error}" for sid, error in failed.items()))
        return self

    async def _serve(self) -> None:
        hub_runner = web.AppRunner(hub_api(
            self.world, lambda: self.endpoint, on_files=self._rebuild,
            on_duplicate=lambda source, copy: self._rebuild(copy),
            on_restart=lambda space, factory: self.restart_space(space.id, wait=False, factory_reboot=factory),
            on_pause=lambda space: self.pause_space(space.id)))
        edge_runner = web.AppRunner(edge_app(self.world, lambda: self.endpoint))
        for runner in (hub_runner, edge_runner):
            await runner.setup()
            self._runners.append(runner)
        hub_site = web.TCPSite(hub_runner, "127.0.0.1", 0)
        edge_site = web.TCPSite(edge_runner, "127.0.0.1", 0, ssl_context=self.tls.server_context())
        await hub_site.start()
        await edge_site.start()
        self.endpoint = f"http://127.0.0.1:{hub_runner.addresses[0][1]}"
        self.edge_port = int(edge_runner.addresses[0][1])
        self._tunnel = await start_tunnel(self.edge_port)
        self.proxy = f"http://127.0.0.1:{self._tunnel.sockets[0].getsockname()[1]}"

    def _run(self, space_id: str, count: int) -> None:
        space = self.world.space(space_id)
        with self._life:
            self._counts[space_id] = count
            try:
                running = start_replicas(space.source, count, env={"HF_ENDPOINT": self.endpoint})
            except Exception as e:  # a build that fails: the Space shows RUNTIME_ERROR, as on Hugging Face
                self._errors[space_id] = repr(e)
                space.set_stage("RUNTIME_ERROR")
                return
            self._errors.pop(space_id, None)
            old = self._replicas.get(space_id)
            self._replicas[space_id] = running
            with self.world.lock:
                space.serve(running.urls)
            if old is not None:
                old.stop()

    def _rebuild(self, space: EmulatedSpace) -> None:
        """A commit or a duplicate: write the Space's files out and run them (in the background, as a build)."""
        if "app.py" not in space.files and not callable(space.source):
            return  # nothing to run yet (an empty repo): it stays NO_APP_FILE
        if "app.py" in space.files:
            folder = self._folder / "repos" / space.id.replace("/", "__") / "app"
            shutil.rmtree(folder, ignore_errors=True)
            for path, content in space.files.items():
                target = folder / path
                if folder.resolve() not in target.resolve().parents:
                    continue  # a path leaving the repo folder is not written anywhere
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            space.source = folder
        space.set_stage("BUILDING")
        threading.Thread(target=self._run, args=(space.id, self._counts.get(space.id, 1)), daemon=True).start()

    def close(self) -> None:
        self.restore_env()
        for running in self._replicas.values():
            running.stop()
        self._replicas.clear()

        async def stop() -> None:
            if getattr(self, "_tunnel", None) is not None:
                self._tunnel.close()
            for runner in self._runners:
                await runner.cleanup()
            # Tunnels still piping bytes for clients that kept their connections open end with the emulator.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        shutil.rmtree(self._folder, ignore_errors=True)

    # --- the seam: where clients find the emulator ----------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The environment that points huggingface_hub, gradio_client (httpx) and compose at the emulator."""
        no_proxy = ",".join(filter(None, ["127.0.0.1", "localhost", "::1", os.environ.get("NO_PROXY", "")]))
        return {"HF_ENDPOINT": self.endpoint, "HTTPS_PROXY": self.proxy, "https_proxy": self.proxy,
                "NO_PROXY": no_proxy, "no_proxy": no_proxy, "SSL_CERT_FILE": str(self.tls.bundle),
                "HF_HUB_DISABLE_TELEMETRY": "1"}

    def apply_env(self) -> None:
        """Set `env` in this process (and huggingface_hub's already-read endpoint); `restore_env()` undoes it."""
        if self._saved_env is None:
            self._saved_env = {k: os.environ.get(k) for k in _ENV_KEYS}
        os.environ.update(self.env)
        from huggingface_hub import close_session, constants, hf_api

        # huggingface_hub read HF_ENDPOINT when it was imported; its module-level HfApi keeps that value.
        if self._saved_hf is None:
            self._saved_hf = (constants.ENDPOINT, hf_api.api.endpoint)
        constants.ENDPOINT = hf_api.api.endpoint = self.endpoint
        close_session()  # its pooled client read the proxy settings when it was made

    def restore_env(self) -> None:
        if self._saved_env is not None:
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._saved_env = None
        if self._saved_hf is not None:
            from huggingface_hub import close_session, constants, hf_api

            constants.ENDPOINT, hf_api.api.endpoint = self._saved_hf
            self._saved_hf = None
            close_session()

    # --- what tests do to the world -------------------------------------------------------------------------------

    def token(self, user: str) -> str:
        """A Hub token for `user` (made on first use; a Space's owner has one from the start)."""
        return self.world.user(user).token

    def visitor(self, user: str | None = None, *, address: str | None = None) -> str:
        """The X-IP-Token the edge gives a visitor: signed in as `user`, or anonymous from `address`."""
        if user is not None:
            return self.world.ip_token(f"user:{user}")
        return self.world.ip_token(f"anon:{address or '203.0.113.1'}")

    def space(self, space_id: str) -> EmulatedSpace:
        return self.world.space(space_id)

    def set_stage(self, space_id: str, stage: str, *, for_seconds: float | None = None) -> None:
        """Put a Space in `stage` (SLEEPING, BUILDING, APP_STARTING, PAUSED, RUNTIME_ERROR, ...); with
        `for_seconds` it becomes RUNNING by itself afterwards.

        SLEEPING is what Hugging Face's is: the Space's replicas stop (every session's gr.State, the app's memory
        and its app id go with them), and its first request wakes it as fresh replicas, serving once they run and
        `wake_seconds` have passed. Set RUNNING, a sleeping Space's fresh replicas start before this returns.
        """
        space = self.world.space(space_id)
        if stage == "SLEEPING":
            with self._life:
                with self.world.lock:
                    space.set_stage(stage, for_seconds=for_seconds)
                    space.backends, space.cold, space.on_wake = [], True, self._wake
                old = self._replicas.pop(space_id, None)
                if old is not None:
                    old.stop()
            return
        with self.world.lock:
            cold = space.cold and stage in ("RUNNING", "BUILDING", "APP_STARTING", "RUNNING_BUILDING",
                                            "RUNNING_APP_STARTING")
            space.set_stage(stage, for_seconds=for_seconds)
            starting = self._waking.get(space_id)
            if cold and stage != "RUNNING" and starting is None:
                self._wake(space)  # starting: its replicas start now, and it runs once they serve
                return
        if cold and stage == "RUNNING":
            if starting is not None:
                starting.join()
            else:
                self._run(space_id, self._counts.get(space_id, 1))
            with self.world.lock:
                space.set_stage("RUNNING")

    def _wake(self, space: EmulatedSpace) -> None:
        """A sleeping Space woke (called by the edge, under the world's lock): start fresh replicas, off its loop."""
        def start() -> None:
            try:
                self._run(space.id, self._counts.get(space.id, 1))
            finally:
                with self.world.lock:
                    self._waking.pop(space.id, None)

        thread = threading.Thread(target=start, name=f"wake-{space.id}", daemon=True)
        with self.world.lock:
            self._waking[space.id] = thread
        thread.start()

    def rate_limit(self, space_id: str, count: int = 1, *, retry_after: int = 1) -> None:
        """The edge answers the next `count` requests to this Space with 429 and `Retry-After: retry_after`."""
        space = self.world.space(space_id)
        with self.world.lock:
            space.rate_limited, space.retry_after = count, retry_after

    def grant(self, space_id: str, user: str) -> None:
        """Let `user` see a private Space (as a member of its organisation would)."""
        self.world.space(space_id).members.add(user)

    def charges(self, identity: str | None = None) -> list[Charge]:
        """ZeroGPU charges so far (of one ledger identity: "user:alice", "anon:203.0.113.1")."""
        with self.world.lock:
            return [c for c in self.world.charges if identity is None or c.identity == identity]

    def quota_left(self, identity: str) -> float:
        """GPU seconds a ledger identity ("user:alice", "anon:203.0.113.1") has left in this period."""
        return self.world.base_quota(identity) - self.world.used(identity)

    def quota(self, visitor: str) -> float:
        """GPU seconds left for a visitor, by their X-IP-Token (`visitor(...)`) or ledger identity."""
        identity = self.world.identity_of(visitor) or visitor
        return self.quota_left(identity)

    def kill_replica(self, space_id: str, index: int) -> None:
        """Crash one replica of a Space; the edge then fails requests pinned to it, as a dead container would."""
        self._replicas[space_id].kill(index)

    def restart_replica(self, space_id: str, index: int) -> None:
        """Restart one replica of a Space (the others keep running): it comes back as a fresh app, with a new app id
        and no session state. Visitors pinned to it (by the edge's affinity cookie) reach the fresh app. Returns
        once it serves.

        Usage: `hub.restart_replica("me/app", 0)` — e.g. to test that a client notices one replica's restart.
        """
        space = self.world.space(space_id)
        with self._life:
            if space_id not in self._replicas or index >= len(self._replicas[space_id].urls):
                raise KeyError(f"{space_id} has no running replica {index}")
            with self.world.lock:
                space.backends = [url if i != index else "http://127.0.0.1:9" for i, url in enumerate(space.backends)]
            url = self._replicas[space_id].restart(index)  # meanwhile, requests pinned to it fail as on a crash
            with self.world.lock:
                space.backends[index] = url

    def replica_urls(self, space_id: str) -> list[str]:
        """Where each replica of a Space serves now (127.0.0.1 URLs, in the edge's affinity order)."""
        with self.world.lock:
            return list(self.world.space(space_id).backends)

    def restart_space(self, space_id: str, *, wait: bool = True, factory_reboot: bool = False) -> None:
        """What `HfApi.restart_space` does: the Space is APP_STARTING (BUILDING first for a factory reboot) while
        every replica starts afresh (new app id, all session state gone), then RUNNING. A paused or stopped Space
        starts again this way (and only this way). With `wait` (default), returns once it runs.
        """
        space = self.world.space(space_id)
        with self.world.lock:
            space.set_stage("BUILDING" if factory_reboot else "APP_STARTING")
            space.backends = []  # the old containers are gone: nothing serves until the new ones do

        def restart() -> None:
            with self._life:
                old = self._replicas.pop(space_id, None)
                if old is not None:
                    old.stop()
                if space.source is None:
                    space.set_stage("NO_APP_FILE")  # an empty repo: nothing to run
                    return
                with self.world.lock:
                    space.set_stage("APP_STARTING")
                self._run(space_id, self._counts.get(space_id, 1))

        if wait:
            restart()
        else:
            threading.Thread(target=restart, name=f"restart-{space_id}", daemon=True).start()

    def pause_space(self, space_id: str) -> None:
        """What `HfApi.pause_space` does: PAUSED at once, its replicas stopped (their state gone); the edge answers
        503 naming the stage, and only `restart_space` runs it again (a request does not wake it)."""
        space = self.world.space(space_id)
        with self.world.lock:
            space.set_stage("PAUSED")
            space.backends = []

        def stop() -> None:
            with self._life:
                old = self._replicas.pop(space_id, None)
                if old is not None:
                    old.stop()

        threading.Thread(target=stop, name=f"pause-{space_id}", daemon=True).start()


@contextmanager
def hub(spaces: Mapping[str, Any] | None = None, *, env: bool = True, **options: Any) -> Iterator[Hub]:
    """Start an emulator for the block; with `env` (default) point this process's clients at it meanwhile.

    Usage: `with compose.testing.hub(spaces={"me/app": "spaces/translator"}) as h: ...`
    """
    running = Hub(spaces, **options).start()
    try:
        if env:
            running.apply_env()
        yield running
    finally:
        running.close()
