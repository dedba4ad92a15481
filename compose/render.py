"""Remote inputs and outputs as local components: `ep.render()` for one endpoint, `space.render()` for a whole app.

Components use the remote classes and the config that matters (labels, choices, Dataframe headers, DateTime
options, Slider ranges, Chatbot, File/Image types, initial values). Every event goes through compose, so each end
user keeps their own upstream session and identity, and streaming, progress, errors and cancellation pass through.

Usage:
    with gr.Blocks() as demo:
        ui = space.endpoint("/translate").render()     # ui.inputs, ui.outputs, ui.button
        space2.render()                                  # a whole remote app, embedded
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from gradio.context import Context
from gradio.utils import component_or_layout_class
from gradio_client import utils as gc_utils

from . import sessions
from .calls import run_call
from .endpoint import _ignore, stream_updates
from .errors import ComposeError, UnsafeInput
from .files import under_roots
from .handler import serve_locally, to_gradio_error, upload_root
from .identity import current_identity
from .loop import run_async
from .schema import EndpointSchema, slots

if TYPE_CHECKING:
    from .endpoint import Endpoint
    from .space import Space

__all__ = ["Rendered", "forget_on_unload", "render_endpoint", "render_space"]

# Props that only make sense on the remote (or are re-derived locally) and must not be copied.
_DROP = {"proxy_url", "name", "_selectable", "server_fns", "component_class_id", "key", "preserved_by_key",
         "col_count"}  # col_count: a deprecated alias of column_count, which the config also carries


@dataclass
class Rendered:
    """What `ep.render()` made: the local input and output components and the button that runs the endpoint."""

    inputs: list[gr.components.Component]
    outputs: list[gr.components.Component]
    button: gr.Button | None


def _component(config: dict[str, Any], *, is_file: bool) -> gr.components.Component:
    props = copy.deepcopy(config.get("props", {}))
    cls = component_or_layout_class(props.get("name") or config["type"])
    if is_file or _has_file(props.get("value")):
        props.pop("value", None)  # a remote file path means nothing here
    kwargs = cls.recover_kwargs({k: v for k, v in props.items() if k not in _DROP})
    component = cls(**kwargs)
    return component  # type: ignore[return-value]


def _has_file(value: Any) -> bool:
    found = []
    gc_utils.traverse(value, lambda v: found.append(v), gc_utils.is_file_obj_with_meta)
    return bool(found)


_forgetting: weakref.WeakSet[gr.Blocks] = weakref.WeakSet()


def forget_on_unload(blocks: gr.Blocks | None = None) -> None:
    """When an end user's page closes, drop what compose holds for them (their session-reset marker).

    Called for you by `render()`; call it yourself if you only use `handler()`.
    """
    root = blocks or Context.root_block
    if root is None or root in _forgetting:
        return
    _forgetting.add(root)

    def forget(request: gr.Request) -> None:
        if request is not None and request.session_hash:
            sessions.forget(request.session_hash)

    root.unload(forget)


def render_endpoint(
    ep: Endpoint,
    *,
    inputs: Sequence[gr.components.Component] | None = None,
    outputs: Sequence[gr.components.Component] | None = None,
    button: gr.Button | str | None = "Run",
) -> Rendered:
    """Create (or take) components for `ep`, add a button, and wire it to `ep.handler()`."""
    sch = ep.space.schema
    comps = {c["id"]: c for c in sch.config.get("components", [])}
    schema = ep.schema
    visible_in = [cid for cid, slot in zip(schema.input_ids, schema.input_slots, strict=False) if slot is not None]
    visible_out = [cid for cid, slot in zip(schema.output_ids, schema.output_slots, strict=False) if slot is not None]
    made_in = list(inputs) if inputs is not None else [
        _component(comps[cid], is_file=p.is_file) for cid, p in zip(visible_in, schema.parameters, strict=False)]
    made_out = list(outputs) if outputs is not None else [
        _component(comps[cid], is_file=r.is_file) for cid, r in zip(visible_out, schema.returns, strict=False)]
    btn = gr.Button(button) if isinstance(button, str) else button
    if btn is not None:
        btn.click(ep.handler(), made_in, made_out, api_name=ep.api_name.strip("/"))
    forget_on_unload()
    return Rendered(made_in, made_out, btn)


# --- a whole remote app -----------------------------------------------------------------------------------------


def _dependency_schema(dep: dict[str, Any], comps: dict[int, dict[str, Any]]) -> EndpointSchema:
    inputs = tuple(dep["inputs"])
    outputs = tuple(dep["outputs"])
    return EndpointSchema(
        api_name=f"/{dep.get('api_name') or 'fn' + str(dep['id'])}",
        fn_index=int(dep["id"]),
        description="",
        streams=bool((dep.get("types") or {}).get("generator")),
        parameters=(),
        returns=(),
        input_slots=slots(inputs, comps),
        output_slots=slots(outputs, comps),
        input_ids=inputs,
        output_ids=outputs,
    )


def _check_payload_files(payload: Any, space: Space) -> None:
    """Raw payloads come straight from the browser: a file may only be one this user uploaded to the outer app."""

    def check(v: dict[str, Any]) -> dict[str, Any]:
        path = v.get("path", "")
        if not str(path).startswith(("http://", "https://")) and not under_roots(Path(path), (upload_root(),)):
            raise UnsafeInput(f"{space.name}: refusing to send {path!r}, which is not a file this user uploaded")
        return v

    gc_utils.traverse(payload, check, gc_utils.is_file_obj_with_meta)


def _serve_payload(value: Any) -> Any:
    """Raw results carry FileData for local downloads; move each file where the outer app serves it."""
    return gc_utils.traverse(value, lambda v: {**v, "path": serve_locally(v["path"])}, gc_utils.is_file_obj_with_meta)



def _raw_fn(space: Space, schema: EndpointSchema) -> Callable[..., Any]:
    """A preprocess=False/postprocess=False function for one remote dependency (payloads pass through)."""

    def prepare(payloads: tuple[Any, ...]) -> list[Any]:
        # State slots are not checked: run_call sends None for them (the upstream session holds the value).
        for slot, p in zip(schema.input_slots, payloads, strict=False):
            if slot is not None:
                _check_payload_files(p, space)
        return list(payloads)

    def present(data: list[Any]) -> Any:
        out = [None if slot is None else _serve_payload(v) for v, slot in zip(data, schema.output_slots,
                                                                                strict=False)]
        if not out:
            return None
        return out[0] if len(out) == 1 else tuple(out)

    if schema.streams:

        async def stream_fn(*payloads: Any) -> AsyncIterator[Any]:
            ident = current_identity()
            try:
                values = prepare(payloads)
                async for update in stream_updates(lambda emit: run_call(space, schema, values, ident, emit,
                                                                         raw=True)):
                    if update.kind == "output" and not update.final:
                        yield present(update.value)
            except ComposeError as e:
                raise to_gradio_error(e) from e

        return stream_fn

    async def call_fn(*payloads: Any) -> Any:
        try:
            data = await run_async(run_call(space, schema, prepare(payloads), current_identity(), _ignore,
                                            raw=True))
        except ComposeError as e:
            raise to_gradio_error(e) from e
        return present(data)

    return call_fn


def render_space(space: Space) -> gr.Blocks:
    """Embed the whole remote app (layout and every event) in the current `gr.Blocks`, every event via compose."""
    sch = space.schema
    comps = {c["id"]: c for c in sch.config.get("components", [])}
    fns: list[Callable[..., Any] | None] = []
    for dep in sch.config["dependencies"]:
        fns.append(_raw_fn(space, _dependency_schema(dep, comps)) if dep.get("backend_fn") else None)
    config = copy.deepcopy(sch.config)
    # Strip remote file values from the layout's components: they point into the remote's file system.
    for c in config.get("components", []):
        if _has_file(c.get("props", {}).get("value")):
            c["props"].pop("value", None)
    blocks = gr.Blocks.from_config(config, fns, space.url)  # type: ignore[arg-type]
    for block in blocks.blocks.values():
        # Files are served by this app from local copies, never proxied from a URL the remote chose.
        block.proxy_url = None
    forget_on_unload()
    return blocks
