"""One remote Gradio app as the protocol layer talks to it: where it is, its schema, its headers, its sessions.

An `Upstream` belongs to one `Space` (the public wrapper) and owns everything a call needs from it: the Hub lookup
and the wait for a sleeping Space, the schema (fetched once, cached in memory and on disk, re-read on a restart),
the request headers of each call (built by `compose.headers.request_headers`, the one builder), each upstream
session's cookies and the derivation of its hash, the data-stream hub, restart detection, and the files sent up
and fetched down. `calls`, `drift` and `endpoint` use it through this public API only.

Usage (inside compose's I/O loop):
    up = space.upstream
    schema = await up.load_schema()
    headers = up.headers(ident, up.session(ident.session))
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from . import hub, redact, sessions
from .cookies import CookieJars
from .download import DownloadRefused, fetch_file
from .errors import APIChanged, ComposeError, ConfigError, SpaceError, SpaceUnavailable, UpstreamDisconnected
from .files import file_route, kept_download_path, new_download_path
from .headers import is_hf_origin, merge_headers, request_headers
from .http import Backend, Response, TooLarge
from .identity import Identity
from .limits import Gate, Limits, UploadBudget, check_schema_counts, schema_json, schema_too_large
from .login import Login, SignInLost, asks_for_login
from .placement import Placement
from .schema import CacheEntry, EndpointSchema, SpaceSchema, cache_identity, confirm_cached, read_cached, store_cached
from .sessions import SessionMode
from .streams import StreamHub, hub_for
from .sweep import DownloadSweeper
from .transport import Transport
from .updates import ProgressUnit, Update

__all__ = ["ANSWER_STANDS_FOR", "CLOSE_GRACE", "DEFAULT_PREFIX", "Upstream"]

CLOSE_GRACE = 2.0  # seconds `aclose()` waits at most for the cancels of the calls it cut short
DOWNLOAD_RETRIES = 2  # a result file whose body was cut off is asked for again this many times

# Gradio's default API prefix: /info and the MCP schema are asked under it before /config has said otherwise.
DEFAULT_PREFIX = "/gradio_api"

# How long a session's app id answer (compose.drift's check, before its join) stands in for the restart check after
# that join (`Upstream.restarted`): the check precedes the join by one round trip.
ANSWER_STANDS_FOR = 1.0

Emit = Callable[[Update], None]


log = redact.logger("compose.upstream")


class Upstream:
    """The protocol side of one Space. Made by `Space`; see the module docstring."""

    def __init__(
        self,
        name: str,
        url: str | None,
        *,
        hub_id: str | None,
        key: str,
        token: str | None,
        headers: dict[str, str],
        forward_headers: tuple[str, ...],
        forward_anywhere: bool,
        session_mode: SessionMode,
        use_oauth_token: bool,
        limits: Limits,
        backend: Backend,
        retries: int,
        max_wait: float,
        schema_ttl: float,
        idle_timeout: float,
        allowed_paths: tuple[Path, ...],
        download_files: bool,
        download_dir: Path,
        own_download_dir: bool,
        max_download_bytes: int,
        max_upload_bytes: int,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.name = name
        self.hub_id = hub_id  # a Space id: its host is resolved through the Hub on first need
        self.key = key  # what per-user session derivation binds to: the URL, or the Space id
        self.static_headers = headers
        self.forward_headers = forward_headers
        self.forward_anywhere = forward_anywhere
        self.session_mode: SessionMode = session_mode
        self.use_oauth_token = use_oauth_token
        self.limits = limits
        self.gate = Gate(limits, name)  # in-flight slots, circuit breaker, upload budgets
        self.retries, self.max_wait = retries, max_wait
        self.schema_ttl = schema_ttl
        self.idle_timeout = idle_timeout
        self.allowed_paths = allowed_paths
        self.download_files = download_files
        self.download_dir = download_dir
        # Bounds compose's own download folder by age and size; a folder the developer gave is never swept.
        self.sweeper = DownloadSweeper(download_dir, limits, own=own_download_dir)
        self.max_download_bytes, self.max_upload_bytes = max_download_bytes, max_upload_bytes
        self.cookies = CookieJars()  # per upstream session; see compose.cookies
        self.login = Login(auth) if auth is not None else None  # Gradio's auth= sign-in; see compose.login
        self._token = token
        self._url = url
        self._backend = backend
        self._transport: Transport | None = None
        self._streams: StreamHub | None = None
        self._schema: SpaceSchema | None = None
        self.from_disk = False  # the schema in memory came from the disk cache, not from the app itself
        self._disk: CacheEntry | None = None  # the disk cache file holding the schema in memory, if any
        self._schema_lock: asyncio.Lock | None = None
        self._resolve_lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._epoch = 0
        self._placement = Placement()  # the app process each session lives on (restart detection per replica)
        self._background: set[asyncio.Task[Any]] = set()  # requests that outlive their call (cancels)
        self._calls: set[asyncio.Task[Any]] = set()  # tasks running a call now: close() cancels their jobs
        self.closing = False  # close() is cancelling the calls in flight (they fail UpstreamDisconnected)
        self.closes = 0  # how many times close() ran: a call that waited its turn across one is not sent
        self._unready = False  # the Hub said it was not running when it resolved the host (see resolve)
        # The latest app id answer per session (asked with its cookies): (cookie header, app id, when). Bounded.
        self._answers: dict[str, tuple[str | None, str, float]] = {}

    def __repr__(self) -> str:
        return f"<Upstream {self.name}>"

    def _loop_locks(self) -> None:
        """The schema and resolve locks of the running I/O loop: an asyncio lock belongs to one loop, and a forked
        child runs a new one."""
        loop = asyncio.get_running_loop()
        if self._lock_loop is not loop:
            self._schema_lock, self._resolve_lock, self._lock_loop = asyncio.Lock(), asyncio.Lock(), loop

    # --- where it lives -----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The app's root URL (for a Space id, the host the Hub gave; resolved on first need)."""
        if self._url is None:
            raise ConfigError(f"{self.name}: not resolved through the Hub yet (load() the Space first)")
        return self._url

    @property
    def transport(self) -> Transport:
        """The one connection pool to the app (made on first use)."""
        if self._transport is None:
            self._transport = Transport(self.url, space=self.name, backend=self._backend, retries=self.retries,
                                        max_wait=self.max_wait)
        return self._transport

    @property
    def streams(self) -> StreamHub:
        """The data streams of this app's upstream sessions (shared with other Space objects of the same URL in
        this process: one user's session there is the same session, and must have one stream)."""
        if self._streams is None:
            self._streams = hub_for(self.url)
        return self._streams

    async def resolve(self) -> None:
        """For a Space id: ask the Hub for its host, once. A Space that was not running then is looked at again
        before the first call (`ready`); reading a cached schema needs no running app."""
        if self.hub_id is None or self._url is not None:
            return
        self._loop_locks()
        assert self._resolve_lock is not None
        async with self._resolve_lock:
            if self._url is None:
                info = await hub.resolve(self.hub_id, self._token)
                self._url = info.url
                self._unready = info.stage not in (None, "RUNNING")

    @property
    def asleep(self) -> bool:
        """Did the Hub say this Space was not running (asleep, starting) when it was looked up, with nothing sent to
        it since? Any request would wake it; what is only nice to have (compose.drift's look at a cached schema, the
        files of a rendered layout) does not ask then."""
        return self._unready

    async def ready(self, emit: Emit | None = None, *, stage: str | None = None) -> None:
        """For a Space id: ask the Hub for its host (once), and wait for it to run (bounded by `max_wait`, with
        progress updates through `emit`); a paused or broken Space fails at once, naming its stage."""
        if self.hub_id is None:
            return
        await self.resolve()
        if stage is None:
            if not self._unready:
                return
            self._unready = False  # its stage now, not when it was resolved (that may be long ago)
        elif stage == "RUNNING":
            return
        try:
            await hub.wait_running(self.hub_id, self._token, stage=stage, max_wait=self.max_wait, wake=self._wake,
                                   progress=_progress_to(emit, self.name))
        except SpaceUnavailable as e:
            if e.stage not in hub.WAITING_STAGES:
                raise  # paused or broken: waiting longer would not help, and the error says so
            raise SpaceUnavailable(f"{e.message}; gave up waiting for it to wake and start (max_wait="
                                   f"{self.max_wait:g} s)", space=self.name, stage=e.stage) from None

    @contextlib.asynccontextmanager
    async def turn(self, api_name: str | None, closes: int | None = None) -> AsyncIterator[UploadBudget]:
        """One call's turn at the Space (its gate: breaker, in-flight slot, upload budget), refused when the Space
        was closed since `closes` (the caller's `self.closes` before it waited for anything; default: now): a call
        that waited its turn across a close() is never sent.

        Usage: `closes = up.closes; await up.ready(emit); async with up.turn(api_name, closes): ...`.
        """
        closes = self.closes if closes is None else closes
        async with self.gate.call(api_name) as budget:
            if self.closes != closes:
                raise UpstreamDisconnected("the Space was closed while this call waited its turn "
                                           "(Limits.max_in_flight); nothing was sent", space=self.name,
                                           api_name=api_name)
            yield budget

    async def _wake(self) -> None:
        try:  # any request wakes a sleeping Space; its answer (503 meanwhile) does not matter
            await self.transport.send("GET", "/config", headers=self.headers(None))
        except SpaceError:
            pass

    async def recover(self, e: SpaceUnavailable, emit: Emit) -> bool:
        """After a request failed as unavailable: for a Space id, ask the Hub why; for a URL, wait (bounded by
        `max_wait`, with progress) while the app answers that it is starting (502/503/504). True if it was sleeping
        or starting and runs now (the call may be made again); raises at once for a paused or broken Space."""
        if e.stage is not None:
            return False
        if self.hub_id is None:
            waited: list[int] = []

            def on_wait(status: int, left: float) -> None:
                waited.append(status)
                _progress_to(emit, self.name)(hub.starting_message(status, left))

            try:  # bounded by max_wait, Retry-After honoured (compose.transport)
                r = await self.transport.send("GET", "/config", headers=self.headers(None), retry=True,
                                              patient=True, on_wait=on_wait)
            except SpaceError:
                return False
            return bool(waited) and r.status_code == 200
        try:
            stage = (await hub.resolve(self.hub_id, self._token)).stage
        except ComposeError:
            return False
        if stage in (None, "RUNNING"):
            return False
        await self.ready(emit, stage=stage)
        return True

    # --- schema -------------------------------------------------------------------------------------------------

    @property
    def loaded(self) -> SpaceSchema | None:
        """The schema in memory, or None before the first load."""
        return self._schema

    def schema_now(self) -> SpaceSchema:
        """The schema in memory; a ConfigError before the first load (calls load it first)."""
        if self._schema is None:
            raise ConfigError(f"{self.name}: schema not loaded yet")
        return self._schema

    def endpoint_schema(self, api_name: str, schema: SpaceSchema | None = None) -> EndpointSchema:
        """One public endpoint of `schema` (default: the loaded one); an unknown name lists the available ones."""
        endpoints = (schema or self.schema_now()).endpoints
        if api_name not in endpoints:
            raise ConfigError(f"{self.name} has no public endpoint {api_name!r}; available: "
                              f"{', '.join(endpoints) or 'none'}")
        return endpoints[api_name]

    async def load_schema(self, force: bool = False, emit: Emit | None = None, *, confirm: bool = False
                          ) -> SpaceSchema:
        """The schema: from memory, else the disk cache (younger than `schema_ttl`), else the app; `force` asks the
        app again (and replaces the disk cache). Only fetching it waits for a sleeping or starting Space (with
        progress through `emit`); a cached schema is read while the Space sleeps.

        With `confirm`, a disk schema the app has not confirmed within `Limits.schema_check_every` is first checked
        against the app's id (one small GET), and read again from the app if another launch answers: what is built
        from it at once (a rendered app, a handler's signature, tools) would otherwise show an earlier deploy's API
        (a developer's local app changed and restarted, another app now on a reused address). A call needs no
        `confirm`: compose.drift checks before it binds (and an app that does not answer leaves the cache standing).
        """
        if confirm:
            return await self._confirmed(await self.load_schema(force, emit), emit)
        if self._schema is not None and not force:
            return self._schema
        await self.resolve()
        self._loop_locks()
        assert self._schema_lock is not None
        async with self._schema_lock:
            if self._schema is not None and not force:
                return self._schema
            # Keyed by who asks: a Space object without the token never reads a private Space's schema.
            who = self._cache_identity()
            cached = None if force else read_cached(self.url, self.schema_ttl, identity=who)
            self.from_disk = cached is not None
            if cached is not None:
                config, info, self._disk = cached
                self._schema = SpaceSchema.parse(self.url, config, info)
                # Confirmed by the app (an earlier process's fetch or redeploy check) within schema_check_every:
                # trusted as this process's own check would be, so the first call asks nothing first.
                self.gate.confirmed_at(self._disk.confirmed_at)
            else:
                await self.ready(emit)  # only now: a cached schema is read while the Space sleeps
                self.gate.check()  # a host found dead a moment ago is not asked again (circuit breaker)
                try:
                    config, info = await self.fetch(emit)
                except SpaceUnavailable as e:
                    self.gate.failed(e)
                    raise
                # Read from the app just now: the redeploy check (compose.drift) has nothing to ask before the
                # first call, which would otherwise wait one round trip more for an app id it was just given.
                self.gate.checked_at = time.monotonic()
                self._schema = SpaceSchema.parse(self.url, config, info)
                if self._schema.app_id:
                    # The baseline of sessions no balancer pins (one app process serves them all). Not from the
                    # disk cache: its app id may be hours old.
                    self._placement.baseline("", self._schema.app_id)
                self._disk = store_cached(self.url, config, info, identity=who)
            return self._schema

    async def _confirmed(self, schema: SpaceSchema, emit: Emit | None) -> SpaceSchema:
        """`schema`, or the app's own if it came from the disk cache, the app has not confirmed it within
        `Limits.schema_check_every`, and another launch answers now. See `load_schema(confirm=True)`."""
        if (not self.from_disk or self.asleep  # a Space the Hub says sleeps: asking would wake it
                or time.monotonic() - self.gate.checked_at < self.limits.schema_check_every):
            return schema
        live = await self.app_id(schema.api_prefix)
        if live is None:  # unreachable, or no app id to ask: the cache stands (the call will tell)
            return schema
        if live != schema.app_id:
            return await self.load_schema(force=True, emit=emit)  # another launch: read its schema
        self.gate.checked_at = time.monotonic()
        self.confirmed()
        self.from_disk = False  # vouched for by the app: asked once per process, then calls check as ever
        return schema

    def confirmed(self) -> None:
        """The app answered an app id whose API is the schema's just now (compose.drift's check): the disk cache's
        entry says so too, so a process started within `schema_check_every` need not ask again."""
        if self._disk is not None:
            who = self._cache_identity()
            self._disk = confirm_cached(self.url, self._disk, identity=who)

    def _cache_identity(self) -> str:
        return cache_identity(self._token, self.static_headers,
                              login=self.login.cache_key() if self.login is not None else None)

    async def sign_in(self, stale: str | None = None) -> None:
        """Sign in to an app launched with Gradio's `auth=` (with `stale`: again, the app refused that cookie);
        nothing without `Space(auth=...)`. See compose.login."""
        if self.login is not None:
            await self.login.sign_in(self.transport.send, self.headers(None), space=self.name, stale=stale)

    async def signed_in(self) -> None:
        """Sign in first if this Space has `auth=` and is not signed in (yet, or any more): before anything is asked
        of an app launched with Gradio's `auth=`."""
        if self.login is not None and self.login.due:
            await self.sign_in()

    def refused_sign_in(self, response: Response) -> bool:
        """Was `response` Gradio's "log in first" to a request that carried compose's sign-in (the app forgot it)?"""
        return self.login is not None and asks_for_login(response)

    async def fetch(self, emit: Emit | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The app's config and API info as it serves them now (no cache), parameter descriptions added from its
        MCP schema when it has one. An app that answers "starting" (503 while a Space wakes, 502 while a balancer
        finds no backend) is waited for up to max_wait, with progress through `emit`: not failed after a few
        quick tries. An app launched with Gradio's `auth=` is signed in to first (`Space(auth=...)`)."""
        try:
            await self.signed_in()
            return await self._fetch(emit)
        except SignInLost as e:  # signed in before, but the app has forgotten it (restarted): once more
            await self.sign_in(stale=e.stale)
            try:
                return await self._fetch(emit)
            except SignInLost:
                assert self.login is not None
                raise ConfigError(f"{self.name}: the app still asks for a login after signing in as "
                                  f"{self.login.username!r}") from None

    async def _fetch(self, emit: Emit | None) -> tuple[dict[str, Any], dict[str, Any]]:
        signed = self.login.cookie if self.login is not None else None  # the sign-in these requests carry
        h = self.headers(None)
        waited: list[int] = []

        def on_wait(status: int, left: float) -> None:
            waited.append(status)
            _progress_to(emit, self.name)(hub.starting_message(status, left))

        # One round trip instead of three: /config, /info and the MCP schema are asked at once, under gradio's
        # default API prefix (an app with another prefix costs a second trip for the last two).
        prefix = DEFAULT_PREFIX
        info_task, mcp_task = self._ask_info(prefix, h)
        try:
            r = await self._get_schema("/config", h, on_wait=on_wait)
            if self.refused_sign_in(r):
                raise SignInLost(signed)
            if asks_for_login(r):
                raise ConfigError(f"{self.name}: the app asks for a login (it was launched with Gradio's auth=): "
                                  "pass Space(..., auth=(username, password))")
            if r.status_code in (401, 403, 404):
                # What Hugging Face answers for a private Space to a caller without its token, too.
                private = " (or a private Space: pass token=...)" if is_hf_origin(self.url) else ""
                raise ConfigError(f"{self.name}: {self.url}/config answered {r.status_code}: no Gradio app there"
                                  f"{private}")
            if r.status_code != 200:
                raise SpaceUnavailable(f"config answered {r.status_code}", space=self.name)
            try:
                config = schema_json(self.name, f"{self.url}/config", r.content, self.limits)
            except ValueError:
                raise ConfigError(f"{self.name}: {self.url}/config is not a Gradio app's config") from None
            if not isinstance(config, dict) or "dependencies" not in config:
                raise ConfigError(f"{self.name}: {self.url} does not look like a Gradio app")
            if config.get("api_prefix", DEFAULT_PREFIX) != prefix or waited:
                # Another prefix; or the app was starting, and the MCP schema (asked once, not waited for) may
                # have been one of its "not yet" answers.
                prefix = config.get("api_prefix", DEFAULT_PREFIX)
                _drop(info_task, mcp_task)
                info_task, mcp_task = self._ask_info(prefix, h)
            r = await info_task
            if r.status_code != 200:
                raise SpaceUnavailable(f"API info answered {r.status_code}", space=self.name)
            try:
                info = schema_json(self.name, f"{self.url}{prefix}/info", r.content, self.limits)
            except ValueError:  # as for the config above: a clear error rather than a bare ValueError
                raise ConfigError(f"{self.name}: {self.url}{prefix}/info is not a Gradio app's API info") from None
            if not isinstance(info, dict):
                raise ConfigError(f"{self.name}: {self.url}{prefix}/info is not a Gradio app's API info")
            check_schema_counts(self.name, config, info, self.limits)
            if config.get("mcp_server"):
                _add_parameter_descriptions(await mcp_task, info)
            return config, info
        finally:
            _drop(info_task, mcp_task)

    def _ask_info(self, prefix: str, headers: dict[str, str]) -> tuple[asyncio.Task[Any], asyncio.Task[Any]]:
        """Start fetching /info and the MCP schema under `prefix` (see `fetch`)."""
        info = asyncio.ensure_future(self._get_schema(f"{prefix}/info", headers))
        return info, asyncio.ensure_future(self._mcp_tools(prefix, headers))

    async def _get_schema(self, path: str, headers: dict[str, str], *, retry: bool = True,
                          on_wait: Callable[[int, float], None] | None = None) -> Response:
        """GET a schema document, reading at most `Limits.max_schema_bytes` of it: a larger (or endless) one is
        cut off there and refused with `ConfigError`, never held whole. An app still starting is waited for."""
        try:
            return await self.transport.send("GET", path, headers=headers, retry=retry,
                                             max_body=self.limits.max_schema_bytes, patient=True, on_wait=on_wait)
        except UpstreamDisconnected as e:
            if isinstance(e.__cause__, TooLarge):
                raise schema_too_large(self.name, f"{self.url}{path}", None, self.limits) from None
            raise

    async def _mcp_tools(self, prefix: str, headers: dict[str, str]) -> Any:
        """The app's MCP tool list, or [] (it is optional: any failure leaves the descriptions empty)."""
        try:
            r = await self._get_schema(f"{prefix}/mcp/schema", headers, retry=False)
            return r.json() if r.status_code == 200 else []
        except (SpaceError, ConfigError, ValueError):
            return []

    async def app_id(self, prefix: str, session: str | None = None, user: str | None = None) -> str | None:
        """The running app's id (Gradio draws a new one at every launch), or None if it cannot be had (the call
        itself will then say what is wrong). With `session` (of end user `user`), asked with its cookies: the id of
        the replica that holds it; a balancer's cookie in the answer pins a session that had none to that replica,
        so its join goes where it was asked."""
        try:
            r = await self.transport.send("GET", f"{prefix}/app_id", headers=self.headers(None, session),
                                          read_timeout=min(30.0, self.idle_timeout))
            if session is not None:
                self.cookies.update(session, r.headers.get_list("set-cookie"), user=user)
            body: Any = r.json() if r.status_code == 200 else None
        except Exception:  # an unreachable or odd app: not this check's to report
            return None
        if not isinstance(body, dict) or body.get("app_id") is None:
            return None
        if session is not None:
            if len(self._answers) >= 1024:
                self._answers.clear()
            self._answers[session] = (self.cookies.header(session), str(body["app_id"]), time.monotonic())
        return str(body["app_id"])

    # --- who is calling: headers and sessions -------------------------------------------------------------------

    def headers(self, ident: Identity | None, session: str | None = None, *, accept: str = "*/*"
                ) -> dict[str, str]:
        """Headers of one request, for `ident` (None: no end user's headers) in upstream session `session` (its
        cookies ride along: replica affinity keeps its join, stream and uploads on one replica). Built by
        `headers.request_headers`: deduplicated, and refused before anything is sent if a name or value holds a
        control character."""
        forwarded = ident.forwarded(self.forward_headers) if ident is not None else ()
        token = self._token
        if self.use_oauth_token and ident is not None and ident.oauth_token:
            token = ident.oauth_token  # a signed-in user's own token, opted in by the developer
        cookie = self.cookies.header(session) if session is not None else None
        if self.login is not None and self.login.cookie:  # the app's sign-in token, for every user's requests
            cookie = f"{self.login.cookie}; {cookie}" if cookie else self.login.cookie
        merged = merge_headers(self.static_headers, token=token, origin=self.url, forwarded=forwarded,
                               forward_anywhere=self.forward_anywhere, cookie=cookie)
        try:
            headers = request_headers(merged, accept=accept)
        except ConfigError as e:
            raise ConfigError(f"{self.name}: {e}") from None
        redact.remember(headers)  # whatever credential goes out can never come back in an error text or a log
        return headers

    @property
    def epoch(self) -> int:
        """How many times the app was found restarted (or a shared session reset): part of every session hash."""
        return self._epoch

    def session(self, user: str | None, epoch: int | None = None) -> str:
        """The upstream session hash of end user `user` (their session key; None: a plain script)."""
        return sessions.derive(self.session_mode, space_key=self.key, user=user,
                               epoch=self._epoch if epoch is None else epoch)

    def reset_session(self, user: str | None) -> None:
        """Give `user` a fresh upstream session (their remote gr.State starts over); others keep theirs."""
        self.cookies.drop(self.session(user))  # the old session's cookies go with it
        if self.session_mode == "shared":
            self._epoch += 1
        else:
            sessions.reset(space_key=self.key, user=user)

    # --- faults -------------------------------------------------------------------------------------------------

    async def restarted(self, session: str, user: str | None, epoch: int, *, new_connection: bool = True) -> bool:
        """Did the app process that held upstream session `session` (of end user `user`, derived at `epoch`) go
        away since its last call? Called when a stateful call joined on a connection that had carried no join (a
        restart closes connections). If it did, the session is reset (see `seen`).

        The app is asked for its id, unless this call's own redeploy check (compose.drift) asked it for this
        session, with the same cookies, moments ago (`ANSWER_STANDS_FOR`) and the join went on a connection that
        was open already (`new_connection` False: a pooled one, or the spare that check opened beside its own):
        a restart since that answer would have closed it, and the join would have opened one of its own. After
        an idle spell that saves the round trip this question cost after the join.
        """
        answer = self._answers.pop(session, None)
        if (answer is not None and not new_connection and answer[0] == self.cookies.header(session)
                and time.monotonic() - answer[2] < ANSWER_STANDS_FOR):
            app_id: str | None = answer[1]
        else:
            app_id = await self.app_id(self.schema_now().api_prefix, session, user)
        if app_id is not None and await self.seen(session, user, app_id):
            return True
        # Another call may have found the restart first: a call that joined under the old sessions lost its state
        # all the same.
        return epoch != self._epoch

    async def seen(self, session: str, user: str | None, app_id: str) -> bool:
        """`session`'s replica (asked with the session's own cookies) answered `app_id`: True if that is not the
        process the session lived on before, which lost its state with it. The session is then reset (its user
        starts over in a fresh one), and if the app came back with another API, APIChanged says so.

        A session with a balancer's affinity cookie is compared with its own baseline, and only the sessions of
        the replica that restarted start over (`compose.placement`); without one, one app process serves every
        session, and all start over.
        """
        if self.session_mode == "call":
            return False  # a fresh session every call: nothing to lose
        pinned = self.pinned(session)
        where = session if pinned else ""
        new_process = not self._placement.known(app_id)
        if not self._placement.seen(where, app_id):
            return False
        if pinned:
            self._lose(session, user)
        else:
            self._epoch += 1  # every derived session changes: all users start over
        if new_process:
            old = self._schema
            fresh = await self.load_schema(force=True)
            if old is not None and api_shape(old) != api_shape(fresh):
                raise APIChanged("the Space restarted with a different API", space=self.name)
        return True

    def check_clock(self, session: str) -> str:
        """The redeploy check's clock a stateful call of `session` goes by (compose.drift): its replica's, named by
        the app id the session was last seen on, or, until it has been seen, by its own affinity cookie; "" (the
        Space-wide clock) for a session no balancer pins, which one app process serves with every other."""
        cookie = self.cookies.header(session)
        if cookie is None:
            return ""
        where = self._placement.where(session)
        return f"app {where}" if where is not None else f"cookie {cookie}"

    def pinned(self, session: str) -> bool:
        """True if a balancer (or the app) gave `session` cookies: its replica is known by them."""
        return self.cookies.header(session) is not None

    def lost(self, session: str, user: str | None) -> bool:
        """True (once) if `session` lived on an app process another session found restarted; it is reset then."""
        if not self._placement.lost(session):
            return False
        self._lose(session, user)
        return True

    def _lose(self, session: str, user: str | None) -> None:
        self._placement.forget(session)
        self.cookies.drop(session)  # the affinity cookie of a process that is gone; the next join gets a new one
        if self.session_mode == "shared":
            self._epoch += 1
        else:
            sessions.reset(space_key=self.key, user=user)

    async def redeployed(self) -> None:
        """The app was redeployed with another API: every user starts over in a new session, the schema is read
        again."""
        self._epoch += 1
        self._placement.clear()
        await self.load_schema(force=True)

    # --- files --------------------------------------------------------------------------------------------------

    async def upload(self, path: Path, api_name: str, session: tuple[str, str | None] | None = None
                     ) -> dict[str, Any]:
        """Send one local file (already checked: allowed, within size) to the app; returns its answer's path and
        the file's name and size. `session` is (upstream session, its end user): the upload carries the session's
        cookies, so it lands on the replica its join will reach, and keeps the cookies it is given."""
        sch = self.schema_now()
        signed = self.login.cookie if self.login is not None else None
        with path.open("rb") as f:
            response = await self.transport.send(
                "POST", f"{sch.api_prefix}/upload", headers=self.headers(None, session and session[0]), retry=True,
                files=[("files", path.name, f)], api_name=api_name,
            )
        if session is not None:
            self.cookies.update(session[0], response.headers.get_list("set-cookie"), user=session[1])
        if self.refused_sign_in(response):
            raise SignInLost(signed)
        if response.status_code != 200:
            raise SpaceUnavailable(f"upload of {path.name!r} answered {response.status_code}", space=self.name,
                                   api_name=api_name)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not (isinstance(answer, list) and answer and isinstance(answer[0], str) and answer[0]):
            # Gradio answers the list of the uploaded files' paths; anything else is no upload this call can use.
            raise SpaceUnavailable(f"upload of {path.name!r} answered 200 without a file path: "
                                   f"{response.text[:200]!r}", space=self.name, api_name=api_name)
        return {"path": answer[0], "orig_name": path.name, "size": path.stat().st_size}

    def user_download_dir(self, user: str | None) -> Path:
        """Where files downloaded for this end user land (the guard lets a user's agent pass these back)."""
        return sessions.user_folder(self.download_dir, user)

    def kept_download(self, remote: dict[str, Any], ident: Identity) -> str | None:
        """The local copy of a remote file this end user already has (`files.kept_download_path`), if any: it is
        not fetched again. Touched, so the sweep counts its age from now (it is being handed out again)."""
        target = kept_download_path(self.user_download_dir(ident.session), self.url, str(remote["path"]))
        if target is None or not target.is_file():
            return None  # never fetched, or removed since (by the sweep, or by whoever was handed it)
        with contextlib.suppress(OSError):
            os.utime(target)
        return str(target)

    async def download(self, remote: dict[str, Any], api_name: str, ident: Identity, session: str | None = None,
                       *, keep: bool = False) -> str:
        """Fetch one FileData result into the end user's own download folder; returns the local path. With
        `keep`, a file the remote names by its content is kept where `kept_download` finds it next time."""
        sch = self.schema_now()
        route = file_route(sch.api_prefix, remote["path"])
        root, name = self.user_download_dir(ident.session), remote.get("orig_name")
        name = name if isinstance(name, str) else None  # a malformed one: named after its path instead
        target = kept_download_path(root, self.url, str(remote["path"])) if keep else None
        if target is None:
            target = new_download_path(root, name or remote["path"])
        # Whole or not at all, typed errors, bounded by the idle and total deadlines (compose.download).
        # With the session's cookies: a result file lives on the replica that made it.
        signed_again, cut_off = False, 0
        while True:
            signed = self.login.cookie if self.login is not None else None
            target.parent.mkdir(parents=True, exist_ok=True)  # (a refused attempt removes its empty folder)
            try:
                local = await fetch_file(self.transport.stream, route, self.headers(None, session), target,
                                         max_bytes=self.max_download_bytes, idle=self.idle_timeout,
                                         total=self.limits.download_timeout, space=self.name, api_name=api_name)
                break
            except DownloadRefused as e:
                if signed_again or e.status != 401 or self.login is None:
                    raise
                signed_again = True
                await self.sign_in(stale=signed)  # the app forgot the sign-in (a restart, a logout elsewhere)
            except UpstreamDisconnected:
                # The body was cut off. Gradio serves a cached file while another event with the same content
                # rewrites it (two calls returning the same picture at once): whole a moment later. A GET may be
                # asked again; a few times, then the error stands.
                cut_off += 1
                if cut_off > DOWNLOAD_RETRIES:
                    raise
        self.sweeper.downloaded()  # at most one pass a minute, in a thread of its own (compose.sweep)
        return local

    # --- requests that outlive their call -----------------------------------------------------------------------

    def in_background(self, request: Coroutine[Any, Any, Any]) -> None:
        """Run `request` as a task of its own on the running I/O loop, kept until it ends: e.g. the cancel of a
        call whose own task is being cancelled, which must still go out."""
        task = asyncio.get_running_loop().create_task(request)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def background(self) -> int:
        """How many background requests are in flight."""
        return sum(1 for task in self._background if not task.done())

    async def settle(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the background requests in flight on this loop (a forked child does not
        wait for its parent's)."""
        loop = asyncio.get_running_loop()
        pending = [task for task in self._background if task.get_loop() is loop and not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    def call_begins(self) -> asyncio.Task[Any] | None:
        """A call starts in the current task: `aclose()` cancels it (and so its upstream job). Pass the task back
        to `call_ends`."""
        task = asyncio.current_task()
        if task is not None:
            self._calls.add(task)
        return task

    def call_ends(self, task: asyncio.Task[Any] | None) -> None:
        self._calls.discard(task)  # type: ignore[arg-type]  # None was never added

    async def aclose(self, grace: float = CLOSE_GRACE) -> None:
        """Close the connection pool. Calls in flight are cancelled first, each with its upstream job (they fail
        `UpstreamDisconnected`), and their cancels get up to `grace` seconds to go out: a job whose caller closed
        the Space must not run on for no one (closing the data stream alone leaves a running job running)."""
        loop = asyncio.get_running_loop()
        self.closes += 1
        me = asyncio.current_task()
        calls = [t for t in self._calls if t is not me and not t.done() and t.get_loop() is loop]
        if calls:
            self.closing = True
            try:
                for task in calls:
                    task.cancel()
                ends = loop.time() + grace
                await asyncio.wait(calls, timeout=grace)
                await self.settle(max(0.0, ends - loop.time()))
            finally:
                self.closing = False
        if self._streams is not None:
            await self._streams.aclose()  # before the pool: see StreamHub.aclose
        if self._transport is not None:
            await self._transport.aclose()


def _progress_to(emit: Emit | None, space: str) -> Callable[[str], None]:
    """A progress line for whoever waits (a stream's updates, a handler's gr.Progress, a spinner), if anyone; and
    in compose's log at INFO (each new kind of wait once), so a wait nobody shows (`space.endpoint()` fetching the
    schema of a sleeping Space) is not silent."""
    said = {""}

    def progress(message: str) -> None:
        kind = message.split(" (", 1)[0]  # "waking the Space…", without the seconds left that change each time
        if kind not in said:
            said.add(kind)
            log.info("compose: waiting for %s: %s", space, message)
        if emit is not None:
            emit(Update("progress", progress=(ProgressUnit(progress=0.0, desc=message),)))

    return progress


def api_shape(schema: SpaceSchema) -> dict[str, Any]:
    """What a restart with another API changes: each endpoint's parameter names and its input/output slots."""
    return {name: ([p.name for p in ep.parameters], len(ep.returns), ep.input_slots, ep.output_slots)
            for name, ep in schema.endpoints.items()}


def _drop(*tasks: asyncio.Task[Any]) -> None:
    """Cancel what is still running; what ended is looked at, so no failure is reported as never retrieved."""
    for task in tasks:
        if task.done():
            if not task.cancelled():
                task.exception()
        else:
            task.cancel()
            task.add_done_callback(lambda t: t.cancelled() or t.exception())


def _add_parameter_descriptions(tools: Any, info: dict[str, Any]) -> None:
    """Copy each parameter's docstring line ("Args:") into `info`, from the app's MCP schema (`tools`).

    /info publishes only an endpoint's summary; an app that serves MCP (`mcp_server=True`, as many Spaces do)
    also publishes what each parameter means, which agents and the API page need.
    """
    endpoints = info.get("named_endpoints") or {}
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        name = str((tool.get("meta") or {}).get("endpoint_name") or "")
        endpoint = endpoints.get(name if name.startswith("/") else f"/{name}")
        properties = (tool.get("inputSchema") or {}).get("properties") or {}
        if not isinstance(endpoint, dict) or not isinstance(properties, dict):
            continue
        for p in endpoint.get("parameters") or []:
            described = properties.get(p.get("parameter_name"))
            if not p.get("description") and isinstance(described, dict) and described.get("description"):
                p["description"] = str(described["description"])
