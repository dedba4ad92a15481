"""The composing (outer) Gradio app as every adapter sees it: where it keeps the files it serves (and how a
downloaded file gets there), and how a compose error reads to its end user.

Shared by the Gradio side (`compose.ui`) and the agent side (`compose.agent`), so neither imports the other.
Usage: `raise to_gradio_error(e) from e`; `under_roots(path, (upload_root(),))`; `served = serve_locally(path)`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from .errors import AppError, ComposeError, SpaceError
from .files import kept_source, under_roots

__all__ = ["fresh_folder", "serve_locally", "to_gradio_error", "upload_root"]


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


def serve_locally(path: str) -> str:
    """Move a downloaded result into gradio's upload folder so the outer app (and only it) serves it.

    A kept download (a Chatbot's file, which the next turn's history names again: `files.kept_source`) stays where
    it is for that turn, and is linked (or copied, across file systems) to a folder of the same name here, found
    again next turn instead of made anew.
    """
    root = upload_root()
    source = Path(path)
    if under_roots(source, (root,)):
        return path
    if kept_source(source) is None:
        target = fresh_folder(root) / source.name
        shutil.move(path, target)
        return str(target)
    # A folder of the same name: what comes back from the outer app's page goes to the Space as its own file.
    folder = root / "compose" / source.parent.name
    target = folder / source.name
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".{source.name}.{secrets.token_hex(4)}"
        try:
            os.link(path, staging)
        except OSError:
            shutil.copyfile(path, staging)
        os.replace(staging, target)  # whole or not at all, even with two turns at once
    return str(target)


def fresh_folder(root: Path) -> Path:
    """A new folder of compose's under the upload root `root`."""
    (root / "compose").mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=root / "compose"))
