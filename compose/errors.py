"""The exception tree: every error compose raises derives from `ComposeError`.

```
ComposeError
├── ConfigError            bad src, unknown endpoint, bad option
├── InvalidArguments       rejected before sending: unknown/missing/mistyped parameter
├── UnsafeInput            a file or URL argument refused by the guard
└── SpaceError             carries .space and .api_name
    ├── AppError           the remote raised gr.Error: .message, .title
    ├── RateLimited        429 after bounded retries
    ├── SpaceUnavailable   sleeping / building / paused / broken / queue full after bounded waiting; .stage
    ├── QuotaExceeded      ZeroGPU quota spent: .requested, .left, .retry_after (seconds, or None); never retried
    ├── UpstreamTimeout    no progress within the deadline (the upstream job is cancelled)
    ├── UpstreamDisconnected
    ├── SessionLost        the upstream restarted; the per-user session was reset
    └── APIChanged         the remote API no longer matches the cached schema
```

Usage: `except compose.SpaceError as e: print(e.space, e.api_name)`.
"""

from __future__ import annotations

import re

from .redact import redact

__all__ = [
    "APIChanged",
    "AppError",
    "ComposeError",
    "ConfigError",
    "InvalidArguments",
    "QuotaExceeded",
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

    def __init__(self, *args: object) -> None:
        # Its args too: repr(), a traceback's last line and pickling show them as they are.
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))

    def __str__(self) -> str:
        return redact(super().__str__())


class ConfigError(ComposeError):
    """A bad `src`, an unknown endpoint or an invalid option."""


class InvalidArguments(ComposeError):
    """Arguments rejected before anything was sent, or by the remote's own validators (Gradio 6 `validator=`).

    `.problems` holds one (parameter, message) each. Usage: `except InvalidArguments as e: print(e.problems)`.
    """

    def __init__(self, message: str, *, space: str = "", api_name: str = "", parameter: str | None = None,
                 problems: list[tuple[str, str]] | None = None):
        self.space, self.api_name, self.parameter = space, api_name, parameter
        self.problems = problems if problems is not None else ([(parameter, message)] if parameter else [])
        where = f"{space} {api_name}".strip()
        super().__init__(f"{where}: {message}" if where else message)


class UnsafeInput(ComposeError):
    """A file or URL argument refused by the guard; nothing was sent."""


class SpaceError(ComposeError):
    """An error that happened at or on the way to a Space; `.space` and `.api_name` say where."""

    def __init__(self, message: str, *, space: str = "", api_name: str | None = None):
        # A remote's text may echo the request's credentials, and a Space's URL may carry user:password@: neither
        # reaches the error's text, its args (repr, pickling) or its attributes.
        self.space, self.api_name = redact(space), api_name
        message = redact(message)
        self.message = message
        where = " ".join(part for part in (self.space, api_name) if part)
        super().__init__(f"{where}: {message}" if where else message)


class AppError(SpaceError):
    """The remote function raised `gr.Error`; `.message` and `.title` are the remote's own."""

    def __init__(self, message: str, *, title: str | None = None, space: str = "", api_name: str | None = None):
        super().__init__(message, space=space, api_name=api_name)
        self.message, self.title = redact(message), (redact(title) if title is not None else None)


class RateLimited(SpaceError):
    """The Space kept answering 429 after bounded retries."""


class SpaceUnavailable(SpaceError):
    """The Space is sleeping, building, paused, broken, unreachable or its queue is full, after bounded waiting.

    `.stage` is the Space's runtime stage on Hugging Face when it is known ("PAUSED", "RUNTIME_ERROR", ...).
    """

    def __init__(self, message: str, *, space: str = "", api_name: str | None = None, stage: str | None = None):
        super().__init__(message, space=space, api_name=api_name)
        self.stage = stage


# ZeroGPU's own wording (the `spaces` package): "You have exceeded your GPU quota (60s requested vs. 56s left).
# Try again in 0:01:23"; a free or unlogged visitor's variant says "your free GPU quota" and may end differently.
_QUOTA = re.compile(r"exceeded your (?:\w+ )?GPU quota \((\d+(?:\.\d+)?)s requested vs\. (\d+(?:\.\d+)?)s left\)")
_TRY_AGAIN = re.compile(r"Try again in (?:(\d+) days?, )?(\d+):(\d{1,2}):(\d{1,2})")


class QuotaExceeded(SpaceError):
    """A ZeroGPU Space refused the call: the visitor's GPU quota is spent. Never retried automatically.

    `.requested` and `.left` are GPU seconds, `.retry_after` the seconds until the quota allows it again (or None
    when the Space did not say). Only the visitor whose identity (x-ip-token) the call carried is concerned.

    Usage: `except compose.QuotaExceeded as e: print(f"retry in {e.retry_after} s")`.
    """

    def __init__(self, message: str, *, requested: float, left: float, retry_after: float | None = None,
                 title: str | None = None, space: str = "", api_name: str | None = None):
        super().__init__(message, space=space, api_name=api_name)
        self.requested, self.left, self.retry_after, self.title = requested, left, retry_after, title

    @classmethod
    def parse(cls, message: str, *, title: str | None = None, space: str = "",
              api_name: str | None = None) -> QuotaExceeded | None:
        """The QuotaExceeded a Space's error message describes, or None if it is another error."""
        m = _QUOTA.search(message)
        if m is None:
            return None
        retry_after: float | None = None
        if (t := _TRY_AGAIN.search(message)) is not None:
            days, hours, minutes, seconds = (int(g or 0) for g in t.groups())
            retry_after = float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
        return cls(message, requested=float(m.group(1)), left=float(m.group(2)), retry_after=retry_after,
                   title=title, space=space, api_name=api_name)


class UpstreamTimeout(SpaceError):
    """No progress from the upstream job within the idle deadline; the job was cancelled upstream."""


class UpstreamDisconnected(SpaceError):
    """The upstream closed the connection before the job finished."""


class SessionLost(SpaceError):
    """The upstream restarted and lost this user's session; the session was reset, call again to start over."""


class APIChanged(SpaceError):
    """The remote API no longer matches the schema compose had cached."""
