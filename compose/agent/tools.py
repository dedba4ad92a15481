"""Space endpoints as smolagents tools: `ep.tool()` returns a real `smolagents.Tool`.

The tool's inputs are keyed by the remote parameter names, typed from the remote components; choices and ranges
are in each input's description; a parameter with a default is nullable. Several outputs come back as a dict keyed
by the output labels; image and audio outputs as smolagents agent types. Model-chosen file arguments pass the
guard (`compose.agent.guard`), each call has a timeout and a per-endpoint concurrency limit, and the end user's identity
is the one active where the agent runs (smolagents copies the context into its tool threads).

Usage:
    tool = space.endpoint("/translate").tool(name="translate")
    agent = ToolCallingAgent(tools=[tool], model=model)
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextvars
import copy
import functools
import importlib.util
import json
import keyword
import os
import re
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from smolagents import Tool
from smolagents.agent_types import AgentAudio, AgentImage

from .. import forksafe
from ..errors import ComposeError, InvalidArguments
from ..identity import Identity, current_identity
from ..loop import spawn
from ..schema import JSON_TYPES, Parameter, Return, output_labels, plain_text
from ..sessions import user_folder
from ..updates import Update
from .call_events import ToolEvent, current_scope
from .guard import check_arguments
from .tool_schema import parameter_description

if TYPE_CHECKING:
    from ..endpoint import Endpoint

__all__ = ["RUNS_ON", "SpaceTool", "app_name", "input_spec", "output_type", "tool_name", "tool_summary"]

# Each endpoint's concurrency limit, shared by the live tools of that endpoint with the same max_concurrency, and
# gone with the last of them (held weakly). Keyed by process too: a forked child must not inherit slots that the
# parent's threads held at the fork.
_limits: weakref.WeakValueDictionary[tuple[int, str, str, int], threading.BoundedSemaphore] = (
    weakref.WeakValueDictionary())
_limits_lock = forksafe.Lock()
# The download folders of the Spaces tools were made for (paths only: no Space is kept alive for this), the most
# recently made last; bounded, as everything kept per process.
_download_roots: OrderedDict[Path, None] = OrderedDict()
_MAX_ROOTS = 1024


def _identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_").lower() or "tool"
    if name[0].isdigit() or keyword.iskeyword(name):
        name = "t_" + name
    return name


def app_name(space: Any) -> str:
    """A short readable name for a Space: its repo name; for a URL, the app's title, else the last part of its
    path, else its host (so untitled apps on different URLs do not all become "space")."""
    if "://" not in space.name:
        return str(space.name.split("/")[-1])
    title = plain_text(space.schema.config.get("title"))
    if title and title.lower() != "gradio":
        return title
    parts = urlsplit(space.url)
    segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if segment:
        return str(segment)
    host = parts.hostname or ""
    if host and not host.replace(".", "").isdigit() and host != "localhost":
        return host.split(".")[0]
    return f"app_{parts.port}" if parts.port else "space"


def tool_name(ep: Endpoint) -> str:
    """A valid identifier from the app and endpoint, e.g. "translator_translate"."""
    return _identifier(f"{app_name(ep.space)}_{ep.api_name.strip('/')}")


@functools.cache  # a search of sys.path: once per process, not per result
def _audio_extra() -> bool:
    """Can smolagents make an AgentAudio here? It needs its `audio` extra (soundfile and torch), which compose does
    not depend on: without it every AgentAudio raises, so an audio result is a path (type "string") instead."""
    return all(importlib.util.find_spec(name) is not None for name in ("soundfile", "torch"))


def _kind(component: str, schema: dict[str, Any], is_file: bool) -> str:
    """A result's smolagents type (an image or audio file is an AgentImage / AgentAudio)."""
    comp = component.lower()
    if is_file:
        if comp in ("image", "imageeditor", "imageslider"):
            return "image"
        return "audio" if comp == "audio" and _audio_extra() else "string"
    if "enum" in schema:
        values = [v for v in schema["enum"] if v is not None]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return "integer"
        if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return "number"
        return "string"
    kind = schema.get("type")
    if isinstance(kind, str) and kind in JSON_TYPES and kind != "null":
        return kind  # smolagents' input types are JSON Schema's
    return "any"


