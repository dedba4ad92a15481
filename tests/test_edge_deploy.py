"""Duplicate and deploy end to end, on the emulated Hub: what huggingface_hub sends is what a real Hub receives,
and the result is a Space that builds, runs and answers compose by its id."""

from __future__ import annotations

import uuid
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub.errors import RepositoryNotFoundError

import compose
import compose.testing
from compose.apps import deploy

SPACES = Path(__file__).resolve().parent.parent / "spaces"


def test_duplicate_makes_a_private_copy_in_the_token_owners_account(edge: compose.testing.Hub) -> None:
    me = f"dup{uuid.uuid4().hex[:6]}"
    token = edge.token(me)
    copy = compose.Space.duplicate("owner/headers", token=token)
    assert copy.name == f"{me}/headers"
    assert copy.endpoint("/increment").predict() == 1  # waited for its build, then served
    with pytest.raises(RepositoryNotFoundError):
        huggingface_hub.space_info(f"{me}/headers")  # private by default: invisible without the token
    # Asked again, the existing duplicate is re-used, as the Python client does.
    assert compose.Space.duplicate("owner/headers", token=token).name == copy.name


def test_deploy_uploads_a_folder_that_then_builds_and_answers(edge: compose.testing.Hub) -> None:
    me = f"deployer{uuid.uuid4().hex[:6]}"
    token = edge.token(me)
    url = deploy.upload_folder(SPACES / "calculator", f"{me}/calc", token=token)
    assert url == f"{edge.endpoint}/spaces/{me}/calc"
    uploaded = set(edge.space(f"{me}/calc").files)
    assert {"app.py", "README.md"} <= uploaded
    space = compose.Space(f"{me}/calc", token=token, max_wait=25)  # building: waited for, bounded
    assert space.endpoint("/calculate").predict(6, "multiply", 7) == 42
