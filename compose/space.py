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
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import redact, sessions
from .calls import download_target
from .endpoint import Endpoint
from .errors import APIChanged, ConfigError, SpaceError, SpaceUnavailable
from .headers import DEFAULT_FORWARD_HEADERS, is_hf_origin, merge_headers
from .identity import Identity, current_identity
from .loop import run_sync
from .schema import EndpointSchema, SpaceSchema, cache_root, load_cached, store_cached
from .sessions import SessionMode
from .streams import hub_for
from .transport import Transport

__all__ = ["Space", "resolve_src"]

_SPACE_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_src(src: str) -> tuple[str, str]:
    """(display name, root URL) for a Space id or a URL. Space ids map to their `*.hf.space` host."""
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
        owner, name = src.split("/")
        host = re.sub(r"[._]", "-", f"{owner}-{name}").lower()
        return src, f"https://{host}.hf.space"
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
    ) -> None:
        if session not in ("user", "shared", "call"):
            raise ConfigError(f"session must be 'user', 'shared' or 'call', not {session!r}")
        self.name, self.url = resolve_src(src)
        self.key = self.url  # what the per-user session derivation binds to
        if token is True:
            from huggingface_hub import get_token

            token = get_token()  # the developer opted in to their environment's token
        self._token: str | None = token or None
        if self._token and not is_hf_origin(self.url):
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
        if download_dir is None:
            download_dir = cache_root() / "downloads" / re.sub(r"[^\w.-]+", "_", self.name)[:80]
        self.download_dir = Path(download_dir)
        self.transport = Transport(self.url, space=self.name, retries=retries, max_wait=max_wait)
        self._hub = hub_for(self.url)
        self._schema: SpaceSchema | None = None
        self._schema_lock: asyncio.Lock | None = None
        self._epoch = 0
        self._live_app_id: str | None = None

    def __repr__(self) -> str:
        return f"<Space {self.name}>"

    # --- schema -------------------------------------------------------------------------------------------------

    def _schema_now(self) -> SpaceSchema:
        if self._schema is None:
            raise ConfigError(f"{self.name}: schema not loaded yet")
        return self._schema

    async def _aschema(self, force: bool = False) -> SpaceSchema:
        if self._schema is not None and not force:
            return self._schema
        if self._schema_lock is None:
            self._schema_lock = asyncio.Lock()
        async with self._schema_lock:
            if self._schema is not None and not force:
                return self._schema
            cached = None if force else load_cached(self.url, self.schema_ttl)
            if cached is not None:
                self._schema = SpaceSchema.parse(self.url, *cached)
            else:
                config, info = await self._fetch()
                self._schema = SpaceSchema.parse(self.url, config, info)
                self._live_app_id = self._schema.app_id
                store_cached(self.url, config, info)
            return self._schema

    async def _fetch(self) -> tuple[dict[str, Any], dict[str, Any]]:
        h = self._headers_for(None)
        r = await self.transport.send("GET", "/config", headers=h, retry=True)
        if r.status_code != 200:
            raise SpaceUnavailable(f"config answered {r.status_code}", space=self.name)
        try:
            config = r.json()
        except ValueError:
            raise ConfigError(f"{self.name}: {self.url}/config is not a Gradio app's config") from None
        if not isinstance(config, dict) or "dependencies" not in config:
            raise ConfigError(f"{self.name}: {self.url} does not look like a Gradio app")
        prefix = config.get("api_prefix", "/gradio_api")
        r = await self.transport.send("GET", f"{prefix}/info", headers=h, retry=True)
        if r.status_code != 200:
            raise SpaceUnavailable(f"API info answered {r.status_code}", space=self.name)
        try:
            info = r.json()
        except ValueError:  # as for the config above: a clear error rather than a bare ValueError
            raise ConfigError(f"{self.name}: {self.url}{prefix}/info is not a Gradio app's API info") from None
        if config.get("mcp_server"):
            await self._add_parameter_descriptions(prefix, h, info)
        return config, info

    async def _add_parameter_descriptions(self, prefix: str, headers: dict[str, str], info: dict[str, Any]) -> None:
        """Copy each parameter's docstring line ("Args:") into `info`, from the app's MCP schema.

        /info publishes only an endpoint's summary; an app that serves MCP (`mcp_server=True`, as many Spaces do)
        also publishes what each parameter means, which agents and the API page need. It is optional: any
        failure leaves the descriptions empty.
        """
        try:
            r = await self.transport.send("GET", f"{prefix}/mcp/schema", headers=headers)
            tools = r.json() if r.status_code == 200 else []
        except (SpaceError, ValueError):
            return
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

    def load(self) -> Space:
        """Fetch the schema now (it is otherwise fetched on first need). Returns the Space."""
        run_sync(self._aschema())
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

        api = HfApi(token=token)
        target = to_id or f"{api.whoami()['name']}/{from_id.split('/')[1]}"
        try:
            api.duplicate_repo(from_id, target, repo_type="space", private=private, exist_ok=True,
                               space_hardware=hardware)  # type: ignore[arg-type]
        except HfHubHTTPError as e:
            # The message names the Space; the token is never part of it.
            raise SpaceUnavailable(f"could not duplicate into {target}: {e}", space=from_id) from None
        return cls(target, token=token, **options)

    def render(self) -> Any:
        """Inside `gr.Blocks`: the whole remote app, every event through compose (per-user sessions, streaming)."""
        from .render import render_space

        return render_space(self)

    # --- identity -----------------------------------------------------------------------------------------------

    def _headers_for(self, ident: Identity | None) -> dict[str, str]:
        forwarded = ident.forwarded(self.forward_headers) if ident is not None else ()
        token = self._token
        if self.use_oauth_token and ident is not None and ident.oauth_token:
            token = ident.oauth_token  # a signed-in user's own token, opted in by the developer
        headers = merge_headers(self.static_headers, token=token, origin=self.url, forwarded=forwarded,
                                forward_anywhere=self.forward_anywhere)
        redact.remember(headers)  # whatever credential goes out can never come back in an error text or a log
        return headers

    def reset_session(self) -> None:
        """Give the current caller a fresh upstream session (their remote gr.State starts over); others keep theirs."""
        if self.session_mode == "shared":
            self._epoch += 1
        else:
            sessions.reset(space_key=self.key, user=current_identity().session)

    def upstream_session(self) -> str:
        """The upstream session hash the current caller's calls use (for diagnostics)."""
        return sessions.derive(self.session_mode, space_key=self.key, user=current_identity().session,
                               epoch=self._epoch)

    # --- faults -------------------------------------------------------------------------------------------------

    async def _upstream_restarted(self, epoch: int) -> bool:
        """Called when a stateful call joined on a fresh connection, with sessions derived at `epoch`: did the app
        restart (and lose that call's session) since we last saw it?"""
        try:
            r = await self.transport.send("GET", "/config", headers=self._headers_for(None))
            app_id = str(r.json().get("app_id", "")) if r.status_code == 200 else None
        except Exception:
            return epoch != self._epoch
        if self._live_app_id is None:
            # The schema came from the disk cache, so this process has not seen the app yet: this is the baseline
            # the next restart is measured against (a cached app_id may be hours old).
            self._live_app_id = app_id
            return False
        if not app_id or app_id == self._live_app_id:
            # Another call may have found the restart first: a call that joined under the old sessions lost its
            # state all the same (before, only the first call to look was told).
            return epoch != self._epoch
        self._live_app_id = app_id
        self._epoch += 1  # every derived session changes: all users start over, as they must after a restart
        old = self._schema
        fresh = await self._aschema(force=True)
        if old is not None and _api_shape(old) != _api_shape(fresh):
            raise APIChanged("the Space restarted with a different API", space=self.name)
        return True

    def user_download_dir(self, user: str | None) -> Path:
        """Where files downloaded for this end user land (the guard lets a user's agent pass these back)."""
        return sessions.user_folder(self.download_dir, user)

    async def _download(self, remote: dict[str, Any], api_name: str, ident: Identity) -> str:
        route, target = download_target(self, remote, ident)
        size = 0
        async with self.transport.client.stream("GET", self.transport.url(route),
                                                headers=self._headers_for(None)) as r:
            if r.status_code != 200:
                raise SpaceUnavailable(f"file download answered {r.status_code}", space=self.name,
                                       api_name=api_name)
            with target.open("wb") as f:
                async for chunk in r.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_download_bytes:
                        f.close()
                        target.unlink(missing_ok=True)
                        raise SpaceUnavailable(f"file output over {self.max_download_bytes} bytes; not kept",
                                               space=self.name, api_name=api_name)
                    f.write(chunk)
        return str(target)

    async def aclose(self) -> None:
        """Close the connection pool (open calls fail)."""
        await self.transport.aclose()

    def close(self) -> None:
        run_sync(self.aclose())


def _api_shape(schema: SpaceSchema) -> dict[str, Any]:
    return {name: ([p.name for p in ep.parameters], len(ep.returns), ep.input_slots, ep.output_slots)
            for name, ep in schema.endpoints.items()}