# What a tool's description used to end with (before descriptions became the function's own words); tools saved
# by older versions still carry it, and the small models strip it.
RUNS_ON = " (runs on the Space "


def tool_summary(tool: Any) -> str:
    """A tool's description without the Space note older versions added."""
    return str(getattr(tool, "description", "") or "").split(RUNS_ON)[0]


def input_spec(p: Parameter) -> dict[str, Any]:
    """The smolagents input description for one remote parameter.

    The description reads as sentences ('Target language. One of "French", "German". Defaults to "French".');
    what a program needs is there as structure too: closed choices as `enum` (`items.enum` for a list of them),
    open ones as `examples`, so nothing has to parse the text back.
    """
    # A file is "any": a model types a URL or a received file's path (a ToolCallingAgent's schema shows "any" as a
    # string), and a file the agent holds (smolagents' state: an AgentImage) must pass its argument check too,
    # which "image" or "audio" would refuse both of (they accept only a bare PIL image or torch tensor).
    # A table is "any" too: smolagents would refuse its list-of-rows form under "object" (and the object under
    # "array"); its description says both forms.
    kind = "any" if p.is_file or p.is_table or p.is_editor else _kind(p.component, p.json_schema, p.is_file)
    sentences = [_sentence(parameter_description(p))]
    spec: dict[str, Any] = {"type": kind}
    if p.choices:
        listed = ", ".join(json.dumps(c) for c in p.choices)
        sentences.append(f"{'One of' if p.closed else 'For example'} {listed}.")
        if not p.closed:
            spec["examples"] = list(p.choices)
        elif kind == "array":
            spec["items"] = {"enum": list(p.choices)}
        elif kind in ("string", "integer", "number"):
            spec["enum"] = list(p.choices)
    lo, hi = p.component_config.get("minimum"), p.component_config.get("maximum")
    if lo is not None and hi is not None:
        sentences.append(f"From {lo} to {hi}.")
    elif lo is not None or hi is not None:
        sentences.append(f"At least {lo}." if lo is not None else f"At most {hi}.")
    if not p.required:
        sentences.append(f"Defaults to {json.dumps(p.default, default=str)}.")
        spec["nullable"] = True
    spec["description"] = " ".join(sentences)
    return spec


def _sentence(text: str) -> str:
    """`text` ending as a sentence does (a full stop unless it ends in other punctuation); its words as they are,
    the remote's own docstring line."""
    text = text.strip()
    return text if not text or text[-1] in ".!?" else f"{text}."


def output_type(returns: tuple[Return, ...]) -> str:
    """One output → its type; several → "object" (a dict keyed by label); none → "null"."""
    if not returns:
        return "null"
    if len(returns) > 1:
        return "object"
    r = returns[0]
    return _kind(r.component, r.json_schema, r.is_file)


def _plot_image(value: Any, folder: Path) -> Any:
    """A matplotlib plot result (`{"type": "matplotlib", "plot": "data:image/...;base64,..."}`) as an image file in
    `folder`, shown to the agent as an AgentImage: its base64 text was thousands of characters of a model's
    context. Any other plot (a Plotly or Altair spec) stays as it came."""
    plot = value.get("plot") if isinstance(value, dict) and value.get("type") == "matplotlib" else None
    if not isinstance(plot, str) or not plot.startswith("data:image/") or ";base64," not in plot:
        return value
    head, data = plot.split(";base64,", 1)
    suffix = "." + re.sub(r"[^a-z0-9]", "", head[len("data:image/"):].split("+")[0].lower())[:8]
    try:
        content = base64.b64decode(data, validate=True)
    except ValueError:
        return value
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"plot-{secrets.token_hex(6)}{suffix if suffix != '.' else '.png'}"
    target.write_bytes(content)
    return AgentImage(str(target))


