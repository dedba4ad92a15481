"""Upstream sessions, derived rather than stored.

The upstream `session_hash` for a user is an HMAC of the user's own session key and the Space, keyed with a secret
(`COMPOSE_SESSION_SECRET`, or random per process). The same user always lands in the same upstream session,
different users never share one, and replicas of an outer app given the same secret agree without a shared store.

The one thing kept per user is a reset nonce for those who called `reset_session()`: a short string in a bounded
map, dropped by `forget()` when the user's outer session ends.

Usage: `session_hash = derive("user", space_key="https://x.hf.space", user="abc")`.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections import OrderedDict
from pathlib import Path
from typing import Literal

from . import cookies, forksafe

__all__ = ["SessionMode", "bucket", "derive", "forget", "reset", "set_secret", "user_folder"]

SessionMode = Literal["user", "shared", "call"]

_secret: bytes = (os.environ.get("COMPOSE_SESSION_SECRET") or "").encode() or secrets.token_bytes(32)
_resets: OrderedDict[str, dict[str, str]] = OrderedDict()
_resets_lock = forksafe.Lock()  # a parent thread may hold it at a fork: the child gets a new one


def _after_fork_in_child() -> None:
    global _NO_USER
    _NO_USER = f"n{os.getpid()}"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
_MAX_RESET_USERS = 10_000
# A plain script with no end user: one stable session per Space and process, like a browser tab. Per process: a
# forked child (a gunicorn worker) sharing its parent's session would read the parent's events off the data stream.
# Tagged "n", where an end user's key is tagged "u" (`_who`): Gradio takes any session_hash a browser sends, so no
# key a user picks may name the app's own session (its warm-ups, its scripts' state).
_NO_USER = f"n{os.getpid()}"


def _who(user: str | None) -> str:
    """The user's part of a derivation: their key, or the process's own session when there is no end user."""
    return _NO_USER if user is None else "u" + user


def set_secret(secret: str | bytes) -> None:
    """Use `secret` for deriving upstream sessions (give every replica of an app the same one)."""
    global _secret
    _secret = secret.encode() if isinstance(secret, str) else secret


def _mac(*parts: str) -> str:
    # hmac.digest: the one-shot C path (a quarter less CPU than hmac.new(...).hexdigest(); it runs on every call).
    return hmac.digest(_secret, "\x1f".join(parts).encode(), "sha256").hex()


def _reset_key(user: str | None) -> str:
    """Where this user's reset nonces are kept (their key, hashed: the map holds no raw session keys)."""
    return _mac("user", _who(user))[:32]


def derive(mode: SessionMode, *, space_key: str, user: str | None, epoch: int = 0) -> str:
    """The upstream session hash for this user on this Space, in this session mode."""
    if mode == "call":
        return secrets.token_hex(11)
    if mode == "shared":
        return _mac("shared", space_key, str(epoch))[:22]
    # Most users never reset: with no nonces kept at all, skip hashing their key a second time on every call.
    nonce = _resets.get(_reset_key(user), {}).get(space_key, "") if _resets else ""
    return _mac("user", space_key, str(epoch), _who(user), nonce)[:22]


def bucket(user: str | None) -> str:
    """A stable, unguessable folder name for one user's files (derived like their sessions)."""
    return _mac("files", _who(user))[:16]


def user_folder(root: Path, user: str | None) -> Path:
    """This user's own folder under `root` (where compose downloads files for them)."""
    return root / bucket(user)


def reset(*, space_key: str, user: str | None) -> None:
    """Give this user a fresh upstream session on this Space; other users keep theirs."""
    key = _reset_key(user)
    with _resets_lock:
        _resets.setdefault(key, {})[space_key] = secrets.token_hex(8)
        _resets.move_to_end(key)
        while len(_resets) > _MAX_RESET_USERS:
            _resets.popitem(last=False)


def forget(user: str) -> None:
    """Drop everything compose holds for this user (their outer session ended): reset marker and cookies."""
    with _resets_lock:
        _resets.pop(_reset_key(user), None)
    cookies.forget(user)
