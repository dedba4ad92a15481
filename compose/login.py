"""Signing in to a Gradio app launched with `auth=` (Gradio's own username and password page), as gradio_client's
`Client(src, auth=(username, password))` does.

Such an app answers 401 `{"detail": {"error": "Not authenticated", ...}}` to its config, API info, uploads, files,
joins and data streams until the caller posts its credentials to `{root}/login` (a urlencoded form, as the login
page does) and sends back the `access-token-…` cookies the answer sets. compose signs in once per Space object on
first need: before it fetches the schema, or before the first call when the schema came from the disk cache. It
signs in again when the app no longer knows the token (Gradio keeps tokens in memory: a restart forgets them, and
a logout of that user anywhere forgets all of the user's tokens); the request refused for it is sent again once.

The sign-in is the composing app's, not its visitors': every end user's calls carry it (Gradio's `request.username`
is that account for all of them), while upstream sessions (remote `gr.State`) stay one per end user.

Where the secrets go: the password only in the body of the POST to the app's own `/login` (never in a header or a
URL, and the POST is never redirected); the token cookie only to the app's origin (compose.headers builds it into
the `cookie` header of the requests to that app). Both are remembered by compose.redact, so an error text or a log
line echoing them shows `[redacted]`.

Usage (inside compose's I/O loop):
    login = Login(("user", "password"))
    if login.due: await login.sign_in(transport.send, headers, space="my app")
    cookie = login.cookie        # the `cookie` header's part for the app's token, or None
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from . import redact
from .cookies import MAX_VALUE, parse_set_cookies
from .errors import ConfigError, SpaceUnavailable
from .http import Response

__all__ = ["Login", "SignInLost", "asks_for_login", "check_auth"]

_KEY_ROUNDS = 600_000  # PBKDF2-SHA256 rounds of the disk cache key (Login.cache_key), as OWASP advises; once
_TOKEN_COOKIE = "access-token"  # gradio/routes.py: access-token-{cookie_id} and access-token-unsecure-{cookie_id}
_MAX_TOKENS = 4  # token cookies kept from one sign-in (Gradio sets those two)


class SignInLost(Exception):
    """A request was refused because the app no longer knows compose's sign-in (`stale`: the cookie it carried).
    Internal: the caller signs in again and sends the request once more."""

    def __init__(self, stale: str | None) -> None:
        super().__init__("the app no longer knows this sign-in")
        self.stale = stale


def check_auth(auth: Any) -> tuple[str, str] | None:
    """`auth` as given to `Space(auth=...)`: None, or a (username, password) pair of strings."""
    if auth is None:
        return None
    if (not isinstance(auth, (tuple, list)) or len(auth) != 2
            or not all(isinstance(part, str) for part in auth) or not auth[0].strip()):
        raise ConfigError("auth must be a (username, password) pair of strings, as Gradio's launch(auth=...) takes")
    return auth[0], auth[1]


def asks_for_login(response: Response) -> bool:
    """Is this answer Gradio's own "log in first" (an app launched with `auth=`)? gradio/routes.py's login_check
    answers 401 `{"detail": {"error": "Not authenticated", ...}}` (pinned by tests/test_login.py)."""
    if response.status_code != 401:
        return False
    try:
        detail = json.loads(response.content[:4096]).get("detail")
    except (ValueError, AttributeError):
        return False
    return isinstance(detail, dict) and detail.get("error") == "Not authenticated"


Send = Callable[..., Awaitable[Response]]


class Login:
    """One Space object's sign-in to its app: the credentials and, once signed in, the token cookie."""

    __slots__ = ("_key", "_password", "_pending", "cookie", "username")

    def __init__(self, auth: tuple[str, str]) -> None:
        self.username, self._password = auth
        redact.remember({"password": self._password})
        self.cookie: str | None = None  # None: not signed in (yet, or any more); "": the app has no login
        self._pending: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self._key: str | None = None

    def cache_key(self) -> str:
        """What the disk cache keys a schema fetched under this sign-in by: the account and a slow hash of its
        password (the cache's file names derive from it; a fast one would let anyone who can list them test
        guesses quickly). Made once per Space object, on its first schema read."""
        if self._key is None:
            salt = b"gradio-compose sign-in\0" + self.username.encode()
            digest = hashlib.pbkdf2_hmac("sha256", self._password.encode(), salt, _KEY_ROUNDS)
            self._key = f"{self.username}\0{digest.hex()}"
        return self._key

    @property
    def due(self) -> bool:
        """Must compose sign in before its next request?"""
        return self.cookie is None

    async def sign_in(self, send: Send, headers: Mapping[str, str], *, space: str, stale: str | None = None) -> None:
        """Sign in (again, if the app refused the cookie `stale`), unless another call has just done so: concurrent
        callers share one sign-in."""
        if self.cookie is not None and self.cookie != stale:
            return  # signed in since that request went out
        loop = asyncio.get_running_loop()
        if self._pending is not None and self._pending[0] is loop and not self._pending[1].done():
            await asyncio.shield(self._pending[1])
            return
        done = loop.create_future()
        self._pending = (loop, done)
        try:
            self.cookie = await self._post(send, headers, space)
            done.set_result(None)
        except BaseException as e:
            done.set_exception(e)
            done.exception()  # retrieved: only the callers waiting on it report it
            raise

    async def _post(self, send: Send, headers: Mapping[str, str], space: str) -> str:
        # Retried like any request that starts nothing (a second token is harmless); a waking Space is waited for.
        r = await send("POST", "/login", headers=headers, form={"username": self.username, "password": self._password},
                       retry=True, idempotent=True, patient=True, follow=0)
        if r.status_code in (301, 302, 303, 307, 308):
            return ""  # Gradio sends whoever posts to /login of an app without auth= back to its page: no login
        if r.status_code == 400:
            raise ConfigError(f"{space}: the app refused the sign-in of {self.username!r}: incorrect username or "
                              "password (auth=)")
        if r.status_code in (404, 405):
            raise ConfigError(f"{space}: auth= was given, but the app has no Gradio login at /login (it answered "
                              f"{r.status_code})")
        if r.status_code != 200:
            raise SpaceUnavailable(f"signing in as {self.username!r} answered {r.status_code}", space=space)
        cookies: dict[str, str] = {}
        for name, value, _ in parse_set_cookies(r.headers.get_list("set-cookie")):
            # Bounded as compose.cookies bounds a session's: it rides along with every request to the app.
            if (name.startswith(_TOKEN_COOKIE) and value and len(value.encode()) <= MAX_VALUE
                    and (name in cookies or len(cookies) < _MAX_TOKENS)):
                cookies[name] = value
                redact.remember({"cookie": value})
        if not cookies:
            raise SpaceUnavailable(f"signing in as {self.username!r} answered 200 but set no access token",
                                   space=space)
        return "; ".join(f"{name}={value}" for name, value in cookies.items())
