"""Who is calling: the end user whose headers and upstream session a call carries.

Inside a Gradio event handler nothing needs passing: the user is read from gradio's request context. Outside one,
or to override it, set it explicitly; it is a plain context manager over a context variable, so it works with
`with` in sync code and in coroutines (each asyncio task sees the identity it was created under) and `async with`.

Usage:
    with compose.identity(request=gr_request):
        ep.predict(text="hi")
    with compose.identity(session="alice", headers={"x-ip-token": "t1"}):
        ...
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

__all__ = ["Identity", "current_identity", "from_request", "identity"]


@dataclass(frozen=True)
class Identity:
    """One caller, resolved at the moment of a call and never stored on a shared object.

    `session` is the end user's own session key (gradio's `session_hash`, or any string you choose); `None` means
    "no end user": a plain script. `headers` are the end user's request headers, filtered per Space by its
    `forward_headers` allow-list when a call is made. `oauth_token` is a signed-in user's token, used only by Spaces
    that opt in.
    """

    session: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    oauth_token: str | None = None

    def forwarded(self, allow: tuple[str, ...]) -> Iterator[tuple[str, str]]:
        """The allow-listed headers this caller carries, lower-cased."""
        for name in allow:
            value = self.headers.get(name)
            if value is None and not hasattr(self.headers, "getlist"):
                # A plain dict is case-sensitive; starlette's Headers is not.
                value = next((v for k, v in self.headers.items() if k.lower() == name), None)
            if value:
                yield name, value


_explicit: ContextVar[Identity | None] = ContextVar("compose_identity", default=None)


def from_request(request: Any) -> Identity:
    """The identity of a `gr.Request` (or a starlette/fastapi request): its session and headers.

    Usage: `ident = from_request(request)` inside a Gradio event handler.
    """
    headers = getattr(request, "headers", None) or {}
    session = getattr(request, "session_hash", None)
    if session is None:
        session = _request_session(request)
    return Identity(session=session, headers=headers)


def _request_session(request: Any) -> str:
    """The session of a request Gradio gave none (its `/run` route, a FastAPI route of yours): one of its own, the
    same for every call it makes. Not its client address: every caller behind one proxy would share one upstream
    session (and gr.State), and two processes sharing the session secret (replicas, gunicorn --preload) would
    open its data stream at once, each taking some of the other's events, so calls hung."""
    inner = getattr(request, "request", None) or request  # a gr.Request wraps the starlette one
    state = getattr(inner, "state", None)
    session = getattr(state, "compose_session", None) if state is not None else None
    if not isinstance(session, str):
        session = f"request:{secrets.token_hex(12)}"
        if state is not None:
            with contextlib.suppress(AttributeError, TypeError):
                state.compose_session = session
    return session


def current_identity() -> Identity:
    """The caller of the call being made now: explicit `identity(...)` first, else gradio's current request."""
    explicit = _explicit.get()
    if explicit is not None:
        return explicit
    # Only look in gradio's context if gradio is loaded: no gradio, no handler running. Importing it here would make
    # the first call of a plain script pay gradio's multi-second import.
    context = sys.modules.get("gradio.context")
    if context is None:
        return Identity()
    request = context.LocalContext.request.get(None)
    if request is None:
        return Identity()
    return from_request(request)


class identity:  # noqa: N801 - a context manager read as a phrase: `with compose.identity(...)`
    """Set who is calling for the calls made inside the block.

    Usage: `with compose.identity(session="alice", headers={"x-ip-token": tok}): ep.predict("hi")`
    """

    def __init__(
        self,
        request: Any = None,
        *,
        session: str | None = None,
        headers: Mapping[str, str] | None = None,
        oauth_token: str | None = None,
    ) -> None:
        base = from_request(request) if request is not None else Identity()
        merged: Mapping[str, str] = base.headers
        if headers is not None:
            merged = {**{k.lower(): v for k, v in base.headers.items()}, **{k.lower(): v for k, v in headers.items()}}
        self.value = Identity(
            session=session if session is not None else base.session,
            headers=merged,
            oauth_token=oauth_token if oauth_token is not None else base.oauth_token,
        )
        self._tokens: list[Token[Identity | None]] = []

    def __enter__(self) -> Identity:
        self._tokens.append(_explicit.set(self.value))
        return self.value

    def __exit__(self, *exc: object) -> None:
        _explicit.reset(self._tokens.pop())

    async def __aenter__(self) -> Identity:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)