def _agent_value(r: Return, value: Any, folder: Path | None = None) -> Any:
    if folder is not None and r.component.lower() == "plot":
        return _plot_image(value, folder)
    if r.is_file and isinstance(value, str):
        comp = r.component.lower()
        if comp in ("image", "imageeditor"):
            return AgentImage(value)
        if comp == "audio" and _audio_extra():
            return AgentAudio(value)
    return value


class SpaceTool(Tool):  # type: ignore[misc]
    """A smolagents Tool that calls one Space endpoint through compose (see the module docstring)."""

    skip_forward_signature_validation = True

    def __init__(
        self,
        endpoint: Endpoint,
        name: str | None = None,
        description: str | None = None,
        *,
        timeout: float = 300.0,
        max_concurrency: int = 4,
        max_file_bytes: int = 50 * 2**20,
        roots: tuple[Path, ...] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.name = name or tool_name(endpoint)
        # The function's own docstring, as gradio's MCP server publishes it; where the Space runs is in
        # `endpoint.space`, not repeated in every description a model reads.
        self.description = (description or endpoint.description or
                            f"Calls {endpoint.api_name} of {app_name(endpoint.space)}.").strip()
        self.inputs = {p.name: input_spec(p) for p in endpoint.parameters}
        self.output_type = output_type(endpoint.returns)
        self.timeout = timeout
        self.max_file_bytes = max_file_bytes
        self._roots = roots
        # Set only on a per-run copy (see `in_context`), never on a tool other agents share.
        self._context: contextvars.Context | None = None
        # The limit is shared by every tool of this endpoint with the same max_concurrency (each user's agent has
        # its own tool instances); keyed without it, the first tool made for an endpoint fixed the limit for all.
        key = (os.getpid(), endpoint.space.url, endpoint.api_name, max_concurrency)
        with _limits_lock:
            limit = _limits.get(key)
            if limit is None:
                limit = _limits[key] = threading.BoundedSemaphore(max_concurrency)
            self._limit = limit
            _download_roots[endpoint.space.download_dir] = None
            _download_roots.move_to_end(endpoint.space.download_dir)
            while len(_download_roots) > _MAX_ROOTS:
                _download_roots.popitem(last=False)
        super().__init__()

    def roots(self, ident: Identity | None = None) -> tuple[Path, ...]:
        """Where files this user may pass live: what they uploaded to the app, and what compose fetched for them."""
        if self._roots is not None:
            return self._roots
        from ..outer import upload_root

        # This user's own download folder of every Space a tool was made for: a file one Space returned may go to
        # another Space (image → captioner), but never another user's file. (Before: only this Space's whole
        # download folder, which refused cross-Space chaining and accepted other users' downloads.)
        user = (ident or current_identity()).session
        with _limits_lock:
            roots = list(_download_roots)
        return (upload_root(), *(user_folder(root, user) for root in roots))

    def vet(self, arguments: dict[str, Any], ident: Identity | None = None) -> dict[str, Any]:
        """Check a model's arguments (files, URLs, nested file dicts); raises `UnsafeInput` before any traffic.

        Optional arguments given as None are dropped: a model's way of leaving one out (the remote default
        applies); a required one given as None is sent as None, as gradio_client sends it.
        """
        required = {p.name for p in self.endpoint.parameters if p.required}
        given = {k: v for k, v in arguments.items() if v is not None or k in required}
        return check_arguments(self.endpoint, given, roots=self.roots(ident), max_bytes=self.max_file_bytes)

    def shape(self, result: Any) -> Any:
        """The remote result in tool form: none → None, one → value, several → dict keyed by output labels."""
        returns = self.endpoint.returns
        if not returns:
            return None
        # A plot drawn as an image is kept as a file of this user's, as downloaded results are.
        folder = user_folder(self.endpoint.space.download_dir, current_identity().session) / "plots"
        if len(returns) == 1:
            return _agent_value(returns[0], result, folder)
        values = result if isinstance(result, tuple) else (result,)
        return {label: _agent_value(r, v, folder)
                for label, r, v in zip(output_labels(returns), returns, values, strict=False)}

    def forward(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if args:
            # A CodeAgent calls a tool the way its signature is shown (`greet("bob", 2)`): positional arguments go
            # to the inputs in their order.
            names = list(self.inputs)
            if len(args) > len(names):
                raise InvalidArguments(f"{self.name} takes {len(names)} argument(s) ({', '.join(names)}), got "
                                       f"{len(args)}", space=self.endpoint.space.name,
                                       api_name=self.endpoint.api_name)
            for name, value in zip(names, args, strict=False):
                if name in kwargs:
                    raise InvalidArguments(f"{self.name}: argument {name!r} given twice (by position and by name)",
                                           space=self.endpoint.space.name, api_name=self.endpoint.api_name,
                                           parameter=name)
                kwargs[name] = value
        if self._context is not None:
            # A run's copy called from a thread smolagents started without the run's context (CodeAgent's code
            # runs under a timeout thread): the caller's identity and trace scope come in with the call.
            return self._context.copy().run(self._forward, kwargs)
        return self._forward(kwargs)

    def in_context(self, context: contextvars.Context) -> SpaceTool:
        """A copy of this tool for one agent run: its calls see `context` (the run's identity and trace scope),
        whatever thread smolagents makes them from. The tool itself, which other users' agents may share, is
        untouched."""
        run_copy = copy.copy(self)
        run_copy._context = context
        return run_copy

    def _forward(self, kwargs: dict[str, Any]) -> Any:
        ident, scope = current_identity(), current_scope()
        arguments = self.vet(kwargs, ident)
        if scope is not None and scope.stopped.is_set():
            raise ComposeError(f"{self.name}: stopped")
        call = scope.new_call() if scope is not None else 0
        report = scope.sink if scope is not None else None
        space = self.endpoint.space.name
        if report:
            report(ToolEvent("start", call, self.name, space, arguments=kwargs))
        started = time.perf_counter()
        with self._limit:
            future = spawn(self._run(arguments, ident, call, report))
            if scope is not None:
                scope.track(future)
            try:
                result = future.result(self.timeout)
            except concurrent.futures.TimeoutError:
                future.cancel()
                error: BaseException = ComposeError(
                    f"{self.name}: no result within {self.timeout:g} s; the call was cancelled")
            except concurrent.futures.CancelledError:
                error = ComposeError(f"{self.name}: cancelled")
            except BaseException as e:
                error = e
            else:
                shaped = self.shape(result)
                if report:
                    report(ToolEvent("end", call, self.name, space, duration=time.perf_counter() - started,
                                     result=shaped))
                return shaped
        if report:
            report(ToolEvent("end", call, self.name, space, duration=time.perf_counter() - started,
                             error=str(error)))
        raise error

    async def _run(self, arguments: dict[str, Any], ident: Identity, call: int,
                   report: Callable[[ToolEvent], None] | None) -> Any:
        def emit(update: Update) -> None:  # runs on compose's I/O loop, like this call
            if report:  # outputs too: a trace shows a generator's output so far
                report(ToolEvent("update", call, self.name, self.endpoint.space.name, update=update))

        return await self.endpoint.run_as(ident, (), arguments, emit)

    def to_dict(self) -> dict[str, Any]:
        """A self-contained tool definition that rebuilds this tool through compose (smolagents' own cannot)."""
        cls = "".join(part.capitalize() for part in self.name.split("_")) + "Tool"
        code = (
            "from typing import Any, Optional\n"
            "from smolagents import Tool\n\n\n"
            f"class {cls}(Tool):\n"
            f"    name = {self.name!r}\n"
            f"    description = {self.description!r}\n"
            f"    inputs = {self.inputs!r}\n"
            f"    output_type = {self.output_type!r}\n"
            "    skip_forward_signature_validation = True\n\n"
            "    def __init__(self, *args, **kwargs):\n"
            "        super().__init__()\n"
            "        import compose\n\n"
            f"        self._tool = compose.Space({self.endpoint.space.name!r}).endpoint(\n"
            f"            {self.endpoint.api_name!r}).tool(name={self.name!r})\n\n"
            "    def forward(self, **kwargs: Any) -> Any:\n"
            "        return self._tool.forward(**kwargs)\n"
        )
        return {"name": self.name, "code": code, "requirements": ["gradio-compose", "smolagents"]}
