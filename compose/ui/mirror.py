"""A remote app's config as local Gradio blocks: components, layout, pages and event wiring, made safe.

This is compose's own `Blocks.from_config`: gradio's fails on any app with an examples table (the Dataset's
`components` are `{name, class_id}` dicts it cannot construct), on `gr.api` endpoints, loses every page but the
first, loses Chatbot like/retry/undo, preselects a Dropdown's first choice, keeps the remote's `proxy_url`, and
copies remote markup and frontend JS into the composing app. Here remote markup is always sanitized and remote
JS never runs unless the developer trusts the remote (`trust_remote_js=True`).

A part the remote builds as it is used (`@gr.render`: its components and events come with each run's answer, not
in the config) is mirrored by a local render function of the same inputs and triggers (`DynamicPart`): each run
asks the remote for its parts and builds them the same way, their events wired to the remote's. Where that cannot
be done (a dependency on a component that was not mirrored), the container shows `DYNAMIC_NOTICE` and nothing is
wired, so no change in the inputs calls the remote for a layout nobody would see.

Usage:
    made = build(config, fns, trust_remote_js=False)      # inside a gr.Blocks; fns: one per dependency (or None)
    made.api_names                                        # remote api_name → the outer app's one
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from gradio.blocks import Block, BlockContext, Blocks, BlocksConfig
from gradio.components import Component
from gradio.components.api_component import Api
from gradio.components.navbar import Navbar
from gradio.context import Context, get_blocks_context
from gradio.events import EventListenerMethod
from gradio.processing_utils import move_files_to_cache
from gradio.renderable import Renderable
from gradio.utils import component_or_layout_class
from gradio_client import utils as gc_utils

from ..files import file_data_in

__all__ = ["DYNAMIC_NOTICE", "DynamicPart", "Mirrored", "build", "make_component", "safe_js"]

DYNAMIC_NOTICE = ("*This part of the app is built as it is used (`@gr.render`), which cannot be shown here: open the "
                  "app itself for it.*")


@dataclass(frozen=True)
class DynamicPart:
    """What `build` needs to mirror a remote `@gr.render` function: `run(payloads)` runs it on the remote for the
    current end user and returns what it made (Gradio's `render_config`: components, layout, events) with the
    `local_values` of its components that hold files (see `build`), or None if it made nothing; `fns(render_config)`
    gives the local function of each of those events (or None)."""

    run: Callable[[tuple[Any, ...]], tuple[dict[str, Any], dict[int, Any]] | None]
    fns: Callable[[dict[str, Any]], Sequence[Callable[..., Any] | None]]

# Props that only make sense on the remote (or are re-derived locally) and must not be copied.
DROP = frozenset({"proxy_url", "name", "_selectable", "server_fns", "component_class_id", "key", "preserved_by_key",
                  "col_count",  # a deprecated alias of column_count, which the config also carries
                  "class_id", "server_functions"})
# Remote code and markup that would run in the composing app's page.
_UNSAFE_PROPS = frozenset({"js_on_load", "head", "server_functions"})
# Set by event listeners (`chatbot.like(...)` sets likeable); not constructor arguments, so copied by hand.
_EVENT_FLAGS = ("likeable", "_retryable", "_undoable", "_selectable", "streaming", "_editable")
# A frontend-only function that just returns literal values (gradio's own Interface "Clear" button) is data, not
# code: it may run. Anything else is remote code.
_LITERAL_JS = re.compile(r"^\s*\(\s*\)\s*=>\s*(?P<body>[\[{].*[\]}])\s*$", re.S)


def safe_js(js: Any, *, trust_remote_js: bool) -> str | None:
    """The remote event's frontend `js` if it may run here: all of it when trusted, else only literal data."""
    if not isinstance(js, str) or not js.strip():
        return None
    if trust_remote_js:
        return js
    m = _LITERAL_JS.match(js)
    if m is None:
        return None
    try:
        json.loads(m.group("body"))
    except ValueError:
        return None
    return js


def make_component(config: dict[str, Any], *, is_file: bool = False, trust_remote_js: bool = False,
                   known: dict[int, Block] | None = None, local_value: Any = None) -> Block:
    """One local block from a remote component config (its value included, unless it names a remote file).

    `local_value`: for a value holding files (an examples table: its samples), the same with each file fetched and
    served by this app (the caller's to vouch for, see `build`'s `local_values`); None leaves such files out.
    """
    props = copy.deepcopy(config.get("props", {}))
    name = str(props.get("name") or config["type"])
    value = props.pop("value", None)
    files_here = None
    if is_file or file_data_in(value):
        value = None  # a remote file path means nothing here, and must never be read from our disk
        files_here = local_value
    if name == "html" and not trust_remote_js:
        # gr.HTML renders its value unsanitized and runs js_on_load: shown as sanitized markdown instead.
        name = "markdown"
        props = {k: v for k, v in props.items() if k in ("label", "visible", "elem_id", "elem_classes", "min_height",
                                                         "max_height", "show_label", "container", "padding")}
    if not trust_remote_js:
        props = {k: v for k, v in props.items() if k not in _UNSAFE_PROPS}
        if name == "plot" and isinstance(value, dict) and value.get("type") == "bokeh":
            value = None  # a Bokeh document may carry CustomJS: the remote's code (see compose.ui.handler)
    cls = Api if name == "api" else component_or_layout_class(name)
    kwargs = cls.recover_kwargs({k: v for k, v in props.items() if k not in DROP})
    if "sanitize_html" in kwargs or name in ("markdown", "chatbot"):
        kwargs["sanitize_html"] = True  # remote markup never runs unsanitized here
    if name == "dataset":
        _dataset_kwargs(kwargs, props, known or {})
    if name == "api":
        kwargs["_api_info"] = config.get("api_info") or {}
    if "value" in _init_params(cls):
        # Explicitly None: a Dropdown left at its default would preselect its first choice.
        kwargs["value"] = None if name != "api" else value
    block = cls(**kwargs)
    if value is not None and name != "api":
        # Already postprocessed by the remote: assigned, as gradio's own from_config does.
        block.value = value  # type: ignore[union-attr]
    elif name == "dataset" and isinstance(local_value, list) and isinstance(block, gr.Dataset):
        # Its samples with their files fetched here: already processed by the remote, so each goes to its
        # component's cache as gradio's Dataset does with one (never through as_example again).
        parts = kwargs["components"]
        if all(isinstance(c, Component) for c in parts):
            block.samples = [[move_files_to_cache(ex, c, keep_in_cache=True) for c, ex in zip(parts, row, strict=False)]
                             for row in local_value if isinstance(row, list)]
    elif files_here is not None and isinstance(block, Component):
        # What a component does with its own initial value (gradio.components.base): its files go to its cache,
        # kept there for as long as the app runs.
        block.value = move_files_to_cache(files_here, block, postprocess=True, keep_in_cache=True)
        if gc_utils.is_file_obj(block.value):
            block.keep_in_cache.add(block.value["path"])
    for flag in _EVENT_FLAGS:
        if props.get(flag):
            setattr(block, flag, props[flag])
    block.proxy_url = None  # files are served by this app from local copies, never proxied from the remote
    return block


def _init_params(cls: type) -> set[str]:
    import inspect

    return set(inspect.signature(cls.__init__).parameters)  # type: ignore[misc]


def _dataset_kwargs(kwargs: dict[str, Any], props: dict[str, Any], known: dict[int, Block]) -> None:
    """An examples table: its components are the local mirrors of the remote ones (by id), or their type names."""
    ids = props.get("component_ids") or []
    local = [known.get(i) for i in ids]
    if ids and all(isinstance(b, gr.components.Component) for b in local):
        kwargs["components"] = local
    else:
        kwargs["components"] = [c["name"] if isinstance(c, dict) else c for c in props.get("components") or []]
    kwargs.pop("component_props", None)
    if "samples" in kwargs:
        # An example file names a file on the remote's disk: never one of ours (the Dataset would serve it).
        kwargs["samples"] = gc_utils.traverse(kwargs["samples"], lambda _: None, gc_utils.is_file_obj_with_meta)


@dataclass
class Mirrored:
    """What `build` made: blocks by remote id, the outer api_name of each remote one, and the pages added."""

    blocks: dict[int, Block] = field(default_factory=dict)
    api_names: dict[str, str] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)


