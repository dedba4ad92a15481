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

import inspect
import keyword
import secrets
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from gradio.context import Context
from gradio_client import utils as gc_utils

from .. import sessions
from ..endpoint import stream_updates
from ..errors import ComposeError, UnsafeInput
from ..files import file_data_in, under_roots
from ..identity import Identity, current_identity
from ..limits import check_schema_counts
from ..loop import run_async, run_sync
from ..outer import to_gradio_error, upload_root
from ..schema import EndpointSchema, output_kinds, slots
from .handler import forward_update, forwarder, safe_plot, serve_files
from .mirror import DynamicPart, build, make_component

if TYPE_CHECKING:
    from ..endpoint import Endpoint
    from ..space import Space

__all__ = ["Rendered", "forget_on_unload", "render_endpoint", "render_space"]

@dataclass
class Rendered:
    """What `ep.render()` made: the local input and output components and the button that runs the endpoint."""

    inputs: list[gr.components.Component]
    outputs: list[gr.components.Component]
    button: gr.Button | None
    # remote api_name → the outer app's (gradio renames a taken name: /predict → /predict_1)
    api_names: dict[str, str] = field(default_factory=dict)
    # space.render() outside any gr.Blocks: the Blocks it made
    blocks: gr.Blocks | None = None
    # space.render(): the local block of each remote component id, and the pages it added
    components: dict[int, Any] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)


def _component(config: dict[str, Any], *, is_file: bool, local_value: Any = None) -> gr.components.Component:
    return make_component(config, is_file=is_file, local_value=local_value)  # type: ignore[return-value]


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
    # The remote's own files in their initial values (a sample picture preloaded), fetched and served here.
    local = {} if inputs is not None and outputs is not None else _local_values(
        ep.space, {cid: comps[cid] for cid in (*visible_in, *visible_out) if cid in comps}, Identity(), "its layout")
    made_in = list(inputs) if inputs is not None else [
        _component(comps[cid], is_file=p.is_file, local_value=local.get(cid))
        for cid, p in zip(visible_in, schema.parameters, strict=False)]
    made_out = list(outputs) if outputs is not None else [
        _component(comps[cid], is_file=r.is_file, local_value=local.get(cid))
        for cid, r in zip(visible_out, schema.returns, strict=False)]
    btn = gr.Button(button) if isinstance(button, str) else button
    api_names = {}
    if btn is not None and inputs is None and outputs is None:
        # Mirrored components speak the remote's wire format: payloads pass through untouched, as in a whole-app
        # render (a handler would postprocess remote values a second time, which Label and JSON cannot take).
        wire_in = iter(made_in)
        wire_out = iter(made_out)
        all_in = [next(wire_in) if slot is not None else gr.State() for slot in schema.input_slots]
        all_out = [next(wire_out) if slot is not None else gr.State() for slot in schema.output_slots]
        event = btn.click(_raw_fn(ep.space, schema, comps), all_in, all_out, api_name=ep.api_name.strip("/"),
                          api_description=ep.description or None, preprocess=False, postprocess=False,
                          concurrency_limit=None)  # the work runs upstream: see `_wire` in compose.ui.mirror
        api_names[ep.api_name] = "/" + str(event["api_name"])  # gradio renames a name already taken
    elif btn is not None:
        event = btn.click(ep.handler(), made_in, made_out, api_name=ep.api_name.strip("/"), concurrency_limit=None)
        api_names[ep.api_name] = "/" + str(event["api_name"])  # gradio renames a name already taken
    forget_on_unload()
    return Rendered(made_in, made_out, btn, api_names=api_names)


# --- a whole remote app -----------------------------------------------------------------------------------------


