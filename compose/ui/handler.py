"""Remote endpoints as Gradio event handlers: `btn.click(ep.handler(), inputs, outputs)`.

The handler's signature mirrors the remote parameters (so the outer app's API page shows the remote names), it
streams when the remote streams, forwards upstream progress and queue position into the caller's `gr.Progress`,
re-raises a remote `gr.Error` as `gr.Error`, and cancelling the outer event cancels the upstream job. The end
user's identity (allow-listed headers, own upstream session) comes from the event's `gr.Request`.

Usage:
    with gr.Blocks() as demo:
        text, out = gr.Textbox(), gr.Textbox()
        gr.Button().click(ep.handler(), text, out)
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np
from gradio import processing_utils
from gradio.components.plot import PlotData
from PIL import Image

from .. import redact
from ..errors import ComposeError
from ..files import FileArg, guess_mime, is_file_data, map_file_data, under_roots
from ..identity import Identity, from_request
from ..loop import run_async
from ..outer import fresh_folder, serve_locally, to_gradio_error, upload_root
from ..schema import Parameter, Return
from ..updates import Update

if TYPE_CHECKING:
    from ..endpoint import Endpoint

__all__ = ["forward_update", "forwarder", "make_handler", "safe_plot", "serve_files"]

log = redact.logger("compose.handler")  # never a token in a log line


def ident_for(request: gr.Request | None, oauth: Any) -> Identity:
    """This event's caller: the request's headers and session, plus a signed-in user's token if given."""
    base = from_request(request) if request is not None else Identity()
    token = getattr(oauth, "token", None)
    return Identity(session=base.session, headers=base.headers, oauth_token=token)


def _user_file(value: Any) -> Any:
    """A file the end user gave the outer app is theirs to send: mark it explicitly (only from gradio's cache)."""
    if isinstance(value, str) and value and under_roots(Path(value), (upload_root(),)):
        return FileArg(value)
    if hasattr(value, "save") and hasattr(value, "mode"):  # a PIL image from gr.Image(type="pil")
        target = fresh_folder(upload_root()) / "image.png"
        value.save(target)
        return FileArg(str(target))
    if isinstance(value, np.ndarray):  # gr.Image(type="numpy"), an ImageEditor's layers
        return _user_file(Image.fromarray(value))
    if (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int)
            and isinstance(value[1], np.ndarray)):  # gr.Audio(type="numpy"), the default: (sample rate, samples)
        target = fresh_folder(upload_root()) / "audio.wav"
        processing_utils.audio_to_file(value[0], value[1], str(target), format="wav")  # type: ignore[no-untyped-call]
        return FileArg(str(target))
    return value


def _user_files(value: Any) -> Any:
    """Several files (gr.File(file_count="multiple"), an ImageSlider's pair), each the end user's to send."""
    if isinstance(value, (list, tuple)):
        return [_user_file(v) for v in value]
    return value


def _user_gallery(value: Any) -> Any:
    """A Gallery as a handler gets it ([(file, caption)]) in the remote's form: [{"image" or "video", caption}]."""
    if not isinstance(value, list):
        return value
    items: list[Any] = []
    for item in value:
        media, caption = item if isinstance(item, (list, tuple)) and len(item) == 2 else (item, None)
        kind = "video" if isinstance(media, str) and guess_mime(Path(media)).startswith("video/") else "image"
        items.append({kind: _user_file(media), "caption": caption})
    return items


def _multimodal_files(value: Any, each: Callable[[Any], Any]) -> Any:
    """A MultimodalTextbox's {text, files} with `each` applied to its files (either way through a handler)."""
    if isinstance(value, dict):
        return {**value, "files": [each(f) for f in value.get("files") or []]}
    return value


def _editor_files(value: Any, each: Callable[[Any], Any]) -> Any:
    """An ImageEditor's {background, layers, composite} with `each` applied to its images (either way)."""
    if isinstance(value, dict):
        return {**value, "background": each(value.get("background")),
                "layers": [each(layer) for layer in value.get("layers") or []],
                "composite": each(value.get("composite"))}
    return value


