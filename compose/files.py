"""File arguments and file results.

A local file is uploaded only when the developer says so: wrapped in `compose.file(...)`, or given for a file
parameter and lying under the Space's `allowed_paths`. A plain string is never uploaded because it happens to name
an existing file. Results are downloaded from the Space's own origin (never from a URL the remote chose) into a
per-Space folder, under a sanitised name, with a size cap.

Usage: `ep.predict(image=compose.file("cat.png"))`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import mimetypes
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from gradio_client import utils as gc_utils

from .errors import UnsafeInput

__all__ = ["FileArg", "amap_file_data", "file", "file_data_for_url", "file_data_in", "is_file_data", "is_url",
           "kept_download_path", "kept_source", "map_file_data", "origin_tag", "refuse_nul", "remote_file_ref",
           "safe_name", "under_roots", "upload_source", "write_atomically"]

FILE_META = {"_type": "gradio.FileData"}


@dataclass(frozen=True)
class FileArg:
    """A file argument the developer marked explicitly: a local path or an http(s) URL."""

    source: str

    def __fspath__(self) -> str:
        return self.source


def file(path_or_url: str | os.PathLike[str]) -> FileArg:
    """Mark a local path or an http(s) URL as a file to send (like gradio_client's `handle_file`).

    Usage: `ep.predict(compose.file("report.pdf"))`.
    """
    return FileArg(os.fspath(path_or_url))


def is_url(value: str) -> bool:
    """True for http(s) URLs."""
    return urlsplit(value).scheme in ("http", "https")


def file_data_for_url(url: str) -> dict[str, Any]:
    """A FileData payload that asks the remote to fetch `url` itself."""
    name = Path(urlsplit(url).path).name or "file"
    return {"path": url, "url": url, "orig_name": name, "meta": dict(FILE_META)}


def refuse_nul(path: str | os.PathLike[str]) -> str:
    """The path as a string, or `UnsafeInput` if it holds a NUL byte (the OS would cut it there, or Python raise a
    bare ValueError): no such path names a file anyone meant."""
    text = os.fspath(path)
    if "\x00" in text:
        raise UnsafeInput(f"refused {text!r}: a file path may not contain a NUL byte")
    return text


def under_roots(path: Path, roots: tuple[Path, ...]) -> bool:
    """True if the real path (symlinks resolved) lies inside one of the real roots (a path with a NUL byte: never)."""
    if "\x00" in str(path):
        return False
    real = path.resolve()
    return any(real == root or root in real.parents for root in roots)


def upload_source(path: str, *, max_bytes: int | None) -> Path:
    """Check a local file before upload: it must exist and be a regular file within the size cap."""
    p = Path(refuse_nul(path)).expanduser()
    try:
        st = p.stat()
    except OSError as e:
        raise UnsafeInput(f"cannot read file {path!r}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeInput(f"{path!r} is not a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise UnsafeInput(f"{path!r} is {st.st_size} bytes, over the limit of {max_bytes}")
    return p


_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


def safe_name(remote_name: str | None) -> str:
    """A file name safe to create in a download folder: no directories, no `..`, nothing hidden, not empty."""
    if not isinstance(remote_name, str):
        remote_name = None  # a remote's orig_name of another type (a list, a number): no name at all
    base = (remote_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = gc_utils.strip_invalid_filename_characters(_UNSAFE.sub("_", base), max_bytes=120)
    # Strip dots and spaces together: lstrip(".") then strip() turned " .bashrc" into the hidden ".bashrc".
    base = base.lstrip(". ").strip()
    return base or "file"


def new_download_path(root: Path, remote_name: str | None) -> Path:
    """A fresh file path for a download: its own random folder, so names never collide or overwrite."""
    folder = root / secrets.token_hex(8)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / safe_name(remote_name)


# Gradio keeps each file it hands out as <its cache>/<SHA-256 of the bytes>/<name>: such a path names one content.
_CONTENT_NAMED = re.compile(r"^(/[^\n]*/[0-9a-f]{64})/([^/]+)$")
_MAX_KEPT_FOLDER = 240  # bytes of a folder name (file systems allow 255)


def origin_tag(origin: str) -> str:
    """A short tag of an app's origin, in a kept file's folder name: which app the file came from."""
    return hashlib.sha256(origin.encode()).hexdigest()[:12]


def kept_download_path(root: Path, origin: str, remote_path: str) -> Path | None:
    """Where a file that the app at `origin` names by its content is kept under `root`: the same path each time the
    same file comes again. None for a file not so named (it gets a fresh folder: `new_download_path`).

    A Chatbot's whole history comes back with every turn, earlier turns' files too; kept this way, each is fetched
    once. The folder's name tells which app's file it is and where that app keeps it, and the file has the app's
    own name for it (`kept_source` reads them back), so the file can go back to that app as its own reference (as
    Gradio's own page sends a chat history back), never uploaded.
    """
    match = _CONTENT_NAMED.match(remote_path)
    if is_url(remote_path) or match is None or safe_name(match[2]) != match[2]:
        return None
    folder = "r" + origin_tag(origin) + base64.urlsafe_b64encode(match[1].encode()).decode().rstrip("=")
    return root / folder / match[2] if len(folder) <= _MAX_KEPT_FOLDER else None


def kept_source(path: Path) -> tuple[str, str] | None:
    """For a kept download (`kept_download_path`), or a copy of one in a folder of the same name and under the same
    name: the tag of the app's origin (`origin_tag`) and the path that app keeps the file under; None for any other
    path. (Random folders are hex or `tmp…`: never `r…`.)"""
    name = path.parent.name
    if not name.startswith("r") or len(name) > _MAX_KEPT_FOLDER:
        return None
    tag, encoded = name[1:13], name[13:]
    try:
        folder = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    remote = f"{folder}/{path.name}"
    return (tag, remote) if _CONTENT_NAMED.match(remote) and not is_url(remote) else None


def file_route(api_prefix: str, remote_path: str) -> str:
    """The Space-relative route serving a file the remote produced (built by us, on the Space's own origin)."""
    return f"{api_prefix}/file={quote(remote_path)}"


def remote_file_ref(data: dict[str, Any], *, base_url: str, api_prefix: str) -> dict[str, Any]:
    """A FileData that a remote app sent, made safe to hand on without downloading it.

    A remote FileData's `path` names a file on the *remote* host. Handed to Gradio (or anything else) as is, it
    would be read from *our* disk: a Space answering `{"path": "/app/.env"}` would make the composing app serve its
    own secrets. So the result carries no local path at all: `path` and `url` are both the file's address on the
    Space's own origin (built here, never a URL the remote chose for another host), which Gradio passes to the
    browser as a link. Every place that hands a remote FileData on calls this or downloads the file
    (into compose's sandboxed download folder); nothing else is safe.

    Usage: `safe = remote_file_ref(fd, base_url=space.url, api_prefix="/gradio_api")`.
    """
    remote = str(data.get("path") or "")
    base = base_url.rstrip("/")
    if is_url(remote) and (remote == base or remote.startswith(base + "/")):
        url = remote  # already on the Space's own origin
    else:
        url = base + file_route(api_prefix, remote)
    ref: dict[str, Any] = {"path": url, "url": url, "orig_name": safe_name(data.get("orig_name") or remote),
                           "size": data.get("size") if isinstance(data.get("size"), int) else None,
                           "mime_type": data.get("mime_type") if isinstance(data.get("mime_type"), str) else None,
                           "is_stream": False, "meta": dict(FILE_META)}
    return ref


def is_file_data(value: Any) -> bool:
    """True for a FileData-shaped dict (`{"path": ..., "meta": {"_type": "gradio.FileData"}}`)."""
    return bool(gc_utils.is_file_obj_with_meta(value))


def file_data_in(value: Any) -> list[dict[str, Any]]:
    """Every FileData in `value`, at any depth of dicts, lists and tuples.

    Usage: `if file_data_in(component_value): ...`
    """
    found: list[dict[str, Any]] = []
    gc_utils.traverse(value, found.append, is_file_data)
    return found


def map_file_data(value: Any, fn: Callable[[dict[str, Any]], Any]) -> Any:
    """`value` with every FileData in it (at any depth of dicts, lists and tuples) replaced by `fn(file_data)`.

    Usage: `safe = map_file_data(output, lambda fd: remote_file_ref(fd, base_url=url, api_prefix=prefix))`.
    """
    return gc_utils.traverse(value, fn, is_file_data)


async def amap_file_data(value: Any, fn: Callable[[dict[str, Any]], Awaitable[Any]]) -> Any:
    """`map_file_data` with an async `fn` (a download), one file at a time.

    Usage: `local = await amap_file_data(output, download)`.
    """
    return await gc_utils.async_traverse(value, fn, is_file_data)


def guess_mime(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def write_atomically(path: Path, text: str) -> None:
    """Write `path` whole or not at all (a temporary file in its folder, then a rename); nothing is left behind.

    Usage: `write_atomically(cache / "schema.json", body)`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
