"""A remote Gradio app (a Hugging Face Space or any Gradio 6 URL) as a local object.

Constructing a Space does no I/O. Its schema is fetched once on first need, cached in memory and on disk, and
`refresh()` re-reads it. One Space — one connection pool — serves every end user; who is calling is resolved per
call (see `compose.identity`), never stored here.

Usage:
    space = compose.Space("owner/name")            # or "http://127.0.0.1:7860"
    space.endpoint("/predict").predict("hello")
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import hub, redact, sessions
from .aiohttp_backend import AiohttpBackend, Verify
from .calls import download_target
from .cookies import CookieJars
from .download import fetch_file
from .endpoint import Endpoint
from .errors import APIChanged, ComposeError, ConfigError, SpaceError, SpaceUnavailable, UpstreamDisconnected
from .headers import DEFAULT_FORWARD_HEADERS, is_hf_origin, merge_headers, request_headers
from .http import Backend, Response, TooLarge
from .identity import Identity, current_identity
from .limits import Gate, Limits, check_schema_counts, schema_json, schema_too_large
from .loop import run_sync
from .schema import EndpointSchema, SpaceSchema, cache_identity, cache_root, load_cached, store_cached
from .sessions import SessionMode
from .streams import StreamHub, hub_for
from .transport import Transport
from .updates import ProgressUnit, Update

__all__ = ["Space", "resolve_src"]

_SPACE_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_src(src: str) -> tuple[str, str | None]:
    """(display name, root URL) for a URL; (Space id, None) for a Space id, whose host only the Hub knows
    (`compose.hub.resolve`: a subdomain is not always `owner-name`, e.g. for names beyond one DNS label)."""
    src = src.strip()
    if src.startswith(("http://", "https://")):
        parts = urlsplit(src)
        if not parts.netloc:
            raise ConfigError(f"not a usable URL: {src!r}")
        m = re.match(r"^/spaces/([^/]+/[^/]+)", parts.path) if parts.netloc in ("huggingface.co", "hf.co") else None
        if m:
            return resolve_src(m.group(1))
        return src.rstrip("/"), f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    if _SPACE_ID.match(src):
        return src, None
    raise ConfigError(f"{src!r} is neither a Space id ('owner/name') nor an http(s) URL")


class Space:
    """A remote Gradio app. See the module docstring for usage."""

    def __init__(
        self,
        src: str,
        *,
        token: str | bool | None = None,
        headers: dict[str, str] | None = None,
        forward_headers: tuple[str, ...] | list[str] | None = None,
        session: SessionMode = "user",
        allowed_paths: tuple[str | os.PathLike[str], ...] | list[str | os.PathLike[str]] = (),
        download_files: bool = True,
        download_dir: str | os.PathLike[str] | None = None,
        max_download_bytes: int = 200 * 2**20,
        max_upload_bytes: int = 200 * 2**20,
        idle_timeout: float = 300.0,
        retries: int = 3,
        max_wait: float = 30.0,
        schema_ttl: float = 3600.0,
        use_oauth_token: bool = False,
        limits: Limits | None = None,
        verify: Verify = True,
        http_backend: Backend | None = None,
    ) -> None:
        if session not in ("user", "shared", "call"):
            raise ConfigError(f"session must be 'user', 'shared' or 'call', not {session!r}")
        self.name, url = resolve_src(src)
        self.hub_id: str | None = self.name if url is None else None  # a Space id: resolved through the Hub
        self._url = url
        # What the per-user session derivation binds to: the URL, or the Space id (its host may change).
        self.key = url or f"hf-space:{self.name}"
        if token is True:
            from huggingface_hub import get_token

            token = get_token()  # the developer opted in to their environment's token
        self._token: str | None = token or None
        if self._token and url is not None and not is_hf_origin(url):
            # Tokens are for Hugging Face only; a token given for another host is simply never sent.
            self._token = None
        self.static_headers = dict(headers or {})
        # Not given: the visitor's x-ip-token, to Hugging Face origins only. Given: exactly those, to this origin
        # whatever it is (the developer decided, e.g. for their own self-hosted app).
        self.forward_headers = tuple(h.lower() for h in (DEFAULT_FORWARD_HEADERS if forward_headers is None
                                                         else forward_headers))
        self.forward_anywhere = forward_headers is not None
        self.session_mode: SessionMode = session
        self.allowed_paths = tuple(Path(p).expanduser().resolve() for p in allowed_paths)
        self.download_files = download_files
        self.max_download_bytes, self.max_upload_bytes = max_download_bytes, max_upload_bytes
        self.idle_timeout = idle_timeout
        self.schema_ttl = schema_ttl
        self.use_oauth_token = use_oauth_token
        self.limits = limits if limits is not None else Limits()
        self.gate = Gate(self.limits, self.name)  # in-flight slots, circuit breaker, upload budgets
        if download_dir is None:
            download_dir = cache_root() / "downloads" / re.sub(r"[^\w.-]+", "_", self.name)[:80]
        self.download_dir = Path(download_dir)
        self.retries, self.max_wait = retries, max_wait
        # The one HTTP seam: aiohttp by default (TLS verified against `verify`), or whatever the developer hands in.
        self._backend: Backend = http_backend if http_backend is not None else AiohttpBackend(verify=verify)
        self._transport: Transport | None = None
        self._stream_hub: StreamHub | None = None
        self._schema: SpaceSchema | None = None
        self._schema_lock: asyncio.Lock | None = None
        self._resolve_lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._epoch = 0
        self._live_app_ids: dict[str, str | None] = {}  # per replica (its affinity cookies): the app id seen
        self.cookies = CookieJars()  # per upstream session; see compose.cookies

    def __repr__(self) -> str:
        return f"<Space {self.name}>"

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
        if self._transport is None:
            self._transport = Transport(self.url, space=self.name, backend=self._backend, retries=self.retries,
                                        max_wait=self.max_wait)
        return self._transport

    @property
    def _hub(self) -> StreamHub:
        if self._stream_hub is None:
            self._stream_hub = hub_for(self.url)
        return self._stream_hub

    async def _ready(self, emit: Callable[[Update], None] | None = None, *, stage: str | None = None) -> None:
        """For a Space id: ask the Hub for its host (once), and wait for it to run (bounded by `max_wait`, with
        progress updates through `emit`); a paused or broken Space fails at once, naming its stage."""
        if self.hub_id is None:
            return
        if self._url is None:
            self._loop_locks()
            assert self._resolve_lock is not None
            async with self._resolve_lock:
                if self._url is None:
                    info = await hub.resolve(self.hub_id, self._token)
                    stage = info.stage
                    self._url = info.url
        if stage is None or stage == "RUNNING":
            return

        def progress(message: str) -> None:
            if emit is not None:
                emit(Update("progress", progress=(ProgressUnit(progress=0.0, desc=message),)))

        async def wake() -> None:
            try:  # any request wakes a sleeping Space; its answer (503 meanwhile) does not matter
                await self.transport.send("GET", "/config", headers=self._headers_for(None))
            except SpaceError:
                pass

        await hub.wait_running(self.hub_id, self._token, stage=stage, max_wait=self.max_wait, wake=wake,
                               progress=progress)

    async def _recover(self, e: SpaceUnavailable, emit: Callable[[Update], None]) -> bool:
        """After a request failed as unavailable: for a Space id, ask the Hub why. True if the Space was sleeping
        or starting and runs now (the call may be made again); raises at once for a paused or broken Space."""
        if self.hub_id is None or e.stage is not None:
            return False
        try:
            stage = (await hub.resolve(self.hub_id, self._token)).stage
        except ComposeError:
            return False
        if stage in (None, "RUNNING"):
            return False
        await self._ready(emit, stage=stage)
        return True

    # --- schema -------------------------------------------------------------------------------------------------

    def _schema_now(self) -> SpaceSchema:
        if self._schema is None:
            raise ConfigError(f"{self.name}: schema not loaded yet")
        return self._schema

    async def _aschema(self, force: bool = False) -> SpaceSchema:
        if self._schema is not None and not force:
            return self._schema
        await self._ready()
        self._loop_locks()
        assert self._schema_lock is not None
        async with self._schema_lock:
            if self._schema is not None and not force:
                return self._schema
            # Keyed by who asks: a Space object without the token never reads a private Space's schema.
            who = cache_identity(self._token, self.static_headers)
            cached = None if force else load_cached(self.url, self.schema_ttl, identity=who)
            if cached is not None:
                self._schema = SpaceSchema.parse(self.url, *cached)
            else:
                self.gate.check()  # a host found dead a moment ago is not asked again (circuit breaker)
                try:
                    config, info = await self._fetch()
                except SpaceUnavailable as e:
                    self.gate.failed(e)
                    raise
                self._schema = SpaceSchema.parse(self.url, config, info)
                if self._schema.app_id:
                    self._live_app_ids[""] = self._schema.app_id  # asked without a session's cookies
                store_cached(self.url, config, info, identity=who)
            return self._schema

    async def _fetch(self) -> tuple[dict[str, Any], dict[str, Any]]:
        h = self._headers_for(None)
        # One round trip instead of three: /config, /info and the MCP schema are asked at once, under gradio's
        # default API prefix (an app with another prefix costs a second trip for the last two).
        prefix = _DEFAULT_PREFIX
        info_task, mcp_task = self._ask_info(prefix, h)
        try:
            r = await self._get_schema("/config", h)
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
            if config.get("api_prefix", _DEFAULT_PREFIX) != prefix:
                prefix = config["api_prefix"]
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
        """Start fetching /info and the MCP schema under `prefix` (see `_fetch`)."""
        info = asyncio.ensure_future(self._get_schema(f"{prefix}/info", headers))
        return info, asyncio.ensure_future(self._mcp_tools(prefix, headers))

    async def _get_schema(self, path: str, headers: dict[str, str], *, retry: bool = True) -> Response:
        """GET a schema document, reading at most `Limits.max_schema_bytes` of it: a larger (or endless) one is
        cut off there and refused with `ConfigError`, never held whole."""
        try:
            return await self.transport.send("GET", path, headers=headers, retry=retry,
                                             max_body=self.limits.max_schema_bytes)
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


    def load(self, progress: Callable[[str], None] | None = None) -> Space:
        """Fetch the schema now (it is otherwise fetched on first need). Returns the Space.

        `progress` hears what a wait for a sleeping or starting Space is about ("waking the Space…"), e.g. for a
        spinner; it is called on compose's I/O thread.
        """

        def emit(update: Update) -> None:
            if progress is not None and update.progress:
                progress(update.progress[-1].desc or "")

        async def load() -> None:
            await self._ready(emit)
            await self._aschema()

        run_sync(load())
        return self

    async def aload(self) -> Space:
        """`load()` for async code: fetch the schema without blocking the event loop."""
        from .loop import run_async

        await run_async(self._aschema())
        return self

    def refresh(self) -> Space:
        """Re-read the schema from the app (and replace the disk cache)."""
        run_sync(self._aschema(force=True))
        return self

    @property
    def schema(self) -> SpaceSchema:
        if self._schema is None:
            self.load()
        return self._schema_now()

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        """The public named endpoints, by api_name."""
        return {name: Endpoint(self, name) for name in self.schema.endpoints}

    def endpoint(self, api_name: str) -> Endpoint:
        """One endpoint by name ("/predict" or "predict"); an unknown name lists the available ones."""
        key = "/" + api_name.lstrip("/")
        self._endpoint_schema(key)
        return Endpoint(self, key)

    def _endpoint_schema(self, api_name: str) -> EndpointSchema:
        endpoints = self.schema.endpoints
        if api_name not in endpoints:
            raise ConfigError(f"{self.name} has no public endpoint {api_name!r}; available: "
                              f"{', '.join(endpoints) or 'none'}")
        return endpoints[api_name]

    @classmethod
    def duplicate(
        cls,
        from_id: str,
        *,
        token: str | None = None,
        to_id: str | None = None,
        private: bool = True,
        hardware: str | None = None,
        **options: Any,
    ) -> Space:
        """Duplicate a Space into the token owner's account (re-using an existing duplicate) and return it.

        Usage: `space = compose.Space.duplicate("owner/name", token=hf_token, hardware="t4-small")`.
        """
        if not token:
            raise ConfigError(f"duplicating {from_id} needs a Hugging Face token (token=...)")
        if not _SPACE_ID.match(from_id):
            raise ConfigError(f"{from_id!r} is not a Space id ('owner/name')")
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError

        api = HfApi(endpoint=hub.hub_endpoint(), token=token)
        target = to_id or f"{api.whoami()['name']}/{from_id.split('/')[1]}"
        try:
            api.duplicate_repo(from_id, target, repo_type="space", private=private, exist_ok=True,
                               space_hardware=hardware)  # type: ignore[arg-type]
        except HfHubHTTPError as e:
            # The message names the Space; the token is never part of it.
            raise SpaceUnavailable(f"could not duplicate into {target}: {e}", space=from_id) from None
        return cls(target, token=token, **options)

    def render(self, *, trust_remote_js: bool = False) -> Any:
        """Inside `gr.Blocks`: the whole remote app, every event through compose (per-user sessions, streaming).

        Returns a `Rendered` whose `api_names` maps each remote api_name to the outer app's. Remote markup is
        sanitized and remote frontend JS dropped unless `trust_remote_js=True`.
        """
        from .ui.render import render_space

        return render_space(self, trust_remote_js=trust_remote_js)

    # --- identity -----------------------------------------------------------------------------------------------

    def _headers_for(self, ident: Identity | None, session: str | None = None, *, accept: str = "*/*"
                     ) -> dict[str, str]:
        """Headers of one request, for `ident` (None: no end user's headers) in upstream session `session` (its
        cookies ride along: replica affinity keeps its join, stream and uploads on one replica). Built once, here:
        deduplicated, and refused before anything is sent if a name or value holds a control character."""
        forwarded = ident.forwarded(self.forward_headers) if ident is not None else ()
        token = self._token
        if self.use_oauth_token and ident is not None and ident.oauth_token:
            token = ident.oauth_token  # a signed-in user's own token, opted in by the developer
        merged = merge_headers(self.static_headers, token=token, origin=self.url, forwarded=forwarded,
                               forward_anywhere=self.forward_anywhere,
                               cookie=self.cookies.header(session) if session is not None else None)
        try:
            headers = request_headers(merged, accept=accept)
        except ConfigError as e:
            raise ConfigError(f"{self.name}: {e}") from None
        redact.remember(headers)  # whatever credential goes out can never come back in an error text or a log
        return headers

    def reset_session(self) -> None:
        """Give the current caller a fresh upstream session (their remote gr.State starts over); others keep theirs."""
        self.cookies.drop(self.upstream_session())  # the old session's cookies go with it
        if self.session_mode == "shared":
            self._epoch += 1
        else:
            sessions.reset(space_key=self.key, user=current_identity().session)

    def upstream_session(self) -> str:
        """The upstream session hash the current caller's calls use (for diagnostics)."""
        return sessions.derive(self.session_mode, space_key=self.key, user=current_identity().session,
                               epoch=self._epoch)

    # --- faults -------------------------------------------------------------------------------------------------

    async def _upstream_restarted(self, epoch: int, session: str | None = None) -> bool:
        """Called when a stateful call joined on a fresh connection, with sessions derived at `epoch`: did the app
        restart (and lose that call's session) since we last saw it?

        Asked with the session's own cookies, so the answer comes from the replica that holds the session, and
        compared with what that replica said before: each replica has its own app id, so one Space-wide baseline
        would take landing on another replica for a restart and reset every user.
        """
        replica = (self.cookies.header(session) if session is not None else None) or ""
        try:
            r = await self.transport.send("GET", "/config", headers=self._headers_for(None, session))
            app_id = str(r.json().get("app_id", "")) if r.status_code == 200 else None
        except Exception:
            return epoch != self._epoch
        if replica not in self._live_app_ids:
            # This process has not seen this replica yet (or the schema came from the disk cache, whose app_id may
            # be hours old): this is the baseline its next restart is measured against.
            if len(self._live_app_ids) >= 64:  # bounded: balancers may mint a new cookie now and then
                self._live_app_ids.pop(next(iter(self._live_app_ids)))
            self._live_app_ids[replica] = app_id
            return False
        if not app_id or app_id == self._live_app_ids[replica]:
            # Another call may have found the restart first: a call that joined under the old sessions lost its
            # state all the same (before, only the first call to look was told).
            return epoch != self._epoch
        self._live_app_ids[replica] = app_id
        self._epoch += 1  # every derived session changes: all users start over, as they must after a restart
        old = self._schema
        fresh = await self._aschema(force=True)
        if old is not None and _api_shape(old) != _api_shape(fresh):
            raise APIChanged("the Space restarted with a different API", space=self.name)
        return True

    def user_download_dir(self, user: str | None) -> Path:
        """Where files downloaded for this end user land (the guard lets a user's agent pass these back)."""
        return sessions.user_folder(self.download_dir, user)

    async def _download(self, remote: dict[str, Any], api_name: str, ident: Identity, session: str | None = None
                        ) -> str:
        route, target = download_target(self, remote, ident)
        # Whole or not at all, typed errors, bounded by the idle and total deadlines (compose.download).
        # With the session's cookies: a result file lives on the replica that made it.
        return await fetch_file(self.transport.stream, route, self._headers_for(None, session), target,
                                max_bytes=self.max_download_bytes, idle=self.idle_timeout,
                                total=self.limits.download_timeout, space=self.name, api_name=api_name)

    async def aclose(self) -> None:
        """Close the connection pool (open calls fail)."""
        if self._stream_hub is not None:
            await self._stream_hub.aclose()  # before the pool: see StreamHub.aclose
        if self._transport is not None:
            await self._transport.aclose()

    def close(self) -> None:
        run_sync(self.aclose())


def _api_shape(schema: SpaceSchema) -> dict[str, Any]:
    return {name: ([p.name for p in ep.parameters], len(ep.returns), ep.input_slots, ep.output_slots)
            for name, ep in schema.endpoints.items()}


_DEFAULT_PREFIX = "/gradio_api"


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
