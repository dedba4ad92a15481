"""What the Hugging Face Hub says about a Space: its host (authoritative; never guessed from the id), whether it is
private, its runtime stage, and a bounded wait for a sleeping or starting Space to run.

huggingface_hub does the talking (`space_info`, `get_space_runtime`, `wait_for_space`), at `HF_ENDPOINT` as it is
when the call is made (so `compose.testing` and private hubs work). The token goes to the Hub's API only, as
`Authorization`, which is huggingface_hub's own rule; without one, none is sent (not even a saved login).

Usage: `info = await resolve("owner/name", token=None)`; `await wait_running("owner/name", None, max_wait=30, ...)`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .errors import ConfigError, SpaceUnavailable

__all__ = ["FAILED_STAGES", "WAITING_STAGES", "HubSpace", "hub_endpoint", "resolve", "starting_message",
           "wait_running"]

# Stages that will not serve without someone acting: fail at once, naming the stage.
FAILED_STAGES = frozenset({"PAUSED", "STOPPED", "RUNTIME_ERROR", "BUILD_ERROR", "CONFIG_ERROR", "NO_APP_FILE",
                           "DELETING"})
# Stages that end by themselves: wait, bounded, with progress.
WAITING_STAGES = frozenset({"SLEEPING", "BUILDING", "APP_STARTING", "RUNNING_BUILDING", "RUNNING_APP_STARTING"})
_SAYS = {"SLEEPING": "waking the Space…", "BUILDING": "the Space is building…",
         "APP_STARTING": "the Space is starting…", "RUNNING_BUILDING": "the Space is rebuilding…",
         "RUNNING_APP_STARTING": "the Space is restarting…"}


@dataclass(frozen=True)
class HubSpace:
    """A Space as the Hub describes it."""

    id: str
    url: str
    private: bool
    stage: str | None


def hub_endpoint() -> str:
    """The Hub API's base URL: `HF_ENDPOINT` now, else huggingface_hub's own."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _api(token: str | None) -> object:
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_endpoint(), token=token if token else False)


def _info(space_id: str, token: str | None) -> HubSpace:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    api = _api(token)
    assert isinstance(api, HfApi)
    try:
        info = api.space_info(space_id, token=token if token else False)
    except RepositoryNotFoundError:
        raise ConfigError(f"{space_id}: no such Space on {hub_endpoint()} (or it is private: pass token=...)"
                          ) from None
    except HfHubHTTPError as e:
        raise SpaceUnavailable(f"the Hub could not describe it ({e.response.status_code})", space=space_id) from None
    except OSError as e:
        raise SpaceUnavailable(f"cannot reach the Hub at {hub_endpoint()} ({e!r})", space=space_id) from None
    if not info.host:
        stage = info.runtime.stage if info.runtime else None
        raise SpaceUnavailable(f"the Space has no host yet (stage {stage})", space=space_id, stage=stage)
    return HubSpace(space_id, str(info.host).rstrip("/"), bool(info.private),
                    str(info.runtime.stage) if info.runtime else None)


async def resolve(space_id: str, token: str | None) -> HubSpace:
    """Ask the Hub for the Space's host, privacy and stage (huggingface_hub is blocking: run in a thread)."""
    return await asyncio.to_thread(_info, space_id, token)


def _stage(space_id: str, token: str | None, wait: float) -> str:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = _api(token)
    assert isinstance(api, HfApi)
    try:
        if wait > 0:
            # huggingface_hub's own bounded wait through BUILDING/APP_STARTING; a sleeping Space is no such stage.
            return str(api.wait_for_space(space_id, timeout=wait, poll_interval=0.5, token=token or False).stage)
        return str(api.get_space_runtime(space_id, token=token or False).stage)
    except TimeoutError:
        return str(api.get_space_runtime(space_id, token=token or False).stage)
    except HfHubHTTPError as e:
        raise SpaceUnavailable(f"the Hub could not say its stage ({e.response.status_code})", space=space_id
                               ) from None


def starting_message(status: int, left: float) -> str:
    """What a wait for an app that answers "starting" (a URL: no Hub to ask) says in progress updates."""
    return f"the app is starting… (it answered {status}; waiting up to {left:.0f} s more)"


def failed(space_id: str, stage: str) -> SpaceUnavailable:
    return SpaceUnavailable(f"the Space is {stage} on Hugging Face; it will not answer until its owner acts",
                            space=space_id, stage=stage)


async def wait_running(space_id: str, token: str | None, *, stage: str | None, max_wait: float,
                       wake: Callable[[], Awaitable[None]], progress: Callable[[str], None]) -> None:
    """Return once the Space runs; wake a sleeping one (`wake()` sends it a request), report each wait through
    `progress`, and fail at once for a stopped or broken Space, or after `max_wait` seconds, naming the stage."""
    deadline = time.monotonic() + max_wait
    now: str = stage if stage else await asyncio.to_thread(_stage, space_id, token, 0)
    while now != "RUNNING":
        if now in FAILED_STAGES:
            raise failed(space_id, now)
        left = deadline - time.monotonic()
        if left <= 0:
            raise SpaceUnavailable(f"still {now} after waiting {max_wait:.0f} s", space=space_id, stage=now)
        progress(f"{_SAYS.get(now, f'the Space is {now}…')} ({now}, up to {left:.0f} s more)")
        if now == "SLEEPING":
            await wake()  # the first request wakes it; the Hub then reports it starting
        now = await asyncio.to_thread(_stage, space_id, token, min(2.0, left) if now != "SLEEPING" else 0)
        if now == "SLEEPING":
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
