"""The guard on file and URL arguments chosen by a model (or anyone not trusted with the local disk).

A file-typed argument may only be:
- an http(s) URL whose host is public (not loopback, private, link-local, reserved or a cloud metadata address),
  which the remote then fetches itself; or
- a file under one of the allowed roots — the files this end user uploaded, or ones compose downloaded for them —
  that is a regular file (no FIFO, device or directory), whose real path (symlinks and `..` resolved) stays inside
  a root, within the size cap.

Anything else raises `UnsafeInput` before any traffic. File-shaped dicts are checked wherever they are nested.
A text argument is text: it is sent as a string and never uploaded.

Usage: `safe = check_arguments(ep, arguments, roots=(upload_dir,), max_bytes=50 * 2**20)`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gradio_client import utils as gc_utils

from ..errors import UnsafeInput
from ..files import FileArg, refuse_nul, under_roots

if TYPE_CHECKING:
    from ..endpoint import Endpoint

__all__ = ["check_arguments", "check_file", "check_url"]

_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


def _address_is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _address_is_public(ip.ipv4_mapped)
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast
                or ip.is_unspecified or str(ip) in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))


def check_url(url: str, *, resolve: bool = True) -> str:
    """Allow an http(s) URL only if its host is public (every address it resolves to)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeInput(f"refused {url!r}: only http(s) URLs to public hosts are accepted")
    host = parts.hostname.lower().rstrip(".")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")) or host in _METADATA_HOSTS:
        raise UnsafeInput(f"refused {url!r}: {host} is a local or metadata host")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = []
        if resolve:
            try:
                infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
            except OSError:
                raise UnsafeInput(f"refused {url!r}: cannot resolve {host}") from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for ip in addresses:
        if not _address_is_public(ip):
            raise UnsafeInput(f"refused {url!r}: {host} is not a public address ({ip})")
    return url


def check_file(path: str, *, roots: tuple[Path, ...], max_bytes: int) -> str:
    """Allow a local file only inside the allowed roots (real paths), regular, and within the size cap."""
    refuse_nul(path)
    if path.startswith("file:"):
        raise UnsafeInput(f"refused {path!r}: file:// URLs are not accepted")
    p = Path(path)
    if not p.is_absolute():
        raise UnsafeInput(f"refused {path!r}: not a file this user uploaded or received")
    try:
        real = p.resolve(strict=True)
    except (OSError, RuntimeError):
        raise UnsafeInput(f"refused {path!r}: no such file") from None
    if not under_roots(real, tuple(r.resolve() for r in roots)):
        raise UnsafeInput(f"refused {path!r}: not a file this user uploaded or received")
    st = os.stat(real)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeInput(f"refused {path!r}: not a regular file")
    if st.st_size > max_bytes:
        raise UnsafeInput(f"refused {path!r}: {st.st_size} bytes is over the limit of {max_bytes}")
    return str(real)


def _file_value(value: Any, roots: tuple[Path, ...], max_bytes: int) -> Any:
    """A model-chosen value for a file parameter, made safe (URL or allowed file) or refused."""
    if isinstance(value, FileArg):
        value = value.source
    if hasattr(value, "to_string") and callable(value.to_string):  # smolagents AgentImage/AgentAudio
        value = value.to_string()
    if hasattr(value, "getpixel") and isinstance(getattr(value, "filename", None), str):
        # A PIL image opened from a file: what smolagents hands a tool for an AgentImage the agent holds (its
        # call turns agent types into raw values). The file it came from is what goes, under the same rules; an
        # image made in memory (no file) is refused below, as any other object.
        value = value.filename or None
    if gc_utils.is_file_obj_with_meta(value):
        value = value["path"]
    if not isinstance(value, str):
        raise UnsafeInput(f"refused a {type(value).__name__}: a file argument must be a URL or a received file")
    if value.startswith(("http://", "https://")):
        return FileArg(check_url(value))
    return FileArg(check_file(value, roots=roots, max_bytes=max_bytes))


def _nested(value: Any, roots: tuple[Path, ...], max_bytes: int) -> Any:
    """Check file-shaped dicts hidden inside structured (non-file) arguments."""
    return gc_utils.traverse(value, lambda v: _file_value(v, roots, max_bytes),
                             lambda v: isinstance(v, FileArg) or gc_utils.is_file_obj_with_meta(v))


def _one_file(value: Any) -> bool:
    return isinstance(value, str) or gc_utils.is_file_obj_with_meta(value) or isinstance(value, FileArg)


def _editor_value(value: Any, roots: tuple[Path, ...], max_bytes: int) -> dict[str, Any]:
    """An ImageEditor argument as a model writes it: `{"background", "layers", "composite"}` with each image a URL
    or a received file's path (or FileData), or only the image to edit; each file vetted."""
    if not isinstance(value, dict):
        image = _file_value(value, roots, max_bytes)
        return {"background": image, "layers": [], "composite": image}

    def one(v: Any) -> Any:
        return None if v is None else _file_value(v, roots, max_bytes)

    return {**value, "background": one(value.get("background")),
            "layers": [_file_value(v, roots, max_bytes) for v in value.get("layers") or []],
            "composite": one(value.get("composite"))}


def check_arguments(
    ep: Endpoint, arguments: Mapping[str, Any], *, roots: tuple[Path, ...], max_bytes: int
) -> dict[str, Any]:
    """Vet every argument of a model-made call; file parameters become explicit `FileArg`s once allowed."""
    params = {p.name: p for p in ep.parameters}
    safe: dict[str, Any] = {}
    for name, value in arguments.items():
        p = params.get(name)
        if value is None or p is None:
            safe[name] = value  # unknown names are left for validation to reject with a readable message
        elif p.is_file:
            safe[name] = _file_value(value, roots, max_bytes)
        elif p.file_list and isinstance(value, (list, tuple)):
            safe[name] = [_file_value(v, roots, max_bytes) for v in value]  # each one file (a URL or a path)
        elif p.message_with_files and isinstance(value, dict):
            safe[name] = {**value, "files": [_file_value(v, roots, max_bytes) for v in value.get("files") or []]}
        elif p.is_editor and (isinstance(value, dict) or _one_file(value)):
            safe[name] = _editor_value(value, roots, max_bytes)
        elif isinstance(value, str):
            safe[name] = value  # text stays text
        else:
            safe[name] = _nested(value, roots, max_bytes)
    return safe
