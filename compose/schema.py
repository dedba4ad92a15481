"""What a Space offers: endpoints, parameters and returns, read from the app's config and API info.

The raw documents are fetched once (by `Space`), cached in memory and on disk, and parsed here into plain frozen
descriptions. Nothing in this module does I/O except the disk cache helpers.

Usage: `schema = SpaceSchema.parse(url, config, info); schema.endpoints["/predict"].parameters`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gradio_client import utils as gc_utils
from pydantic import BaseModel, ValidationError

from .errors import ConfigError
from .files import write_atomically

__all__ = ["JSON_TYPES", "CacheEntry", "EndpointSchema", "Parameter", "Return", "SpaceSchema", "cache_identity",
           "cache_root", "confirm_cached", "json_type_of", "output_labels", "plain_text",
           "read_cached", "store_cached"]

# JSON Schema's types and the Python values each takes (a bool is an int in Python, but not a JSON number: see
# `json_type_of`). The one table: validation, tool inputs, the router and the strict schemas read it.
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


def json_type_of(value: Any) -> str:
    """The JSON Schema type of a Python value: "boolean" for True, "integer" for 3, "number" for 3.5, ...;
    "string" for anything JSON has no type for."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return next((kind for kind, types in JSON_TYPES.items() if isinstance(value, types)), "string")

# 2: keyed by URL and the identity that fetched it (1 was keyed by URL only, so it is never read again).
_CACHE_FORMAT = 2

# Component props worth mirroring locally and describing to agents (everything else is presentation).
_CONFIG_KEYS = (
    "label", "choices", "minimum", "maximum", "step", "headers", "datatype", "type", "include_time", "timezone",
    "file_types", "file_count", "multiselect", "precision", "lines", "max_lines", "placeholder", "info",
    "row_count", "col_count", "sources", "format", "image_mode", "height", "value", "allow_custom_value",
)


def _annotation(schema: dict[str, Any], is_file: bool) -> Any:
    """A real Python type for a JSON schema, as far as one exists (used for handler signatures)."""
    if is_file:
        return str
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]  # type: ignore[valid-type]
    kind = schema.get("type")
    simple = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict}
    if isinstance(kind, str) and kind in simple:
        return simple[kind]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        types = [_annotation(o, False) for o in options if o.get("type") != "null"]
        nullable = any(o.get("type") == "null" for o in options)
        if len(types) == 1:
            return typing.Optional[types[0]] if nullable else types[0]  # noqa: UP045 - built at run time
    return Any


def _is_file(schema: Any) -> bool:
    """True when the value itself is one file (Image, File, Audio ...), not a structure that may hold files."""
    if not isinstance(schema, dict):
        return False
    return bool(gc_utils._is_file_schema(schema, schema.get("$defs", {})))


def _holds_files(schema: Any) -> bool:
    """True when the value is a structure with files inside (a Gallery's images, an ImageSlider's pair, an
    AnnotatedImage's image and masks, a File's several files, a Chatbot's messages), not one file itself."""
    if not isinstance(schema, dict) or _is_file(schema):
        return False
    return bool(gc_utils._schema_contains_file(schema, schema.get("$defs", {})))