def _dependency_schema(dep: dict[str, Any], comps: dict[int, dict[str, Any]],
                       named: dict[str, EndpointSchema]) -> EndpointSchema:
    inputs = tuple(dep["inputs"])
    outputs = tuple(dep["outputs"])
    api_name = f"/{dep.get('api_name') or 'fn' + str(dep['id'])}"
    public = named.get(api_name)
    return EndpointSchema(
        api_name=api_name,
        fn_index=int(dep["id"]),
        description=public.description if public else "",
        streams=bool((dep.get("types") or {}).get("generator")),
        parameters=public.parameters if public and public.fn_index == int(dep["id"]) else (),
        returns=(),
        input_slots=slots(inputs, comps),
        output_slots=slots(outputs, comps),
        input_ids=inputs,
        output_ids=outputs,
        output_kinds=output_kinds(outputs, comps),
    )


def _check_payload_files(payload: Any, space: Space) -> None:
    """Raw payloads come straight from the browser: a file may only be one this user uploaded to the outer app."""

    def check(v: dict[str, Any]) -> dict[str, Any]:
        path = v.get("path", "")
        if not str(path).startswith(("http://", "https://")) and not under_roots(Path(path), (upload_root(),)):
            raise UnsafeInput(f"{space.name}: refusing to send {path!r}, which is not a file this user uploaded")
        return v

    gc_utils.traverse(payload, check, gc_utils.is_file_obj_with_meta)


# What a remote event may change of a layout block (a Row shown, an Accordion opened, a Tab selected): plain props,
# no markup or code.
_LAYOUT_PROPS = frozenset({"visible", "open", "selected", "interactive", "elem_classes", "label", "variant", "scale",
                           "min_width", "height", "max_height", "width"})


def _one_or_tuple(out: list[Any]) -> Any:
    """A function's return for its outputs, as gradio takes it: none → None, one → it, several → a tuple."""
    if not out:
        return None
    return out[0] if len(out) == 1 else tuple(out)


def _slotless(value: Any, kind: str | None, changed: bool) -> Any:
    """An output that is no result: a remote gr.State or a layout block.

    A State's value lives in the user's upstream session; ours only has to change when the remote's did (the run's
    `changed_state_ids`), so that its `.change` listeners, mirrored here, run as the remote's own page runs them.
    A layout block takes the remote's update of its plain props.
    """
    if kind == "state":
        return secrets.token_hex(8) if changed else gr.skip()
    if isinstance(value, dict) and value.get("__type__") == "update":
        return {k: v for k, v in value.items() if k in _LAYOUT_PROPS or k == "__type__"}
    return None


def _signature(schema: EndpointSchema, comps: dict[int, dict[str, Any]]) -> inspect.Signature:
    """One parameter per dependency input, named as the remote names it, so the outer API keeps those names
    (gradio names a `*args` function's parameters param_0, param_1, ...), plus the event's data."""
    params: list[inspect.Parameter] = []
    taken: set[str] = {"event_data"}
    named = iter(schema.parameters)
    for cid, slot in zip(schema.input_ids, schema.input_slots, strict=False):
        p = next(named, None) if slot is not None else None
        label = comps.get(cid, {}).get("props", {}).get("label")
        base = p.name if p is not None else gc_utils.sanitize_parameter_names(
            label if isinstance(label, str) and label else ("state" if slot is None else f"param_{len(params)}"))
        if not base.isidentifier() or keyword.iskeyword(base):
            base = f"param_{len(params)}"
        name, n = base, 1
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        # Only a None default comes from the signature (gradio reads others from the component's value).
        default = None if p is not None and not p.required and p.default is None else inspect.Parameter.empty
        params.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default))
    for i in range(len(params) - 2, -1, -1):  # Python's order rule: no default before a parameter without one
        if params[i + 1].default is inspect.Parameter.empty:
            params[i] = params[i].replace(default=inspect.Parameter.empty)
    # gradio inserts these two at their position in the signature, after the inputs (see _raw_fn's `split`).
    params.append(inspect.Parameter("event_data", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                    annotation=gr.EventData))
    params.append(inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()))
    return inspect.Signature(params)