def build(config: dict[str, Any], fns: Sequence[Callable[..., Any] | DynamicPart | None], *,
          trust_remote_js: bool = False, api_descriptions: dict[str, str] | None = None,
          local_values: dict[int, Any] | None = None) -> Mirrored:
    """Build `config`'s layout and events inside the current gr.Blocks (see the module docstring).

    `local_values`: by component id, a value holding files with each file fetched and served by this app (see
    `make_component`); a component's remote files are otherwise left out."""
    root = Context.root_block
    if root is None:
        raise RuntimeError("build() must run inside a gr.Blocks")
    made = Mirrored()
    comps = {c["id"]: c for c in config.get("components", [])}
    remote_pages = config.get("pages") or [["", "Home", True]]
    per_page = config.get("page") or {}
    page_of_dep: dict[int, str] = {}
    home = root.current_page
    has_navbar = {getattr(b, "page", "") for b in root.blocks.values() if isinstance(b, Navbar)}

    def children(nodes: list[dict[str, Any]], page: str) -> None:
        for node in nodes:
            cfg = comps.get(node["id"])
            if cfg is None:
                continue
            if cfg["type"] == "navbar" and page in has_navbar:
                continue  # one Navbar per page: the composing app's own wins
            block = make_component(cfg, trust_remote_js=trust_remote_js, known=made.blocks,
                                   local_value=(local_values or {}).get(node["id"]))
            made.blocks[node["id"]] = block
            if cfg["type"] == "navbar":
                has_navbar.add(page)
            if node.get("children") is not None and isinstance(block, BlockContext):
                with block:
                    children(node["children"], page)

    multipage = len(remote_pages) > 1 and per_page
    for path, name, show in remote_pages:
        if multipage and path:
            local_path = path
            while local_path in [p[0] for p in root.pages]:
                local_path = "_" + local_path
            # Blocks.route() refuses to run inside a Blocks context; this is what it does (pinned by a contract test).
            root.pages.append((local_path, name, show))
            root.current_page = local_path
            made.pages.append(local_path)
        page_cfg = per_page.get(path) if multipage else None
        layout = page_cfg["layout"] if page_cfg else config.get("layout", {})
        children(layout.get("children", []), root.current_page)
        for dep_id in (page_cfg or {}).get("dependencies", []):
            page_of_dep[dep_id] = root.current_page
        root.current_page = home
        if not multipage:
            break

    fn_ids: dict[int, int] = {}
    for dep, fn in zip(config.get("dependencies", []), fns, strict=False):
        page = page_of_dep.get(dep["id"], home)
        root.current_page = page
        try:
            if dep.get("render_id") is not None:  # a @gr.render function: see the module docstring
                if not (isinstance(fn, DynamicPart) and _render(root, dep, fn, made, trust_remote_js)):
                    for container in (made.blocks.get(o) for o in dep.get("outputs", [])):
                        if isinstance(container, BlockContext):
                            with container:
                                gr.Markdown(DYNAMIC_NOTICE)
            elif not isinstance(fn, DynamicPart):
                _wire(root, root.default_config, dep, fn, made, fn_ids, trust_remote_js, api_descriptions or {})
        finally:
            root.current_page = home
    if config.get("title") and root.title == "Gradio":
        root.title = config["title"]  # the composing app had no title of its own
    if config.get("fill_height"):
        root.fill_height = True
    return made


