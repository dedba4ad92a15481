"""The exception tree: every error compose raises derives from `ComposeError`.

```
ComposeError
├── ConfigError            bad src, unknown endpoint, bad option
├── InvalidArguments       rejected before sending: unknown/missing/mistyped parameter
├── UnsafeInput            a file or URL argument refused by the guard
└── SpaceError             carries .space and .api_name
    ├── AppError           the remote raised gr.Error: .message, .title
    ├── RateLimited        429 after bounded retries
    ├── SpaceUnavailable   sleeping / building / queue full after bounded waiting
    ├── UpstreamTimeout    no progress within the deadline (the upstream job is cancelled)
    ├── UpstreamDisconnected
    ├── SessionLost        the upstream restarted; the per-user session was reset
    └── APIChanged         the remote API no longer matches the cached schema
```

Usage: `except compose.SpaceError as e: print(e.space, e.api_name)`.
"""

from __future__ import annotations

from .redact import redact

__all__ = [
    "APIChanged",
    "AppError",
    "ComposeError",
    "ConfigError",
    "InvalidArguments",
    "RateLimited",
    "SessionLost",
    "SpaceError",
    "SpaceUnavailable",
    "UnsafeInput",
    "UpstreamDisconnected",
    "UpstreamTimeout",
]


class ComposeError(Exception):
    """Root of every error raised by compose. Its text never holds a token (see `compose.redact`)."""

    def __str__(self) -> str:
        return redact(super().__str__())


class ConfigError(ComposeError):
    """A bad `src`, an unknown endpoint or an invalid option."""


class InvalidArguments(ComposeError):
    """Arguments rejected before anything was sent.

    Usage: `except InvalidArguments as e: print(e.space, e.api_name, e.parameter)`.
    """

    def __init__(self, message: str, *, space: str = "", api_name: str = "", parameter: str | None = None):
        self.space, self.api_name, self.parameter = space, api_name, parameter
        where = f"{space} {api_name}".strip()
        super().__init__(f"{where}: {message}" if where else message)


class UnsafeInput(ComposeError):
    """A file or URL argument refused by the guard; nothing was sent."""


class SpaceError(ComposeError):
    """An error that happened at or on the way to a Space; `.space` and `.api_name` say where."""

    def __init__(self, message: str, *, space: str = "", api_name: str | None = None):
        self.space, self.api_name = space, api_name
        message = redact(message)  # a remote's text may echo the request's credentials
        self.message = message
        where = " ".join(part for part in (space, api_name) if part)
        super().__init__(f"{where}: {message}" if where else message)


class AppError(SpaceError):
    """The remote function raised `gr.Error`; `.message` and `.title` are the remote's own."""

    def __init__(self, message: str, *, title: str | None = None, space: str = "", api_name: str | None = None):
        super().__init__(message, space=space, api_name=api_name)
        self.message, self.title = redact(message), (redact(title) if title is not None else None)


class RateLimited(SpaceError):
    """The Space kept answering 429 after bounded retries."""


class SpaceUnavailable(SpaceError):
    """The Space is sleeping, building, unreachable or its queue is full, after bounded waiting."""


class UpstreamTimeout(SpaceError):
    """No progress from the upstream job within the idle deadline; the job was cancelled upstream."""


class UpstreamDisconnected(SpaceError):
    """The upstream closed the connection before the job finished."""


class SessionLost(SpaceError):
    """The upstream restarted and lost this user's session; the session was reset, call again to start over."""


class APIChanged(SpaceError):
    """The remote API no longer matches the schema compose had cached."""