def _raw_fn(space: Space, schema: EndpointSchema, comps: dict[int, dict[str, Any]], *,
            trust_remote_js: bool = False) -> Callable[..., Any]:
    """A preprocess=False/postprocess=False function for one remote dependency (payloads pass through, but for a
    Bokeh plot, which may carry the remote's JavaScript: shown only with `trust_remote_js`)."""

    def prepare(payloads: tuple[Any, ...]) -> list[Any]:
        # State slots are not checked: run_call sends None for them (the upstream session holds the value).
        for slot, p in zip(schema.input_slots, payloads, strict=False):
            if slot is not None:
                _check_payload_files(p, space)
        return list(payloads)

    kinds = schema.output_kinds or tuple("" for _ in schema.output_ids)

    def shown(v: Any, kind: str) -> Any:
        return safe_plot(v, trust_remote_js=trust_remote_js) if kind == "plot" else serve_files(v)

    def present(data: list[Any], changed: list[int] | None = None) -> Any:
        return _one_or_tuple([shown(v, kind) if slot is not None else _slotless(v, kind, cid in (changed or ()))
                              for v, slot, cid, kind in zip(data, schema.output_slots, schema.output_ids, kinds,
                                                            strict=False)])

    def states_changed(changed: list[int]) -> Any:
        """After a stream's last output: nothing but the remote States it changed (the rest stays as shown)."""
        return _one_or_tuple([_slotless(None, kind, cid in changed) if kind == "state" else gr.skip()
                              for cid, kind in zip(schema.output_ids, kinds, strict=False)])

    def split(args: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any, gr.Progress | None]:
        """The payloads, the event's data and the progress tracker gradio passed after them."""
        count = len(schema.input_ids)
        extras = args[count:]
        data = next((a for a in extras if isinstance(a, gr.EventData)), None)
        progress = next((a for a in extras if isinstance(a, gr.Progress)), None)
        return args[:count], getattr(data, "_data", None), progress

    if schema.streams:

        async def stream_fn(*args: Any) -> AsyncIterator[Any]:
            payloads, event_data, progress = split(args)
            ident = current_identity()
            try:
                values = prepare(payloads)
                # Under the Space's gate, as every call: in-flight cap, circuit breaker, upload budget.
                completion: dict[str, Any] = {}
                async for update in stream_updates(lambda emit: space.run_payloads(
                        schema, values, ident, emit, event_data=event_data, completion=completion)):
                    if update.kind != "output":
                        forward_update(progress, update)
                    elif not update.final:
                        yield present(update.value)
                    elif completion.get("changed_state_ids"):
                        # The end: only the remote States it changed are news (their .change listeners run).
                        yield states_changed(completion["changed_state_ids"])
            except ComposeError as e:
                raise to_gradio_error(e) from e

        fn: Callable[..., Any] = stream_fn
    else:

        async def call_fn(*args: Any) -> Any:
            payloads, event_data, progress = split(args)
            completion: dict[str, Any] = {}
            try:
                data = await run_async(space.run_payloads(schema, prepare(payloads), current_identity(),
                                                         forwarder(progress), event_data=event_data,
                                                         completion=completion))
            except ComposeError as e:
                raise to_gradio_error(e) from e
            return present(data, completion.get("changed_state_ids"))

        fn = call_fn
    fn.__signature__ = _signature(schema, comps)  # type: ignore[attr-defined]
    # gradio finds the EventData parameter by its type hint, and only an exact class counts (not "EventData | None").
    fn.__annotations__ = {"event_data": gr.EventData}
    fn.__doc__ = schema.description or None
    fn.__name__ = schema.api_name.strip("/") or "fn"
    return fn


