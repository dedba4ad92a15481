"""compose.testing: an offline Hugging Face for tests — a Hub API and a Spaces edge on 127.0.0.1, in front of real
Gradio apps — started in one line. Think `moto` for AWS or `respx` for httpx, but with real servers.

What it emulates: the Hub API huggingface_hub calls (space_info, get_space_runtime, whoami, duplicate, restart,
pause, create_repo, upload_folder, the ZeroGPU quota), and the HTTPS edge of `*.hf.space` (private Spaces,
X-HF-Authorization stripped and Authorization passed through, the visitor's X-IP-Token, cookie replica affinity,
sleeping/building/paused/broken stages, 429 with Retry-After), plus a ZeroGPU ledger (`zero_gpu`).

How clients find it, with no /etc/hosts change and nothing left behind when the block ends: `HF_ENDPOINT` points
at the Hub API; `HTTPS_PROXY` at a CONNECT tunnel that reaches the edge for `*.hf.space` only; `SSL_CERT_FILE` at
a bundle of the usual roots plus the throwaway CA. compose, gradio_client and huggingface_hub all honour these.

Usage:
    with compose.testing.hub(spaces={"me/app": "spaces/translator"}, replicas={"me/app": 2}) as hub:
        compose.Space("me/app").endpoint("/translate").predict("hello", "French")
        hub.set_stage("me/app", "SLEEPING")  # its replicas stop; the next request wakes fresh ones (no state)
        hub.restart_replica("me/app", 0)  # that replica alone comes back as a fresh app (new app id, no state)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .emulator import Hub, hub
from .world import STAGES, Charge, EmulatedSpace
from .zerogpu import charge_gpu, zero_gpu

__all__ = ["STAGES", "Charge", "EmulatedSpace", "Hub", "charge_gpu", "hub", "hub_fixture", "zero_gpu"]


def hub_fixture(spaces: Mapping[str, Any] | None = None, *, scope: str = "session", name: str = "hub",
                **options: Any) -> Any:
    """A pytest fixture running one emulator for `scope` (pointing this process's clients at it meanwhile).

    Usage, in conftest.py: `hub = compose.testing.hub_fixture({"me/app": "spaces/translator"})`.
    """
    import pytest

    @pytest.fixture(scope=scope, name=name)  # type: ignore[call-overload,misc,untyped-decorator]
    def fixture() -> Iterator[Hub]:
        with hub(spaces, **options) as running:
            yield running

    return fixture
