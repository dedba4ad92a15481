"""Secrets out of every message: no token compose sent, and nothing shaped like one, reaches an error text or a log.

A remote app may echo the request's headers in a 500 `detail` or a `gr.Error` ("bad token Bearer hf_…"); a URL
may carry `user:password@`. Every error compose raises passes its text through `redact()` (see `errors.py`), and
compose's loggers carry `LogRedactor`. Two nets:

- the values compose itself put in a credential header (Authorization, X-HF-Authorization, X-IP-Token, cookies,
  anything named like a token, key, secret or password), remembered when the headers are built (`remember`);
- patterns, for secrets compose never saw: Hugging Face tokens (`hf_…`), `Bearer`/`Basic` credentials, and the
  password part of a URL.

The remembered values are only ever used to blank them out; they are kept in a small bounded set (the most recent
`MAX_REMEMBERED`), so a busy app's stream of visitors' tokens cannot grow it.

Usage: `remember(headers); raise SpaceUnavailable(redact(text))` (SpaceError does the redact itself).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Mapping

from . import forksafe

__all__ = ["MASK", "MAX_REMEMBERED", "LogRedactor", "logger", "redact", "remember"]

MASK = "[redacted]"
MAX_REMEMBERED = 4096  # remembered secrets (a visitor's X-IP-Token per call adds one; old ones go first)
_MIN_LEN = 8  # shorter values would blank ordinary words; every real token is longer

_SECRET_HEADER = re.compile(r"auth|token|secret|password|passwd|cookie|api[-_]?key|session", re.IGNORECASE)
_PATTERNS = re.compile(
    r"hf_[A-Za-z0-9]{8,}"  # Hugging Face user and OAuth tokens
    r"|(?<=[Bb]earer )[^\s\"',;}\]]{6,}"  # the credential after "Bearer " / "Basic "
    r"|(?<=[Bb]asic )[A-Za-z0-9+/=]{6,}"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"  # user:password@ in a URL
)

_known: OrderedDict[str, None] = OrderedDict()
_lock = forksafe.Lock()  # headers are built on compose's I/O loop, errors raised on any thread


def remember(headers: Mapping[str, str]) -> None:
    """Note the credential values in a request's headers, so that any text echoing them is redacted."""
    for name, value in headers.items():
        if not value or not _SECRET_HEADER.search(name):
            continue
        for secret in (value, value.split(" ", 1)[-1]):  # "Bearer abc…" and its bare "abc…"
            if len(secret) >= _MIN_LEN:
                with _lock:
                    _known[secret] = None
                    _known.move_to_end(secret)
                    if len(_known) > MAX_REMEMBERED:
                        _known.popitem(last=False)


def redact(text: str) -> str:
    """`text` with every remembered secret and every token-shaped string replaced by `[redacted]` (anything else
    than a string, as a remote's malformed message may be, as its text).

    Usage: `message = redact(upstream_detail)`.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if not text:
        return text
    with _lock:
        known = [s for s in _known if s in text]
    # Longest first: a remembered "Bearer x" must go whole before its bare "x" leaves "Bearer [redacted]" behind.
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _PATTERNS.sub(MASK, text)


class LogRedactor(logging.Filter):
    """A logging filter that redacts a record's message (its arguments formatted in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def logger(name: str) -> logging.Logger:
    """compose's logger `name`, with the redacting filter on it.

    Usage: `log = redact.logger("compose.calls")`.
    """
    log = logging.getLogger(name)
    if not any(isinstance(f, LogRedactor) for f in log.filters):
        log.addFilter(LogRedactor())
    return log