def _dynamic_part(space: Space, schema: EndpointSchema, comps: dict[int, dict[str, Any]],
                  named: dict[str, EndpointSchema], *, trust_remote_js: bool = False) -> DynamicPart:
    """A remote `@gr.render` function (`schema`) for `mirror.build`: each run asks the remote, for the end user of
    the event running it, what it makes now; each of the events it makes is wired to the remote's own (Gradio
    keeps them in that user's upstream session, where compose's calls find them)."""

    def run(payloads: tuple[Any, ...]) -> tuple[dict[str, Any], dict[int, Any]] | None:
        # In one of gradio's worker threads (a render function is synchronous): a blocking call is fine here.
        for slot, p in zip(schema.input_slots, payloads, strict=False):
            if slot is not None:
                _check_payload_files(p, space)
        completion: dict[str, Any] = {}
        ident = current_identity()
        try:
            run_sync(space.run_payloads(schema, list(payloads), ident, lambda update: None, completion=completion))
            made = completion.get("render_config")
            if made is None:
                return None
            # Bounded as a schema is: the outer app builds every component it lists, for each run.
            check_schema_counts(space.name, made, {}, space.limits, source="a run of its @gr.render made")
            comps_made = {c["id"]: c for c in made.get("components", []) if isinstance(c, dict)}
            return made, _local_values(space, comps_made, ident, "a @gr.render run")
        except ComposeError as e:
            raise to_gradio_error(e) from e

    def fns(config: dict[str, Any]) -> list[Callable[..., Any] | None]:
        known = {**comps, **{c["id"]: c for c in config.get("components", [])}}
        return [_raw_fn(space, _dependency_schema(dep, known, named), known, trust_remote_js=trust_remote_js)
                if dep.get("backend_fn") else None
                for dep in config.get("dependencies", [])]

    return DynamicPart(run=run, fns=fns)


def _local_values(space: Space, comps: dict[int, dict[str, Any]], ident: Identity, what: str) -> dict[int, Any]:
    """The values of these remote components that hold files (an image shown in the layout, a gallery's
    pictures, an examples table's samples), each file fetched through compose and served by this app:
    `mirror.build`'s `local_values`. A value whose files cannot all be fetched (or are past `Limits.max_downloads`)
    is left out: its component starts empty."""
    held: dict[int, Any] = {}
    for cid, c in comps.items():
        props = c.get("props")
        # An examples table's files are in its samples (thumbnails, and what a click fills the inputs with).
        held_here = props.get("samples" if c.get("type") == "dataset" else "value") if isinstance(props, dict) else None
        if file_data_in(held_here):
            held[cid] = held_here
    if not held:
        return {}
    fetched = run_sync(space.local_payloads(list(held.values()), ident, what))
    local: dict[int, Any] = {}
    for cid, value in zip(held, fetched, strict=True):
        if value is not None and not any(str(f.get("path", "")).startswith(("http://", "https://"))
                                         for f in file_data_in(value)):
            local[cid] = serve_files(value)
    return local


def render_space(space: Space, *, trust_remote_js: bool = False) -> Rendered:
    """Embed the whole remote app (layout, pages and every event) in the current `gr.Blocks`, every event via
    compose; the outer API keeps the remote's parameter names and visibility (`Rendered.api_names` maps names)."""
    sch = space.schema
    config = sch.config
    comps = {c["id"]: c for c in config.get("components", [])}
    fns: list[Callable[..., Any] | DynamicPart | None] = []
    for dep in config["dependencies"]:
        schema = _dependency_schema(dep, comps, sch.endpoints)
        if dep.get("render_id") is not None:
            fns.append(_dynamic_part(space, schema, comps, sch.endpoints, trust_remote_js=trust_remote_js))
        else:
            fns.append(_raw_fn(space, schema, comps, trust_remote_js=trust_remote_js) if dep.get("backend_fn")
                       else None)
    descriptions = {name: ep.description for name, ep in sch.endpoints.items()}
    # The app's own files (an image in its layout): fetched now, once, for everyone (no end user's identity).
    local = _local_values(space, comps, Identity(), "its layout")
    if Context.root_block is None:
        with gr.Blocks() as standalone:
            made = build(config, fns, trust_remote_js=trust_remote_js, api_descriptions=descriptions,
                         local_values=local)
        blocks: gr.Blocks | None = standalone
    else:
        made = build(config, fns, trust_remote_js=trust_remote_js, api_descriptions=descriptions,
                     local_values=local)
        blocks = None
        forget_on_unload()
    if blocks is not None:
        forget_on_unload(blocks)
    return Rendered(inputs=[], outputs=[], button=None, api_names=made.api_names, blocks=blocks,
                    components=made.blocks, pages=made.pages)
