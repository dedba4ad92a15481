"""Fixtures: the spaces/ apps as real Gradio servers on 127.0.0.1, one process each, for the whole session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Schemas and downloads go to a throwaway folder, never the developer's cache.
os.environ.setdefault("COMPOSE_CACHE_DIR", tempfile.mkdtemp(prefix="compose-test-cache-"))

from compose.local import LocalSpace, launch_spaces

SPACES = ["translator", "calculator", "diagnostics", "streaming", "media"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def local_spaces() -> Iterator[dict[str, LocalSpace]]:
    # Enough upstream concurrency that many simulated users are served at once, as on a busy Space.
    with launch_spaces(SPACES, env={"GRADIO_DEFAULT_CONCURRENCY_LIMIT": "64"}) as running:
        yield running


@pytest.fixture(scope="session")
def urls(local_spaces: dict[str, LocalSpace]) -> dict[str, str]:
    return {name: s.url for name, s in local_spaces.items()}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