def _triggers(root: Blocks | None, dep: dict[str, Any], mapping: dict[int, Block]) -> list[tuple[Block | None, str]]:
    """The local (block, event name) of each of the dependency's triggers that has one here."""
    found: list[tuple[Block | None, str]] = []
    for t in dep.get("targets") or []:
        target_id, event = (t, dep.get("trigger")) if isinstance(t, int) else (t[0], t[1])
        block = mapping.get(target_id) if target_id is not None else None
        if block is None:
            block = root  # a Blocks event (load, unload): the composing app's own
        if event == "unload" and block is root:
            # `Blocks.unload` is a plain method, not an event listener: the remote's clean-up runs in the user's
            # upstream session when they leave the composing app, as it would when they left the remote one.
            found.append((None, "unload"))
            continue
        listener = getattr(block, str(event), None)
        if listener is None or not hasattr(listener, "has_trigger"):
            continue
        found.append((block if listener.has_trigger else None, listener.event_name))
    return found


def _render(root: Blocks, dep: dict[str, Any], part: DynamicPart, made: Mirrored, trust_remote_js: bool) -> bool:
    """Mirror a remote `@gr.render` function in its container: a local one with the same inputs and triggers that
    builds what each remote run made (see the module docstring). False if it cannot be mirrored."""
    container = made.blocks.get(dep["outputs"][0]) if dep.get("outputs") else None
    inputs = [made.blocks.get(i) for i in dep.get("inputs", [])]
    triggers = _triggers(root, dep, made.blocks)
    if not isinstance(container, BlockContext) or None in inputs or not triggers:
        return False

    def mirror_run(*payloads: Any) -> None:
        ran = part.run(payloads)
        if ran is not None:
            config, local_values = ran
            _build_part(config, part.fns(config), made, trust_remote_js, local_values)

    events = get_blocks_context()
    assert events is not None
    with container:
        renderable = Renderable(mirror_run, inputs, triggers,  # type: ignore[arg-type]  # checked above
                                concurrency_limit=None, concurrency_id=None,
                                trigger_mode=dep.get("trigger_mode") or "always_last",
                                queue=dep.get("queue", True) is not False,
                                show_progress=dep.get("show_progress") or "full")
    for block_fn in events.fns.values():
        if block_fn.renderable is renderable:
            block_fn.preprocess = False  # payloads pass through to the remote, as every mirrored event's do
    return True


