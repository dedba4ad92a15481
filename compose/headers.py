"""The one place where the headers of an upstream request are merged.

Layers, later wins: the Space's static headers, its token (only to Hugging Face origins), then the end user's
allow-listed headers for this call.

Usage: `headers = merge_headers(static, token=tok, origin=url, forwarded=ident.forwarded(("x-ip-token",)))`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

__all__ = ["is_hf_origin", "merge_headers"]

_HF_SUFFIXES = (".hf.space", ".huggingface.co")
_HF_HOSTS = {"huggingface.co", "hf.co"}


def is_hf_origin(url: str) -> bool:
    """True for https URLs on Hugging Face hosts: the only places a token is ever sent."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and (host in _HF_HOSTS or host.endswith(_HF_SUFFIXES))


def merge_headers(
    static: Mapping[str, str],
    *,
    token: str | None,
    origin: str,
    forwarded: Iterable[tuple[str, str]] = (),
) -> dict[str, str]:
    """Headers for one request to `origin`: static, then the token if `origin` may see it, then forwarded ones."""
    headers = {k.lower(): v for k, v in static.items()}
    if token and is_hf_origin(origin):
        headers["authorization"] = f"Bearer {token}"
    for name, value in forwarded:
        headers[name.lower()] = value
    return headers
