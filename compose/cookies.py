"""Cookies per upstream session (one end user × one Space), never shared between sessions, bounded, dropped when
the session is reset or its user leaves.

Why keep any: a Space (or a self-hosted Gradio app) running several replicas behind a balancer with cookie
affinity needs the join, the data stream and the uploads of one session on the same replica; without the cookie
they split and Gradio answers "Session not found". Why per session: one user's cookie must never ride along with
another user's request (the shared pool itself keeps no cookie jar).

The jar is deliberately simple: same origin only (one `Space` is one origin), every path, no domain matching;
`Max-Age=0` or an expiry in the past deletes; a cookie over `MAX_VALUE` bytes is ignored.

Usage:
    jars = CookieJars()
    jars.update(session_hash, response_headers.get_list("set-cookie"), user=ident.session)
    headers["cookie"] = jars.header(session_hash)        # None when the session has none
"""

from __future__ import annotations

import email.utils
import hashlib
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie

from . import forksafe

__all__ = ["MAX_COOKIES", "MAX_SESSIONS", "MAX_VALUE", "CookieJars", "forget", "parse_set_cookies"]

MAX_SESSIONS = 10_000  # per Space: the least recently used session's cookies go first
MAX_COOKIES = 32  # per session
MAX_VALUE = 4096  # bytes per cookie value, as browsers bound them

_all_jars: weakref.WeakSet[CookieJars] = weakref.WeakSet()
_all_lock = forksafe.Lock()


def _owner(user: str | None) -> str:
    # Kept to drop a departed user's cookies; hashed, so the map holds no raw session keys. Tagged as in
    # compose.sessions: no end user's key names the app's own jar.
    return hashlib.sha256(("n" if user is None else "u" + user).encode()).hexdigest()[:24]


class _Jar:
    __slots__ = ("cookies", "owner")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.cookies: dict[str, tuple[str, float | None]] = {}  # name → (value, expires at, monotonic)


class CookieJars:
    """The cookie jars of one Space's upstream sessions."""

    def __init__(self, *, max_sessions: int = MAX_SESSIONS, max_cookies: int = MAX_COOKIES) -> None:
        self.max_sessions, self.max_cookies = max_sessions, max_cookies
        self._jars: OrderedDict[str, _Jar] = OrderedDict()
        self._lock = forksafe.Lock()
        with _all_lock:
            _all_jars.add(self)

    def __len__(self) -> int:
        return len(self._jars)

    def header(self, session: str) -> str | None:
        """The `Cookie` header value for this session's requests, or None."""
        jar = self._jars.get(session)
        if jar is None:
            return None
        now = time.monotonic()
        with self._lock:
            live = {name: value for name, (value, expires) in jar.cookies.items() if expires is None or expires > now}
            if len(live) != len(jar.cookies):
                jar.cookies = {n: c for n, c in jar.cookies.items() if n in live}
        return "; ".join(f"{name}={value}" for name, value in live.items()) or None

    def update(self, session: str, set_cookies: Iterable[str], *, user: str | None) -> None:
        """Take the `Set-Cookie` headers of an answer to this session's request."""
        parsed = parse_set_cookies(set_cookies)
        if not parsed:
            return
        now = time.monotonic()
        with self._lock:
            jar = self._jars.get(session)
            if jar is None:
                jar = self._jars[session] = _Jar(_owner(user))
            self._jars.move_to_end(session)
            for name, value, expires in parsed:
                if expires is not None and expires <= now:
                    jar.cookies.pop(name, None)
                elif len(value.encode()) <= MAX_VALUE and (name in jar.cookies or len(jar.cookies) < self.max_cookies):
                    jar.cookies[name] = (value, expires)
            while len(self._jars) > self.max_sessions:
                self._jars.popitem(last=False)

    def drop(self, session: str) -> None:
        """Forget this session's cookies (it was reset, or ended)."""
        with self._lock:
            self._jars.pop(session, None)

    def forget_user(self, user: str) -> None:
        owner = _owner(user)
        with self._lock:
            for session in [s for s, jar in self._jars.items() if jar.owner == owner]:
                del self._jars[session]


def parse_set_cookies(set_cookies: Iterable[str]) -> list[tuple[str, str, float | None]]:
    """(name, value, expiry on the monotonic clock or None) of each cookie these `Set-Cookie` headers set; a
    malformed one is ignored, as a browser would.

    Usage: `for name, value, expires in parse_set_cookies(reply.headers.get_list("set-cookie")): ...`
    """
    parsed: list[tuple[str, str, float | None]] = []
    for line in set_cookies:
        try:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(line)
        except CookieError:
            continue
        for name, morsel in cookie.items():
            parsed.append((name, morsel.value, _expiry(morsel["max-age"], morsel["expires"])))
    return parsed


def forget(user: str) -> None:
    """Drop this user's cookies in every Space (their outer session ended)."""
    with _all_lock:
        jars = list(_all_jars)
    for jar in jars:
        jar.forget_user(user)


def _expiry(max_age: str, expires: str) -> float | None:
    """When a cookie expires, on the monotonic clock; None for a session cookie."""
    if max_age:
        try:
            return time.monotonic() + int(max_age)
        except ValueError:
            pass
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires).timestamp()
        except (TypeError, ValueError):
            return None
        return time.monotonic() + (when - time.time())
    return None