def _size(value: Any) -> int | None:
    """A byte count from the config (Gradio's max_file_size), or None when it gives none that is one."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _type_name(schema: dict[str, Any]) -> str:
    try:
        return str(gc_utils.json_schema_to_python_type(schema))
    except Exception:  # an unusual custom component's schema: say so rather than fail the whole Space
        return "Any"


@dataclass(frozen=True)
class Parameter:
    """One remote input: `name`, python `annotation`, `json_schema`, `default`, `required`, `component`, ..."""

    name: str
    label: str
    annotation: Any
    type_name: str
    json_schema: dict[str, Any]
    default: Any
    required: bool
    component: str
    component_config: dict[str, Any]
    description: str
    is_file: bool

    @property
    def is_editor(self) -> bool:
        """True for a gr.ImageEditor: `{"background", "layers", "composite"}`, each an image file."""
        return self.component.lower() == "imageeditor"

    @property
    def is_table(self) -> bool:
        """True for a gr.Dataframe: a table of rows (see compose.validation for the forms it takes)."""
        return self.component.lower() == "dataframe"

    @property
    def file_list(self) -> bool:
        """True for several files (gr.File(file_count="multiple"), gr.Files): a list, each item one file."""
        items, defs = self.json_schema.get("items"), self.json_schema.get("$defs", {})
        if isinstance(items, dict) and isinstance(items.get("$ref"), str):  # gradio's: {"$ref": "#/$defs/FileData"}
            items = defs.get(items["$ref"].rsplit("/", 1)[-1])
        return self.json_schema.get("type") == "array" and isinstance(items, dict) and bool(
            gc_utils._is_file_schema(items, defs))

    @property
    def message_with_files(self) -> bool:
        """True for a MultimodalTextbox: {text, files}, its files a list, each item one file."""
        return self.component.lower() == "multimodaltextbox"

    @property
    def closed(self) -> bool:
        """True when only `choices` are accepted (a Dropdown with allow_custom_value takes any text too)."""
        return self.choices is not None and not self.component_config.get("allow_custom_value")

    @property
    def choice_labels(self) -> dict[str, Any]:
        """What the page shows for each choice whose shown label is not its value (a Dropdown of (label, value)
        pairs), keyed by the value's JSON: what a model must read to pick the value meant."""
        raw = self.component_config.get("choices") or []
        return {json.dumps(c[1], default=str): c[0] for c in raw
                if isinstance(c, (list, tuple)) and len(c) == 2 and str(c[0]) != str(c[1])}  # not 1 shown as "1"

    @property
    def choices(self) -> list[Any] | None:
        """The values offered by Radio/Dropdown/CheckboxGroup-like inputs, if any (see `closed`)."""
        if "enum" in self.json_schema:
            return list(self.json_schema["enum"])
        raw = self.component_config.get("choices")
        if raw:
            return [c[1] if isinstance(c, (list, tuple)) and len(c) == 2 else c for c in raw]
        return None


@dataclass(frozen=True)
class Return:
    """One visible remote output: `label`, `component`, `annotation`, ..."""

    label: str
    annotation: Any
    type_name: str
    json_schema: dict[str, Any]
    component: str
    component_config: dict[str, Any]
    is_file: bool
    holds_files: bool = False  # a structure with files inside (a Gallery): see `_holds_files`


@dataclass(frozen=True)
class EndpointSchema:
    """Everything needed to call one named endpoint and to describe it."""

    api_name: str
    fn_index: int
    description: str
    streams: bool
    parameters: tuple[Parameter, ...]
    returns: tuple[Return, ...]
    # The wire layout: one slot per dependency input/output; None marks a state/layout slot that is not a
    # parameter (sent as None, the upstream session supplies the value) or not a result.
    input_slots: tuple[int | None, ...]
    output_slots: tuple[int | None, ...]
    input_ids: tuple[int, ...] = field(default=())
    output_ids: tuple[int, ...] = field(default=())
    # The component type of each wire output ("chatbot", "state", "row", ...), as the app's config names it.
    output_kinds: tuple[str, ...] = field(default=())
    # "required"/"optional" when the remote function declares a gr.OAuthToken parameter (from /info), else None:
    # only such an endpoint is ever sent a signed-in user's token.
    oauth_token: str | None = None

    @property
    def stateful(self) -> bool:
        """True if the endpoint reads or writes a gr.State that lives in the upstream session."""
        return None in self.input_slots or None in self.output_slots

    def shape(self, data: list[Any], each: Callable[[Any], Any] | None = None) -> Any:
        """A result as a caller sees it: the visible outputs of the wire's `data` (gr.State and layout slots
        dropped), `each` applied to each; none → None, one → the value, several → a tuple.

        Usage: `result = schema.shape(message["output"]["data"])`.
        """
        visible = [v if each is None else each(v)
                   for v, slot in zip(data, self.output_slots, strict=False) if slot is not None]
        if not visible:
            return None
        return visible[0] if len(visible) == 1 else tuple(visible)