def _build_part(config: dict[str, Any], fns: Sequence[Callable[..., Any] | None], made: Mirrored,
                trust_remote_js: bool, local_values: dict[int, Any]) -> None:
    """Inside a local render function's run: build one remote run's components (`config`, Gradio's render_config)
    and wire their events. The app's other blocks are known to them (an event may update one outside the part)."""
    comps = {c["id"]: c for c in config.get("components", [])}
    layout = config.get("layout") or ((config.get("page") or {}).get("") or {}).get("layout") or {}
    part = Mirrored(blocks=dict(made.blocks))  # this run's own mapping: runs for other users build their own

    def children(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            cfg = comps.get(node["id"])
            if cfg is None or cfg["type"] == "navbar":
                continue
            block = make_component(cfg, trust_remote_js=trust_remote_js, known=part.blocks,
                                   local_value=local_values.get(node["id"]))
            part.blocks[node["id"]] = block
            if node.get("children") is not None and isinstance(block, BlockContext):
                with block:
                    children(node["children"])

    children(layout.get("children", []))
    events = get_blocks_context()
    assert events is not None
    fn_ids: dict[int, int] = {}
    for dep, fn in zip(config.get("dependencies", []), fns, strict=False):
        _wire(events.root_block, events, dep, fn, part, fn_ids, trust_remote_js, {})


def _wire(root: Blocks | None, events: BlocksConfig, dep: dict[str, Any], fn: Callable[..., Any] | None,
          made: Mirrored, fn_ids: dict[int, int], trust_remote_js: bool, descriptions: dict[str, str]) -> None:
    if dep.get("trigger") == "fake_event":
        return
    mapping = made.blocks
    targets_cfg = dep.get("targets") or []
    if targets_cfg and not isinstance(targets_cfg[0], int) and targets_cfg[0][1] in ("then", "success", "failure"):
        targets = [EventListenerMethod(None, "then")]
        then = True
    else:
        targets = [EventListenerMethod(block, name) for block, name in _triggers(root, dep, mapping)]
        then = False
        # A trigger with no event here (a gr.HTML click, when remote HTML is shown as sanitised Markdown): the page
        # cannot fire it, but a public endpoint's API stays, as `gr.api` endpoints have no trigger either.
        if targets_cfg and not targets and (not isinstance(dep.get("api_name"), str)
                                            or dep.get("api_visibility") == "private"):
            return
    inputs = [mapping[i] for i in dep.get("inputs", []) if i in mapping]
    outputs = [mapping[o] for o in dep.get("outputs", []) if o in mapping]
    if len(inputs) != len(dep.get("inputs", [])) or len(outputs) != len(dep.get("outputs", [])):
        return  # a dependency on a component we could not mirror (a skipped Navbar): nothing to wire
    api_name = dep.get("api_name")
    visibility = dep.get("api_visibility") or ("private" if api_name is False else "undocumented")
    kwargs: dict[str, Any] = {
        "inputs": inputs, "outputs": outputs, "preprocess": False, "postprocess": False,
        "scroll_to_output": bool(dep.get("scroll_to_output")),
        "show_progress": dep.get("show_progress") or "full",
        "api_name": api_name if isinstance(api_name, str) else None,
        "api_description": descriptions.get(f"/{api_name}") if isinstance(api_name, str) else None,
        "js": safe_js(dep.get("js"), trust_remote_js=trust_remote_js),
        "queue": dep.get("queue", True) is not False,
        "batch": False,  # the remote batches; we send one event at a time
        "collects_event_data": bool(dep.get("collects_event_data")),
        "trigger_mode": dep.get("trigger_mode") or "once",
        "api_visibility": visibility,
        "time_limit": dep.get("time_limit"),
        "stream_every": dep.get("stream_every") or 0.5,
        "connection": dep.get("connection") or "sse",
        "cancels": [fn_ids[c] for c in dep.get("cancels") or [] if c in fn_ids],
        # No limit of the composing app's own: the work runs upstream, whose queue keeps the remote's limits (and
        # batches, `batch=True`, what arrives together), and Limits.max_in_flight bounds what one Space is sent.
        # Gradio's default (1 per event, across all users) would make every user wait for the one before.
        "concurrency_limit": None,
    }
    if then:
        after = dep.get("trigger_after")
        if after not in fn_ids:
            return
        kwargs.update(trigger_after=fn_ids[after], no_target=True,
                      trigger_only_on_success=bool(dep.get("trigger_only_on_success")),
                      trigger_only_on_failure=bool(dep.get("trigger_only_on_failure")))
    if any(t.event_name == "unload" for t in targets):
        kwargs.update(no_target=True, show_progress="hidden")  # as `Blocks.unload` registers it
    if fn is None and kwargs["js"] is None and not then:
        kwargs["api_visibility"] = "private"
    block_fn, _ = events.set_event_trigger(targets=targets, fn=fn, **kwargs)
    fn_ids[int(dep["id"])] = block_fn._id
    if isinstance(api_name, str) and block_fn.api_name:
        made.api_names[f"/{api_name}"] = f"/{block_fn.api_name}"
