"""Fixtures: the spaces/ apps as real Gradio servers on 127.0.0.1, one process each, for the whole session."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Schemas and downloads go to a throwaway folder, never the developer's cache.
os.environ.setdefault("COMPOSE_CACHE_DIR", tempfile.mkdtemp(prefix="compose-test-cache-"))
os.environ.setdefault("COMPOSE_DOWNLOAD_DIR", tempfile.mkdtemp(prefix="compose-test-downloads-"))

# gradio reads its OAuth settings once, at import: set them for the apps with a gr.LoginButton (they only matter
# where SYSTEM=spaces, which those tests set; nothing is ever sent to the provider).
os.environ.setdefault("OAUTH_CLIENT_ID", "corpus")
os.environ.setdefault("OAUTH_CLIENT_SECRET", "corpus")
os.environ.setdefault("OAUTH_SCOPES", "openid profile")
os.environ.setdefault("OPENID_PROVIDER_URL", "http://127.0.0.1:9")

from corpus import OAUTH_ENV as CORPUS_OAUTH_ENV

import compose
import compose.testing
from compose.apps.processes import LocalSpace, launch_spaces, wait_ready

SPACES = ["translator", "calculator", "diagnostics", "streaming", "media"]
# What a loopback stand-in for a Space is given explicitly, to receive the visitor's headers as a Space would.
FORWARD = ("x-ip-token",)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def local_spaces() -> Iterator[dict[str, LocalSpace]]:
    # Enough upstream concurrency that many simulated users are served at once, as on a busy Space.
    with launch_spaces(SPACES, env={"GRADIO_DEFAULT_CONCURRENCY_LIMIT": "64"}) as running:
        yield running


@pytest.fixture(scope="session")
def urls(local_spaces: dict[str, LocalSpace]) -> dict[str, str]:
    return {name: s.url for name, s in local_spaces.items()}


def _space_fixture(name: str) -> Any:
    """A module-scoped fixture named after one of the apps: a compose.Space for it."""

    @pytest.fixture(scope="module", name=name)
    def space(urls: dict[str, str]) -> Iterator[compose.Space]:
        # These loopback apps stand in for Spaces, and the tests check the visitor's x-ip-token reaches them: by
        # default compose forwards it to Hugging Face origins only, so the fixtures list it explicitly.
        made = compose.Space(urls[name], forward_headers=FORWARD)
        yield made
        made.close()

    return space


# translator, calculator, diagnostics, streaming, media: a test module may override one with options of its own.
translator, calculator, diagnostics, streaming, media = (_space_fixture(name) for name in SPACES)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- the emulated Hugging Face (compose.testing): one per test session, pointed at only by the tests that ask -------

# A name too long for one DNS label: the Hub gives it a hashed subdomain, which only space_info(...).host tells.
LONG_ID = "owner/a-space-whose-name-is-far-too-long-to-fit-in-one-dns-label"
EDGE_SPACES = {"owner/headers": "headers_app", "owner/private": "headers_app", "owner/replicated": "headers_app",
               "owner/gpu": "gpu_app", "owner/stages": "headers_app", "owner/sleepy": "sleepy_app",
               "owner/restartable": "headers_app", LONG_ID: "headers_app"}


@pytest.fixture(scope="session")
def hub() -> Iterator[compose.testing.Hub]:
    import edge_apps

    spaces = {space_id: getattr(edge_apps, factory) for space_id, factory in EDGE_SPACES.items()}
    with compose.testing.hub(spaces, replicas={"owner/replicated": 2, "owner/restartable": 2},
                             private={"owner/private"}, zero_gpu={"owner/gpu"}, wake_seconds=1.0,
                             env=False) as running:
        yield running


@pytest.fixture
def edge(hub: compose.testing.Hub) -> Iterator[compose.testing.Hub]:
    """The session's emulator, with this process's clients (compose, gradio_client, huggingface_hub) pointed at it
    for the test."""
    hub.apply_env()
    try:
        yield hub
    finally:
        hub.restore_env()


# --- the conformance corpus (tests/corpus/): every app in one server process ---------------------------------

CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture(scope="session")
def corpus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    temp = tmp_path_factory.mktemp("corpus")
    env = {**os.environ, **CORPUS_OAUTH_ENV, "GRADIO_TEMP_DIR": str(temp), "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, str(CORPUS / "serve.py")], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    # Building 32 apps takes a while on a loaded machine: a deadline of its own (the fixture is not a test body).
    running: LocalSpace = wait_ready("corpus", process, temp, timeout=600)
    try:
        yield running.url
    finally:
        running.stop()


@pytest.fixture
def make_space() -> Iterator[Callable[..., compose.Space]]:
    """A factory of Spaces that are closed when the test ends: `space = make_space(url, retries=0)`."""
    made: list[compose.Space] = []

    def make(url: str, **options: Any) -> compose.Space:
        space = compose.Space(url, **options)
        made.append(space)
        return space

    yield make
    for space in made:
        space.close()