# How what the outer app's component of each kind hands a handler becomes what the remote's takes.
_INPUT_KINDS: dict[str, Callable[[Any], Any]] = {
    "file": _user_files, "imageslider": _user_files, "gallery": _user_gallery,
    "multimodaltextbox": lambda v: _multimodal_files(v, _user_file),
    "imageeditor": lambda v: _editor_files(v, _user_file),
}


def _to_wire(p: Parameter, v: Any) -> Any:
    """Turn what a local component hands a handler into what the remote parameter `p` accepts."""
    if p.is_file:
        return _user_file(v)
    if (convert := _INPUT_KINDS.get(p.component.lower())) is not None:  # a structure of files (a Gallery)
        return convert(v)
    if p.component.lower() == "datetime" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return dt.datetime.fromtimestamp(v).strftime("%Y-%m-%d %H:%M:%S")
    if p.component.lower() == "chatbot" and isinstance(v, list):
        return [_chat_message(m) for m in v]
    return v


def _chat_message(message: Any) -> Any:
    """A message of the outer Chatbot's history in the remote's wire form. Its files are in the outer app's cache
    (gradio copies each one there when the page sends the history back): the end user's to send, as an upload."""
    if not isinstance(message, dict):
        return message
    message = {k: v for k, v in message.items() if k != "instance"}
    content = message.get("content")
    if isinstance(content, str):
        message["content"] = [{"type": "text", "text": content}]
    elif isinstance(content, list):
        message["content"] = [{k: v for k, v in part.items() if k != "instance"} if isinstance(part, dict) else part
                              for part in content]
    return map_file_data(message, _user_file_data)


def _user_file_data(file_data: dict[str, Any]) -> Any:
    """A FileData naming a file in the outer app's own upload folder, marked the user's (`_user_file`); any
    other (a link) as it is."""
    marked = _user_file(str(file_data.get("path") or ""))
    return marked if isinstance(marked, FileArg) else file_data


def _label_value(value: Any) -> Any:
    """A Label's wire form ({label, confidences: [...]}) as gr.Label takes it (its own postprocess cannot)."""
    if isinstance(value, dict) and isinstance(value.get("confidences"), list):
        return {c["label"]: c["confidence"] for c in value["confidences"]} or value.get("label")
    return value


Convert = Callable[[Any], Any]


def output_converters(returns: Sequence[Return]) -> list[Convert | None]:
    """Per remote output, what turns its result (as `predict` returns it) into a value the same component of the
    outer app takes from a handler; None where it takes the result as it is."""

    return [_local_file if r.is_file else _BY_KIND.get(r.component.lower()) for r in returns]


def _from_wire(converters: list[Convert | None], result: Any) -> Any:
    """Make `result` what the outer app's components take: downloaded files servable by the outer app (a file
    that was not downloaded is a link on the Space's origin, `files.remote_file_ref`: the outer component gets its
    URL, never the remote's path, which would name a file on our disk), a Gallery's items as (file, caption)."""
    if not any(converters):
        return result
    if len(converters) == 1:
        return converters[0](result) if converters[0] is not None else result
    return tuple(c(v) if c is not None else v for v, c in zip(result, converters, strict=False))


def _local_file(value: Any) -> Any:
    if isinstance(value, str):
        return serve_locally(value)
    if is_file_data(value):
        return str(value["url"])
    if isinstance(value, list):
        return [_local_file(v) for v in value]
    return value


def _gallery_value(value: Any) -> Any:
    """A Gallery result ([{"image" or "video": file, "caption": ...}]) as gr.Gallery takes it: (file, caption)."""
    if not isinstance(value, list):
        return value
    items: list[Any] = []
    for item in value:
        if isinstance(item, dict):
            media = item.get("image") if item.get("image") is not None else item.get("video")
            items.append((_local_file(media), item.get("caption")))
        else:
            items.append(item)
    return items


def _slider_value(value: Any) -> Any:
    """An ImageSlider result (two files) as gr.ImageSlider takes it: a pair."""
    if isinstance(value, (list, tuple)):
        return tuple(_local_file(v) for v in value)
    return value