@dataclass(frozen=True)
class SpaceSchema:
    """The parsed schema of one Gradio app."""

    url: str
    version: str
    api_prefix: str
    app_id: str
    max_file_size: int | None
    endpoints: dict[str, EndpointSchema]
    config: dict[str, Any]

    @classmethod
    def parse(cls, url: str, config: dict[str, Any], info: dict[str, Any]) -> SpaceSchema:
        """The schema of the app at `url` from its /config and /gradio_api/info; `ConfigError` if they are not
        shaped as Gradio's (valid JSON of another shape: not a bare TypeError from deep inside)."""
        try:
            return cls._parse(url, config, info)
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as e:
            raise ConfigError(f"{url}: its /config or /gradio_api/info is not shaped as a Gradio app's "
                              f"({type(e).__name__}: {str(e)[:200]})") from None

    @classmethod
    def _parse(cls, url: str, config: dict[str, Any], info: dict[str, Any]) -> SpaceSchema:
        components = {c["id"]: c for c in config.get("components", [])}
        named = info.get("named_endpoints", {})
        endpoints: dict[str, EndpointSchema] = {}
        for dep in config.get("dependencies", []):
            api_name = dep.get("api_name")
            if not isinstance(api_name, str) or not api_name:
                continue
            key = "/" + api_name.lstrip("/")
            if dep.get("api_visibility", "public") != "public" or key not in named:
                continue
            endpoints[key] = _parse_endpoint(key, dep, named[key], components)
        return cls(
            url=url,
            version=str(config.get("version", "")),
            api_prefix=str(config.get("api_prefix", "/gradio_api")),
            app_id=str(config.get("app_id", "")),
            max_file_size=_size(config.get("max_file_size")),
            endpoints=endpoints,
            config=config,
        )


_I18N = "__i18n__"


def plain_text(value: Any, fallback: str = "") -> str:
    """A label as text: gradio's translated labels (gr.I18n) come as a dict or an "__i18n__{...}" string; their
    key stands in for them (compose has no browser locale to resolve them with)."""
    if isinstance(value, str) and value.startswith(_I18N):
        try:
            value = json.loads(value[len(_I18N):])
        except ValueError:
            return str(value[len(_I18N):])
    if isinstance(value, dict):
        key = value.get("key")
        return str(key) if key is not None else fallback
    if value is None:
        return fallback
    return str(value)


def _skipped(component: dict[str, Any]) -> bool:
    return bool(component.get("skip_api", component.get("type") in gc_utils.SKIP_COMPONENTS))


def output_labels(returns: tuple[Return, ...]) -> list[str]:
    """One unique label per visible output (a repeated label gets " (2)", " (3)", ...): the keys under which a
    tool's dict and `compose call --json` give several outputs, so both agree."""
    seen: dict[str, int] = {}
    out = []
    for r in returns:
        seen[r.label] = seen.get(r.label, 0) + 1
        out.append(r.label if seen[r.label] == 1 else f"{r.label} ({seen[r.label]})")
    return out


def output_kinds(ids: list[int] | tuple[int, ...], components: dict[int, dict[str, Any]]) -> tuple[str, ...]:
    """The component type of each of `ids` (lowercase; "" for one the config does not list)."""
    return tuple(str(components.get(i, {}).get("type", "")).lower() for i in ids)


def slots(ids: list[int] | tuple[int, ...], components: dict[int, dict[str, Any]]) -> tuple[int | None, ...]:
    """The wire layout of a dependency's inputs or outputs: each component's position among the visible ones, None
    for a state or layout component."""
    out: list[int | None] = []
    visible = 0
    for cid in ids:
        if _skipped(components.get(cid, {})):
            out.append(None)
        else:
            out.append(visible)
            visible += 1
    return tuple(out)


