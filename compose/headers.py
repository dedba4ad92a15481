"""The one place where the headers of an upstream request are merged, and the policy of who may see what.

Layers, later wins: the Space's static headers, its token (only to Hugging Face, in the header the origin's proxy
consumes), then the end user's allow-listed headers for this call.

The rules, each for a reason:

- A token goes to `*.hf.space` only as `X-HF-Authorization: Bearer …`. The Spaces proxy checks that header for
  private Spaces and strips it before the request reaches the container; plain `Authorization` passes through, so
  the Space's (third-party) code could read the caller's Hub token.
- A token goes as `Authorization: Bearer …` only to Hugging Face's own API (`huggingface.co`, `hf.co` and their
  subdomains). Never to any other host, never over plain http.
- The visitor's forwarded headers (by default `x-ip-token` alone, which ZeroGPU bills against) go only to Hugging
  Face origins, unless the Space was given `forward_headers=` explicitly: then the developer decided, whatever the
  origin (a self-hosted or loopback app of their own).

Usage: `headers = merge_headers(static, token=tok, origin=url, forwarded=ident.forwarded(("x-ip-token",)))`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from .errors import ConfigError

__all__ = ["DEFAULT_FORWARD_HEADERS", "is_hf_api", "is_hf_origin", "is_hf_space", "merge_headers", "request_headers",
           "token_headers"]

DEFAULT_FORWARD_HEADERS: tuple[str, ...] = ("x-ip-token",)

_SPACE_SUFFIX = ".hf.space"
_API_HOSTS = ("huggingface.co", "hf.co")


@functools.lru_cache(maxsize=256)
def _https_host(url: str) -> str | None:
    # Cached: every request's headers ask about the same few origins (each answer is a pure function of the URL).
    parts = urlsplit(url)
    return (parts.hostname or "").lower().rstrip(".") if parts.scheme == "https" else None


def is_hf_space(url: str) -> bool:
    """True for https URLs on a Space's own host (`*.hf.space`), behind the Spaces proxy."""
    host = _https_host(url)
    return host is not None and host.endswith(_SPACE_SUFFIX)


def is_hf_api(url: str) -> bool:
    """True for https URLs of Hugging Face's own API and site (`huggingface.co`, `hf.co`, their subdomains)."""
    host = _https_host(url)
    return host is not None and any(host == h or host.endswith("." + h) for h in _API_HOSTS)


def is_hf_origin(url: str) -> bool:
    """True for https URLs on Hugging Face hosts: the only places a token or a visitor's headers go by default."""
    return is_hf_space(url) or is_hf_api(url)


def token_headers(token: str | None, origin: str) -> dict[str, str]:
    """The header carrying `token` to `origin`, or nothing where the token must not go."""
    if not token:
        return {}
    if is_hf_space(origin):
        return {"x-hf-authorization": f"Bearer {token}"}
    if is_hf_api(origin):
        return {"authorization": f"Bearer {token}"}
    return {}


def merge_headers(
    static: Mapping[str, str],
    *,
    token: str | None,
    origin: str,
    forwarded: Iterable[tuple[str, str]] = (),
    forward_anywhere: bool = False,
    cookie: str | None = None,
) -> dict[str, str]:
    """Headers for one request to `origin`: static, then the token if `origin` may see it, then forwarded ones,
    then the upstream session's own cookies (`compose.cookies`; never another session's).

    `forwarded` (the visitor's allow-listed headers) are added for Hugging Face origins, or anywhere when
    `forward_anywhere` (the developer listed them explicitly for this Space).
    """
    headers = {k.lower(): v for k, v in static.items()}
    headers.update(token_headers(token, origin))
    if forward_anywhere or is_hf_origin(origin):
        for name, value in forwarded:
            headers[name.lower()] = value
    if cookie:
        headers["cookie"] = cookie
    return headers


# Any C0 control character or DEL: CR/LF would forge a second header, NUL truncates in some servers, and the rest
# have no business in a header; HTTP allows none of them except tab, which no header compose sends needs either.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def request_headers(merged: Mapping[str, str], *, accept: str = "*/*") -> dict[str, str]:
    """The final header list of one request: `merged` (from `merge_headers`), then `accept` unless given.

    Every name once (case-insensitively; a later value wins), and nothing a server could misread: a name that is
    not an HTTP token or a value with a control character is refused before any byte is sent.

    Usage: `transport.send("GET", "/config", headers=request_headers(merge_headers(...)))`.
    """
    out: dict[str, str] = {"accept": accept}
    for name, value in merged.items():
        if not _TOKEN.fullmatch(name) or _CONTROL.search(value):
            raise ConfigError(f"refused to send the header {name!r}: a name must be an HTTP token and a value may "
                              "not contain control characters (CR, LF, NUL, ...)")
        out[name.lower()] = value.strip(" \t")
    return out