def _highlighted_value(value: Any) -> Any:
    """A HighlightedText result ([{token, class_or_confidence}]) as gr.HighlightedText takes it: (token, class)."""
    if isinstance(value, list):
        return [(t.get("token"), t.get("class_or_confidence")) if isinstance(t, dict) else t for t in value]
    return value


def _annotated_value(value: Any) -> Any:
    """An AnnotatedImage result ({image, annotations: [{image, label}]}) as gr.AnnotatedImage takes it: (image,
    [(mask, label)]). Each mask comes as the PNG the remote drew, its alpha channel the mask (gradio writes
    alpha = mask × 255), so the outer component draws it again in its own colours."""
    if not isinstance(value, dict) or value.get("image") is None:
        return value
    annotations = []
    for a in value.get("annotations") or []:
        mask = a.get("image") if isinstance(a, dict) else None
        if isinstance(mask, str):  # a downloaded mask (one past Limits.max_downloads is a link: not drawn)
            with Image.open(mask) as img:
                annotations.append((np.asarray(img.convert("RGBA"))[:, :, 3] / 255.0, a.get("label")))
    return (_local_file(value["image"]), annotations)


def serve_files(value: Any) -> Any:
    """`value` with each downloaded file in it (FileData naming a local copy) where the outer app serves it
    (`serve_locally`); a link on the Space's origin (one past `Limits.max_downloads`) is left for the browser."""

    def serve(v: dict[str, Any]) -> dict[str, Any]:
        path = str(v.get("path") or "")
        return v if not path or path.startswith(("http://", "https://")) else {**v, "path": serve_locally(path)}

    return map_file_data(value, serve)


# How an output of each kind becomes what the outer app's component of that kind takes from a handler.
def safe_plot(value: Any, *, trust_remote_js: bool) -> Any:
    """A remote plot value that may be shown here: matplotlib (an image), Plotly or Altair (declarative specs) as
    gradio's PlotData; Bokeh only if remote JS is trusted (else None, logged)."""
    if not isinstance(value, dict) or "plot" not in value:
        return value
    kind = value.get("type")
    if kind == "bokeh" and not trust_remote_js:
        log.warning("a remote Bokeh plot was not shown: it may run the remote's JavaScript "
                    "(space.render(trust_remote_js=True) shows it)")
        return None
    if kind not in ("matplotlib", "plotly", "altair", "bokeh"):
        return None  # no plot gradio's page knows how to draw
    return PlotData(type=kind, plot=str(value["plot"]))


_BY_KIND: dict[str, Convert] = {
    # A remote gr.Plot's {"type", "plot"} as the outer gr.Plot takes it; a handler never shows a Bokeh one.
    "plot": functools.partial(safe_plot, trust_remote_js=False),
    "chatbot": serve_files,  # gradio's message form goes back into gr.Chatbot as it is
    "file": _local_file,  # a gr.File(file_count="multiple")'s (one file's is is_file)
    "label": _label_value, "gallery": _gallery_value, "imageslider": _slider_value,
    "highlightedtext": _highlighted_value, "multimodaltextbox": lambda v: _multimodal_files(v, _local_file),
    "imageeditor": lambda v: _editor_files(v, _local_file),
    "annotatedimage": _annotated_value,
}


def forward_update(progress: gr.Progress | None, update: Update) -> None:
    """Show what a remote job reports on the outer page: progress and queue position in the event's progress bar,
    and a remote gr.Info / gr.Warning / gr.Success as the same toast (gradio's page sanitizes a toast's markup, as
    it does a Markdown's). Runs in the outer event's context (gradio finds the event through context variables):
    from compose's I/O loop, through `forwarder`."""
    if update.kind == "log":
        toast = {"warning": gr.Warning, "success": gr.Success}.get(str(update.level), gr.Info)
        title = {"title": update.title} if isinstance(update.title, str) and update.title else {}
        toast(str(update.message or ""), **title)
        return
    if progress is None:
        return
    if update.kind == "progress" and update.progress:
        unit = update.progress[-1]
        if unit.index is not None and unit.length:
            progress((int(unit.index), int(unit.length)), desc=unit.desc, unit=unit.unit or "steps")
        elif unit.fraction is not None:
            progress(unit.fraction, desc=unit.desc)
    elif update.kind == "status" and update.stage == "queued" and update.rank is not None:
        size = f" of {update.queue_size}" if update.queue_size else ""
        progress(0.0, desc=f"Queued upstream: position {update.rank + 1}{size}")