def _config_of(component: dict[str, Any]) -> dict[str, Any]:
    props = component.get("props", {})
    config = {k: props[k] for k in _CONFIG_KEYS if k in props and props[k] is not None}
    for key in ("label", "info", "placeholder"):
        if key in config:
            config[key] = plain_text(config[key])
    if isinstance(config.get("choices"), list):
        config["choices"] = [[plain_text(c[0]), c[1]] if isinstance(c, (list, tuple)) and len(c) == 2 else c
                             for c in config["choices"]]
    return config


def _parse_endpoint(
    api_name: str, dep: dict[str, Any], info: dict[str, Any], components: dict[int, dict[str, Any]]
) -> EndpointSchema:
    visible_inputs = [i for i in dep["inputs"] if not _skipped(components.get(i, {}))]
    visible_outputs = [o for o in dep["outputs"] if not _skipped(components.get(o, {}))]
    params: list[Parameter] = []
    for cid, p in zip(visible_inputs, info.get("parameters", []), strict=False):
        schema = p.get("type") or {}
        is_file = _is_file(schema)
        has_default = bool(p.get("parameter_has_default"))
        comp = components.get(cid, {})
        params.append(
            Parameter(
                name=p.get("parameter_name") or gc_utils.sanitize_parameter_names(
                    plain_text(p.get("label"), f"arg{len(params)}")),
                label=plain_text(p.get("label")),
                annotation=_annotation(schema, is_file),
                type_name=_type_name(schema),
                json_schema=schema,
                default=p.get("parameter_default") if has_default else None,
                required=not has_default,
                component=p.get("component") or comp.get("type", ""),
                component_config=_config_of(comp),
                # The parameter's own docstring line when the app publishes it (see Space._add_parameter_descriptions),
                # else gradio's note on the type, except for files, where that note documents the wire format.
                description=p.get("description") or ("" if is_file else (p.get("python_type") or {}).get("description"))
                or "",
                is_file=is_file,
            )
        )
    returns: list[Return] = []
    for cid, r in zip(visible_outputs, info.get("returns", []), strict=False):
        schema = r.get("type") or {}
        comp = components.get(cid, {})
        is_file = _is_file(schema)
        returns.append(
            Return(
                label=plain_text(r.get("label")) or plain_text(comp.get("props", {}).get("label"))
                or f"output {len(returns)}",
                annotation=_annotation(schema, is_file),
                type_name=_type_name(schema),
                json_schema=schema,
                component=r.get("component") or comp.get("type", ""),
                component_config=_config_of(comp),
                is_file=is_file,
                holds_files=_holds_files(schema),
            )
        )
    return EndpointSchema(
        api_name=api_name,
        fn_index=int(dep.get("id", 0)),
        description=info.get("description") or dep.get("api_description") or "",
        streams=bool((dep.get("types") or {}).get("generator")),
        parameters=tuple(params),
        returns=tuple(returns),
        input_slots=slots(dep["inputs"], components),
        output_slots=slots(dep["outputs"], components),
        input_ids=tuple(dep["inputs"]),
        output_ids=tuple(dep["outputs"]),
        output_kinds=output_kinds(dep["outputs"], components),
        oauth_token=str(info["oauth_token"]) if info.get("oauth_token") else None,
    )


# --- disk cache -----------------------------------------------------------------------------------------------


class _Cached(BaseModel):
    format: int
    url: str
    identity: str = ""
    fetched_at: float
    config: dict[str, Any]
    info: dict[str, Any]


