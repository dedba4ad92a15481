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
    QuotaExceeded,
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
from .limits import Limits
from .schema import Parameter, Return
from .sessions import set_secret as set_session_secret
from .space import Space
from .updates import ProgressUnit, Update

# Names whose modules import gradio or smolagents load on first use, so `import compose` stays light.
_LAZY = {
    "Rendered": ".ui.render",
    "forget_on_unload": ".ui.render",
    "SpaceTool": ".agent.tools",
    "ToolRegistry": ".agent.registry",
    "stream_trace": ".agent.trace",
    "AgentChat": ".apps.chat",
    "UserAgents": ".agent.agents",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'compose' has no attribute {name!r}")


__all__ = [
    "APIChanged",
    "AgentChat",
    "AppError",
    "ComposeError",
    "ConfigError",
    "Endpoint",
    "FileArg",
    "Identity",
    "InvalidArguments",
    "Job",
    "Limits",
    "Parameter",
    "ProgressUnit",
    "QuotaExceeded",
    "RateLimited",
    "Rendered",
    "Return",
    "SessionLost",
    "Space",
    "SpaceError",
    "SpaceTool",
    "SpaceUnavailable",
    "ToolRegistry",
    "UnsafeInput",
    "Update",
    "UpstreamDisconnected",
    "UpstreamTimeout",
    "UserAgents",
    "file",
    "forget_on_unload",
    "identity",
    "set_session_secret",
    "stream_trace",
]
