"""The composing (outer) Gradio app as every adapter sees it: where it keeps the files it serves, and how a compose
error reads to its end user.

Shared by the Gradio side (`compose.ui`) and the agent side (`compose.agent`), so neither imports the other.
Usage: `raise to_gradio_error(e) from e`; `under_roots(path, (upload_root(),))`.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from .errors import AppError, ComposeError, SpaceError

__all__ = ["to_gradio_error", "upload_root"]


def to_gradio_error(e: ComposeError) -> gr.Error:
    """The `gr.Error` an end user sees for a compose error: a remote gr.Error keeps its message and title."""
    if isinstance(e, AppError):
        return gr.Error(e.message, title=e.title or "Error")
    if isinstance(e, SpaceError):
        return gr.Error(e.message, title=f"{e.space} {e.api_name or ''}".strip())
    return gr.Error(str(e), title="Invalid input")


def upload_root() -> Path:
    """Where the outer app keeps files it serves: gradio's own upload/cache folder."""
    return Path(get_upload_folder()).resolve()