def forwarder(progress: gr.Progress | None) -> Callable[[Update], None]:
    """An `emit` for compose's I/O loop that hands each report to `forward_update` on this event's loop, in this
    event's context. Call it inside the event."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()

    def emit(update: Update) -> None:
        if update.kind != "output":
            loop.call_soon_threadsafe(forward_update, progress, update, context=context)

    return emit


def make_handler(ep: Endpoint) -> Callable[..., Any]:
    """Build the handler for `ep` (see the module docstring)."""
    params = ep.parameters
    by_name = {p.name: p for p in params}
    converters = output_converters(ep.returns)
    use_oauth = ep.space.use_oauth_token

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]
             ) -> tuple[tuple[Any, ...], dict[str, Any], Any, Any, Any]:
        # Gradio inserts the request/progress/token where the signature puts them; recognise them by type so a
        # handler wired to fewer inputs than the remote has still binds right.
        request = kwargs.pop("request", None)
        progress = kwargs.pop("progress", None)
        oauth = kwargs.pop("oauth_token", None)
        values: list[Any] = []
        for a in args:
            if isinstance(a, gr.Request):
                request = a
            elif isinstance(a, gr.Progress):
                progress = a
            elif isinstance(a, gr.OAuthToken):
                oauth = a
            else:
                values.append(a)
        # Keywords stay keywords (compose binds them by name), so a skipped optional one cannot shift the others.
        named = {n: _to_wire(by_name[n], v) for n, v in kwargs.items() if n in by_name}
        return tuple(_to_wire(p, v) for p, v in zip(params, values, strict=False)), named, request, progress, oauth

    if ep.streams:

        async def stream_handler(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            values, named, request, progress, oauth = bind(args, kwargs)
            try:
                async for update in ep.stream_as(ident_for(request, oauth), values, named):
                    if update.kind == "output":
                        if not update.final:
                            yield _from_wire(converters, update.value)
                    else:
                        forward_update(progress, update)
            except ComposeError as e:
                raise to_gradio_error(e) from e

        fn: Callable[..., Any] = stream_handler
    else:

        async def call_handler(*args: Any, **kwargs: Any) -> Any:
            values, named, request, progress, oauth = bind(args, kwargs)
            try:
                # One call, no per-update queue: a non-streaming endpoint only needs its result and its reports.
                result = await run_async(ep.run_as(ident_for(request, oauth), values, named, forwarder(progress)))
            except ComposeError as e:
                raise to_gradio_error(e) from e
            return _from_wire(converters, result)

        fn = call_handler

    sig_params = [
        inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=p.annotation,
                          default=inspect.Parameter.empty if p.required else p.default)
        for p in params
    ]
    # If an optional parameter precedes a required one, Python forbids the signature; give all defaults then.
    if any(q.default is not inspect.Parameter.empty for q in sig_params):
        first = next(i for i, q in enumerate(sig_params) if q.default is not inspect.Parameter.empty)
        sig_params = sig_params[:first] + [q.replace(default=None) if q.default is inspect.Parameter.empty else q
                                           for q in sig_params[first:]]
    extra = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request, default=None),
        inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()),
    ]
    if use_oauth:
        extra.append(inspect.Parameter("oauth_token", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                       annotation=gr.OAuthToken | None, default=None))
    all_params = sig_params + extra
    fn.__signature__ = inspect.Signature(all_params)  # type: ignore[attr-defined]
    fn.__name__ = (ep.api_name.strip("/") or "predict").replace("-", "_")
    fn.__qualname__ = fn.__name__
    fn.__doc__ = ep.description or f"Calls {ep.api_name} on {ep.space.name}."
    # gradio finds gr.Request / gr.OAuthToken parameters through the annotations, so they must be there too.
    fn.__annotations__ = {q.name: q.annotation for q in all_params if q.annotation is not inspect.Parameter.empty}
    return fn

