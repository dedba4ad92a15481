"""A remote Gradio app (a Hugging Face Space or any Gradio 6 URL) as a local object.

Constructing a Space does no I/O. Its schema is fetched once on first need, cached in memory and on disk, and
`refresh()` re-reads it. One Space — one connection pool — serves every end user; who is calling is resolved per
call (see `compose.identity`), never stored here.

Usage:
    space = compose.Space("owner/name")            # or "http://127.0.0.1:7860"
    space.endpoint("/predict").predict("hello")
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from . import hub
from .aiohttp_backend import AiohttpBackend, Verify
from .calls import local_payloads, run_call
from .cookies import CookieJars
from .download import download_root
from .endpoint import Endpoint
from .errors import ConfigError, SpaceError, SpaceUnavailable
from .headers import DEFAULT_FORWARD_HEADERS, is_hf_origin
from .http import Backend
from .identity import Identity, current_identity
from .limits import Gate, Limits
from .login import check_auth
from .loop import run_async, run_sync
from .redact import redact
from .schema import EndpointSchema, SpaceSchema
from .sessions import SessionMode
from .transport import Transport
from .updates import Update
from .upstream import Upstream

__all__ = ["Space", "is_space_id", "resolve_src"]


# The Hub's rule for "owner/name" (huggingface_hub's validate_repo_id, tests/test_space.py compares): each part 1-96
# letters, digits, "_", "-" or ".", starting and ending with a letter, digit or "_", with no "--" or "..".
_PART = r"[A-Za-z0-9_](?:[\w.-]{0,94}[A-Za-z0-9_])?"
_SPACE_ID = re.compile(rf"^(?!.*(?:--|\.\.)){_PART}/{_PART}$", re.ASCII)


def is_space_id(text: str) -> bool:
    """True for a well-formed Space id, "owner/name", by the Hub's rules (see `_SPACE_ID`).

    Usage: `is_space_id("owner/name")` → True; `is_space_id("owner/-x")` → False.
    """
    return bool(_SPACE_ID.match(text))


_HF_WITHOUT_SCHEME = re.compile(r"^(?:(?:huggingface\.co|hf\.co)/spaces/|[a-z0-9-]+\.hf\.space(?:[/?]|$))", re.I)


def _app_path(path: str) -> str:
    """The app's own path for an address inside it, as people copy them: Gradio's API routes (the MCP server's
    `/gradio_api/mcp/sse`, `/gradio_api/info`) and `/config` lead back to the app's root (which may be a mount
    path: `/some/app/gradio_api/info` → `/some/app`)."""
    segments = path.rstrip("/").split("/")
    if "gradio_api" in segments:
        segments = segments[:segments.index("gradio_api")]
    elif segments[-1] == "config":
        segments = segments[:-1]
    return "/".join(segments)


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
        path = _app_path(parts.path)
        if path != parts.path.rstrip("/"):  # an address inside the app: the app is named by its root
            root = f"{parts.scheme}://{parts.netloc}{path}"
            return root, root
        return src.rstrip("/"), f"{parts.scheme}://{parts.netloc}{path}"
    if _HF_WITHOUT_SCHEME.match(src):  # pasted from the address bar, which hides the scheme
        return resolve_src(f"https://{src}")
    if is_space_id(src):
        return src, None
    raise ConfigError(f"{src!r} is neither a Space id ('owner/name') nor an http(s) URL")


class Space:
    """A remote Gradio app. See the module docstring for usage.

    The public wrapper: what compose says to the app (schema, headers, sessions, restarts, files) is its
    `upstream`'s (`compose.upstream.Upstream`), which the call path uses.
    """

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
        auth: tuple[str, str] | None = None,
    ) -> None:
        if session not in ("user", "shared", "call"):
            raise ConfigError(f"session must be 'user', 'shared' or 'call', not {session!r}")
        name, url = resolve_src(src)
        # The name shown in errors, logs, traces and folder names: a URL's user:password@ never goes there.
        name = redact(name)
        if token is True:
            from huggingface_hub import get_token

            token = get_token()  # the developer opted in to their environment's token
        token = token or None
        if token and url is not None and not is_hf_origin(url):
            # Tokens are for Hugging Face only; a token given for another host is simply never sent.
            token = None
        own_download_dir = download_dir is None  # only compose's own folder is swept (Limits.max_download_disk)
        if download_dir is None:
            download_dir = download_root() / re.sub(r"[^\w.-]+", "_", name)[:80]
        self.upstream = Upstream(
            name, url,
            hub_id=name if url is None else None,
            key=url or f"hf-space:{name}",
            token=token,
            headers=dict(headers or {}),
            # Not given: the visitor's x-ip-token, to Hugging Face origins only. Given: exactly those, to this
            # origin whatever it is (the developer decided, e.g. for their own self-hosted app).
            forward_headers=tuple(h.lower() for h in (DEFAULT_FORWARD_HEADERS if forward_headers is None
                                                      else forward_headers)),
            forward_anywhere=forward_headers is not None,
            session_mode=session,
            use_oauth_token=use_oauth_token,
            limits=limits if limits is not None else Limits(),
            # The one HTTP seam: aiohttp by default (TLS verified against `verify`), or the developer's own.
            backend=http_backend if http_backend is not None else AiohttpBackend(verify=verify),
            retries=retries,
            max_wait=max_wait,
            schema_ttl=schema_ttl,
            idle_timeout=idle_timeout,
            allowed_paths=tuple(Path(p).expanduser().resolve() for p in allowed_paths),
            download_files=download_files,
            download_dir=Path(download_dir),
            own_download_dir=own_download_dir,
            max_download_bytes=max_download_bytes,
            max_upload_bytes=max_upload_bytes,
            # An app launched with Gradio's auth=: signed in to on first need, as gradio_client's auth= does.
            auth=check_auth(auth),
        )

    def __repr__(self) -> str:
        return f"<Space {self.name}>"

    # --- what it was made with (read-only views of its upstream) ----------------------------------------------

    @property
    def name(self) -> str:
        """The Space id, or the URL as given."""
        return self.upstream.name

    @property
    def hub_id(self) -> str | None:
        """The Space id when the Space was named by one (its host is the Hub's to tell), else None."""
        return self.upstream.hub_id

    @property
    def key(self) -> str:
        """What each end user's upstream session is derived from: the URL, or the Space id."""
        return self.upstream.key

    @property
    def url(self) -> str:
        """The app's root URL (for a Space id, the host the Hub gave; resolved on first need)."""
        return self.upstream.url

    @property
    def transport(self) -> Transport:
        return self.upstream.transport

    @property
    def static_headers(self) -> dict[str, str]:
        return self.upstream.static_headers

    @property
    def forward_headers(self) -> tuple[str, ...]:
        return self.upstream.forward_headers

    @property
    def forward_anywhere(self) -> bool:
        return self.upstream.forward_anywhere

    @property
    def session_mode(self) -> SessionMode:
        return self.upstream.session_mode

    @property
    def use_oauth_token(self) -> bool:
        return self.upstream.use_oauth_token

    @property
    def limits(self) -> Limits:
        return self.upstream.limits

    @property
    def gate(self) -> Gate:
        """In-flight slots, circuit breaker and upload budgets of this Space's calls (`compose.limits`)."""
        return self.upstream.gate

    @property
    def cookies(self) -> CookieJars:
        """Each upstream session's own cookies (`compose.cookies`)."""
        return self.upstream.cookies

    @property
    def allowed_paths(self) -> tuple[Path, ...]:
        return self.upstream.allowed_paths

    @property
    def download_files(self) -> bool:
        return self.upstream.download_files

    @property
    def download_dir(self) -> Path:
        return self.upstream.download_dir

    @property
    def max_download_bytes(self) -> int:
        return self.upstream.max_download_bytes

    @property
    def max_upload_bytes(self) -> int:
        return self.upstream.max_upload_bytes

    @property
    def idle_timeout(self) -> float:
        return self.upstream.idle_timeout

    @property
    def schema_ttl(self) -> float:
        return self.upstream.schema_ttl

    @property
    def retries(self) -> int:
        return self.upstream.retries

    @property
    def max_wait(self) -> float:
        return self.upstream.max_wait

    # --- schema -------------------------------------------------------------------------------------------------

    def load(self, progress: Callable[[str], None] | None = None) -> Space:
        """Fetch the schema now (it is otherwise fetched on first need), and wake a sleeping Space (wait, bounded by
        `max_wait`, while it starts). Returns the Space.

        `progress` hears what a wait for a sleeping or starting Space is about ("waking the Space…"), e.g. for a
        spinner; it is called on compose's I/O thread.
        """

        def emit(update: Update) -> None:
            if progress is not None and update.progress:
                progress(update.progress[-1].desc or "")

        async def load() -> None:
            # Asked for explicitly (an outer app starting, the CLI): a sleeping Space is woken now, even when its
            # schema is on disk. A schema needed implicitly (`endpoint()`) does not wait for that: the first call
            # then waits, and says so in its updates. Woken first: the disk schema's check asks the app itself.
            await self.upstream.ready(emit)
            await self.upstream.load_schema(emit=emit, confirm=True)

        run_sync(load())
        return self

    async def aload(self) -> Space:
        """`load()` for async code: fetch the schema without blocking the event loop."""
        await run_async(self.upstream.load_schema(confirm=True))
        return self

    def refresh(self) -> Space:
        """Re-read the schema from the app (and replace the disk cache)."""
        run_sync(self.upstream.load_schema(force=True))
        return self

    @property
    def schema(self) -> SpaceSchema:
        if self.upstream.loaded is None:
            # From the disk cache if there: a sleeping Space is then woken by its first call, which says so.
            run_sync(self.upstream.load_schema())
        return self.upstream.schema_now()

    def confirm_schema(self) -> SpaceSchema:
        """The schema, as the running app serves it: one read from the disk cache that the app has not confirmed
        within `Limits.schema_check_every` is first checked against the app's id (a small GET), and read again if
        another launch answers. What is built from a schema at once, `render()`, `ep.render()`, `ep.handler()` and
        `ep.tool()`, asks this first, so it shows the app as it is now, not an earlier deploy (a developer's local
        app changed and restarted, another app on a reused address). An app that does not answer, or a Space the Hub
        says is asleep (asking would wake it), leaves the cached schema standing; once the app has vouched for it,
        it is not asked again. Calls need none of this: each checks before it binds.

        Usage: `space.confirm_schema().endpoints`.
        """
        run_sync(self.upstream.load_schema(confirm=True))
        return self.upstream.schema_now()

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        """The public named endpoints, by api_name."""
        return {name: Endpoint(self, name) for name in self.schema.endpoints}

    def endpoint(self, api_name: str) -> Endpoint:
        """One endpoint by name ("/predict" or "predict"); an unknown name lists the available ones."""
        key = "/" + api_name.lstrip("/")
        schema = self.schema
        if key not in schema.endpoints and self.upstream.from_disk:
            # A schema from the disk cache may be older than the app (a redeploy that added the endpoint, another
            # app now on a reused address): ask the app itself before saying the endpoint does not exist. An app
            # that cannot be reached leaves the cached answer standing.
            with contextlib.suppress(SpaceError):
                schema = run_sync(self.upstream.load_schema(force=True))
        self.upstream.endpoint_schema(key, schema)
        return Endpoint(self, key)

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
        if not is_space_id(from_id):
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

        self.confirm_schema()
        return render_space(self, trust_remote_js=trust_remote_js)

    async def run_payloads(self, schema: EndpointSchema, payloads: list[Any], ident: Identity,
                           on_update: Callable[[Update], None], *, event_data: Any = None,
                           completion: dict[str, Any] | None = None) -> list[Any]:
        """Run one of the app's dependencies with wire payloads as Gradio's frontend sends them (state slots
        ignored), for `ident`, under the Space's gate; returns the full output list, files as FileData pointing at
        local copies. The seam `space.render()` wires every remote event to (run it on compose's I/O loop). What the
        run's completion says besides its data goes in `completion`: `render_config` (what a `@gr.render` function
        made for this run) and `changed_state_ids` (the remote gr.States it changed).

        Usage: `data = await run_async(space.run_payloads(schema, payloads, ident, emit))`.
        """
        async with self.upstream.turn(schema.api_name):
            return cast(list[Any], await run_call(self.upstream, schema, payloads, ident, on_update, raw=True,
                                                  event_data=event_data, completion=completion))

    async def local_payloads(self, values: list[Any], ident: Identity, what: str) -> list[Any]:
        """Payload values the app itself holds (components' values in its config, or in what a `@gr.render` run
        made) with each file downloaded for `ident`, as `run_payloads` downloads a result's (a value whose files
        cannot be fetched is None). The seam `space.render()` shows the app's own images and files with.

        Usage: `values = await run_async(space.local_payloads([image_value], Identity(), "its layout"))`.
        """
        await self.upstream.load_schema()
        return await local_payloads(self.upstream, values, ident, what)

    # --- identity -----------------------------------------------------------------------------------------------

    def reset_session(self) -> None:
        """Give the current caller a fresh upstream session (their remote gr.State starts over); others keep theirs."""
        self.upstream.reset_session(current_identity().session)

    def upstream_session(self) -> str:
        """The upstream session hash the current caller's calls use (for diagnostics)."""
        return self.upstream.session(current_identity().session)

    def user_download_dir(self, user: str | None) -> Path:
        """Where files downloaded for this end user land (the guard lets a user's agent pass these back)."""
        return self.upstream.user_download_dir(user)

    async def aclose(self) -> None:
        """Close the connection pool. Calls in flight are cancelled, upstream too, and fail UpstreamDisconnected."""
        await self.upstream.aclose()

    def close(self) -> None:
        run_sync(self.aclose())