def cache_root() -> Path:
    """compose's cache folder: COMPOSE_CACHE_DIR, else the user cache's gradio-compose (schemas, the embedded
    model; downloads go elsewhere: `compose.download.download_root`)."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("COMPOSE_CACHE_DIR") or user_cache_dir("gradio-compose"))


def _cache_dir() -> Path:
    return cache_root() / "schemas"


def cache_identity(token: str | None, headers: Mapping[str, str] | None = None, *, login: str | None = None) -> str:
    """Who fetched a schema, as the disk cache keys it: "" for nobody in particular (no token, no static headers, no
    sign-in), else a hash of the token, the static headers (which may carry credentials) and the sign-in to an app
    launched with Gradio's `auth=` (`login`: `compose.login.Login.cache_key`, itself a slow hash of the password) —
    never the values themselves.

    A private Space's schema is then only ever read back by a Space object holding the same credentials; one without
    them asks the app, and gets its 404.
    """
    if not token and not headers and not login:
        return ""
    digest = hashlib.sha256(b"gradio-compose schema cache\0")
    digest.update((token or "").encode())
    if login:
        digest.update(f"\0login\0{login}".encode())
    for name, value in sorted((k.lower(), v) for k, v in (headers or {}).items()):
        digest.update(f"\0{name}\0{value}".encode())
    return digest.hexdigest()[:32]


def _cache_path(url: str, identity: str = "") -> Path:
    key = url if not identity else f"{url}\0{identity}"
    return _cache_dir() / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")


@dataclass(frozen=True)
class CacheEntry:
    """One schema file on disk as this process read or wrote it: which file (device and inode: a rewrite is a new
    one) and when the app last confirmed the schema in it (wall clock: the file's modification time, set by the
    write and moved on by `confirm_cached`)."""

    file: tuple[int, int]
    confirmed_at: float


def read_cached(url: str, max_age: float, *, identity: str = ""
                ) -> tuple[dict[str, Any], dict[str, Any], CacheEntry] | None:
    """The cached (config, info) for `url` if present, valid, for this very URL and identity (`cache_identity`), and
    younger than `max_age`; with the entry it was read from (for `confirm_cached`, and when the app last confirmed it).

    Usage: `config, info, entry = read_cached(url, 3600.0)` (None if there is no usable entry).
    """
    try:
        with _cache_path(url, identity).open("rb") as f:
            st = os.fstat(f.fileno())  # the very file read: its inode and modification time go with its content
            cached = _Cached.model_validate_json(f.read())
    except (OSError, ValidationError, ValueError):
        return None
    if (cached.format != _CACHE_FORMAT or cached.url != url or cached.identity != identity
            or time.time() - cached.fetched_at > max_age):
        return None
    if not isinstance(cached.config.get("dependencies"), list) or "named_endpoints" not in cached.info:
        return None
    return cached.config, cached.info, CacheEntry((st.st_dev, st.st_ino), st.st_mtime)


def store_cached(url: str, config: dict[str, Any], info: dict[str, Any], *, identity: str = ""
                 ) -> CacheEntry | None:
    """Write the schema atomically, under `url` and the identity that fetched it; the entry written, or None if it
    could not be (a failure to cache never fails a call)."""
    body = _Cached(format=_CACHE_FORMAT, url=url, identity=identity, fetched_at=time.time(), config=config,
                   info=info)
    path = _cache_path(url, identity)
    # A failed write (a full disk, say) used to leave its temporary file behind.
    try:
        write_atomically(path, body.model_dump_json())
        st = path.stat()
    except OSError:
        return None
    return CacheEntry((st.st_dev, st.st_ino), st.st_mtime)


def confirm_cached(url: str, entry: CacheEntry, *, identity: str = "") -> CacheEntry | None:
    """The app confirmed the schema of `entry` just now: move its confirmation time on (the file's modification
    time: no rewrite of a large JSON file). Only that very file: one another process has written since (a newer
    fetch, perhaps of another deploy) is not vouched for by this confirmation. The entry as it is now, or None if
    it is gone or replaced.

    Usage: `entry = confirm_cached(url, entry)` (cheap: an open, an fstat and a futimens).
    """
    try:
        fd = os.open(_cache_path(url, identity), os.O_RDONLY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != entry.file:
            return None
        os.utime(fd if os.utime in os.supports_fd else _cache_path(url, identity))
        return CacheEntry(entry.file, os.fstat(fd).st_mtime)
    except OSError:
        return None
    finally:
        os.close(fd)
