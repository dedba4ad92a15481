"""gradio-compose: remote Gradio apps as local components, event handlers and agent tools.

Usage:
    import compose
    space = compose.Space("owner/name")
    print(space.endpoint("/predict").predict("hello"))
"""

from .endpoint import Endpoint
from .errors import (
    APIChanged,
    AppError,
    ComposeError,
    ConfigError,
    InvalidArguments,
    RateLimited,
    SessionLost,
    SpaceError,
    SpaceUnavailable,
    UnsafeInput,
    UpstreamDisconnected,
    UpstreamTimeout,
)
from .files import FileArg, file
from .identity import Identity, identity
from .job import Job
from .schema import Parameter, Return
from .sessions import set_secret as set_session_secret
from .space import Space
from .updates import ProgressUnit, Update

__all__ = [
    "APIChanged",
    "AppError",
    "ComposeError",
    "ConfigError",
    "Endpoint",
    "FileArg",
    "Identity",
    "InvalidArguments",
    "Job",
    "Parameter",
    "ProgressUnit",
    "RateLimited",
    "Return",
    "SessionLost",
    "Space",
    "SpaceError",
    "SpaceUnavailable",
    "UnsafeInput",
    "Update",
    "UpstreamDisconnected",
    "UpstreamTimeout",
    "file",
    "identity",
    "set_session_secret",
]
