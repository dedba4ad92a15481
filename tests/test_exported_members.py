"""Every exported name exists (as in httpx's test_exported_members), and the public face matches API.md."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import compose

# Every module, subpackages included (compose.ui, compose.agent, compose.apps, compose.testing).
MODULES = sorted(m.name.removeprefix("compose.") for m in pkgutil.walk_packages(compose.__path__, "compose.")
                 if not m.name.rsplit(".", 1)[-1].startswith("_"))


def test_all_names_in_compose_all_exist() -> None:
    missing = [name for name in compose.__all__ if not hasattr(compose, name)]
    assert missing == []
    assert len(compose.__all__) == len(set(compose.__all__)), "a name is exported twice"


def test_every_public_top_level_name_is_exported() -> None:
    public = {name for name, value in vars(compose).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert public - set(compose.__all__) == set()


@pytest.mark.parametrize("module", MODULES)
def test_every_modules_all_names_exist(module: str) -> None:
    mod = importlib.import_module(f"compose.{module}")
    exported = getattr(mod, "__all__", None)
    assert exported is not None, f"compose.{module} has no __all__"
    missing = [name for name in exported if not hasattr(mod, name)]
    assert missing == [], f"compose.{module}.__all__ names missing: {missing}"
    assert len(exported) == len(set(exported))


def test_api_md_core_names() -> None:
    for name in ("Space", "Endpoint", "Job", "Update", "identity", "file", "set_session_secret"):
        assert name in compose.__all__


def test_error_tree_matches_api_md() -> None:
    tree = {
        compose.ConfigError: compose.ComposeError,
        compose.InvalidArguments: compose.ComposeError,
        compose.UnsafeInput: compose.ComposeError,
        compose.SpaceError: compose.ComposeError,
        compose.AppError: compose.SpaceError,
        compose.RateLimited: compose.SpaceError,
        compose.SpaceUnavailable: compose.SpaceError,
        compose.UpstreamTimeout: compose.SpaceError,
        compose.UpstreamDisconnected: compose.SpaceError,
        compose.SessionLost: compose.SpaceError,
        compose.APIChanged: compose.SpaceError,
    }
    for error, parent in tree.items():
        assert error.__bases__ == (parent,), error
    assert issubclass(compose.ComposeError, Exception)
    e = compose.AppError("boom", title="T", space="owner/name", api_name="/predict")
    assert (e.message, e.title, e.space, e.api_name) == ("boom", "T", "owner/name", "/predict")
    assert "owner/name" in str(e) and "/predict" in str(e)
