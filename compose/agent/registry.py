"""A registry of Space endpoints as agent tools, exported to smolagents, OpenAI schemas, plain calls and MCP.

Only registered tools are callable: a model can never reach a hidden endpoint, an unregistered Space or URL, or
pass protocol internals such as `session_hash`.

Usage:
    registry = compose.ToolRegistry()
    registry.add(space)                          # every public endpoint
    registry.add(space.endpoint("/translate"), name="translate")
    agent = ToolCallingAgent(tools=registry.tools(), model=model)
    await registry.call("translate", {"text": "Hello"})
"""

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ComposeError, ConfigError, InvalidArguments
from ..files import FILE_META, file_route, is_url, under_roots
from ..outer import serve_locally
from ..schema import output_labels
from .tool_schema import decode_argument, mcp_property, parameter_description, parameters_schema

if TYPE_CHECKING:
    import gradio as gr

    from ..endpoint import Endpoint
    from ..space import Space
    from .tools import SpaceTool

__all__ = ["ToolRegistry"]


@dataclass(frozen=True)
class _Entry:
    endpoint: Endpoint
    name: str
    description: str | None
    options: dict[str, Any]


class ToolRegistry:
    """Named tools over Space endpoints. See the module docstring for usage."""

    def __init__(self, **tool_options: Any) -> None:
        self._entries: dict[str, _Entry] = {}
        self._options = tool_options  # defaults for every tool: timeout, max_concurrency, max_file_bytes

    def add(self, target: Space | Endpoint, *, name: str | None = None, description: str | None = None,
            **options: Any) -> list[str]:
        """Register a whole Space (all public endpoints) or one endpoint; returns the registered names."""
        from ..endpoint import Endpoint
        from .tools import tool_name

        endpoints = [target] if isinstance(target, Endpoint) else list(target.endpoints.values())
        if name is not None and len(endpoints) != 1:
            raise ConfigError("name= applies to a single endpoint; register endpoints one by one to name them")
        names = []
        for ep in endpoints:
            base = name or tool_name(ep)
            unique, n = base, 2
            while unique in self._entries:  # a collision gets a numbered name, never a silent replacement
                unique, n = f"{base}_{n}", n + 1
            self._entries[unique] = _Entry(ep, unique, description, {**self._options, **options})
            names.append(unique)
        return names

    def names(self) -> list[str]:
        return list(self._entries)

    def endpoint(self, name: str) -> Endpoint:
        return self._entry(name).endpoint

    def _entry(self, name: str) -> _Entry:
        if name not in self._entries:
            raise ConfigError(f"no tool named {name!r}; registered tools: {', '.join(self._entries) or 'none'}")
        return self._entries[name]

    def tool(self, name: str) -> SpaceTool:
        """A fresh tool instance for one registered name."""
        from .tools import SpaceTool

        e = self._entry(name)
        return SpaceTool(e.endpoint, name=e.name, description=e.description, **e.options)

    def tools(self) -> list[SpaceTool]:
        """Fresh `smolagents.Tool` instances for every registered tool (give each agent its own list)."""
        return [self.tool(n) for n in self._entries]

    def openai_tools(self, *, strict: bool = False) -> list[dict[str, Any]]:
        """OpenAI function-calling schemas, with the same names as `tools()`.

        `strict=True`: schemas OpenAI's strict mode accepts (every property required, optional ones nullable,
        closed objects); a model's null for an optional parameter means "use the remote default".
        """
        return [openai_schema(t, strict=strict) for t in self.tools()]

    async def call(self, name: str, arguments: dict[str, Any]) -> Any:
        """Call a registered tool with a model's arguments (vetted like the smolagents tool's); for other frameworks."""
        tool = self.tool(name)
        unknown = set(arguments) - set(tool.inputs)
        if unknown:
            raise InvalidArguments(f"unknown argument(s) {sorted(unknown)}; {name} takes {sorted(tool.inputs)}",
                                   space=tool.endpoint.space.name, api_name=tool.endpoint.api_name,
                                   parameter=sorted(unknown)[0])
        params = {p.name: p for p in tool.endpoint.parameters}
        vetted = tool.vet({k: decode_argument(params[k], v) if k in params else v for k, v in arguments.items()})
        result = await asyncio.wait_for(tool.endpoint.call(**vetted), timeout=tool.timeout)
        return tool.shape(result)

    def mcp_blocks(self) -> gr.Blocks:
        """A gr.Blocks exposing every registered tool as an API endpoint; launch with `mcp_server=True` for MCP."""
        import gradio as gr

        with gr.Blocks(title="compose tools") as demo:
            for name in self._entries:
                gr.api(_mcp_function(self, name), api_name=name)  # type: ignore[attr-defined]
        # gr.api derives each parameter's schema from its Python type, which cannot say what `openai_tools()` says:
        # typed enums (a Literal of ints is an untyped enum, which smolagents' MCP client reads as text), open
        # choices, bounds, null for an optional parameter. Each parameter's published schema is compose's own
        # (compose.agent.tool_schema.mcp_property), where gradio can read it (else gradio's stands).
        for block_fn in demo.fns.values():
            if block_fn.api_name in self._entries:
                tool = self.tool(block_fn.api_name)
                params = {p.name: p for p in tool.endpoint.parameters}
                for component, key in zip(block_fn.inputs, _mcp_order(tool), strict=True):
                    published = mcp_property(params[key])
                    if _parsable(published):  # gradio also reads it as a Python type, for its API page
                        # gr.Api reports the schema kept in `_api_info` (a gradio internal, pinned by
                        # tests/test_gradio_contract.py); gradio's MCP server adds the default.
                        component._api_info = published
        return demo  # type: ignore[no-any-return]


def openai_schema(tool: SpaceTool, *, strict: bool = False) -> dict[str, Any]:
    """One tool as an OpenAI function schema: valid JSON Schema for its parameters (with `enum`, `default` and the
    docstring's descriptions); `strict=True` for OpenAI strict mode (see compose.agent.tool_schema)."""
    function: dict[str, Any] = {"name": tool.name, "description": tool.description,
                                "parameters": parameters_schema(tool.endpoint.parameters, strict=strict)}
    if strict:
        function["strict"] = True
    return {"type": "function", "function": function}


# The routes of the app `mcp_blocks()` builds (gradio 6's): where it serves the files it hands an MCP client.
MCP_API_PREFIX = "/gradio_api"


def _mcp_value(value: Any) -> Any:
    """A result as an MCP client should see it: agent types as their file path, everything else as is."""
    return value.to_string() if hasattr(value, "to_string") else value


def _mcp_function(registry: ToolRegistry, name: str) -> Any:
    import gradio as gr  # (only mcp_blocks, which has imported it, gets here)

    tool = registry.tool(name)
    endpoint_params = {p.name: p for p in tool.endpoint.parameters}

    returns = tool.endpoint.returns
    labels = output_labels(returns)

    def ours(value: Any) -> bool:
        """A file result compose downloaded (only such a copy is ever served from here)."""
        return (isinstance(value, str) and not is_url(value) and Path(value).is_file()
                and under_roots(Path(value), (tool.endpoint.space.download_dir,)))

    async def fn(*args: Any, **kwargs: Any) -> Any:
        # gradio (and so its MCP server) calls the function with positional arguments in signature order, so
        # they are bound by the signature below rather than taken as keywords only.
        arguments = dict(fn.__signature__.bind(*args, **kwargs).arguments)  # type: ignore[attr-defined]
        request = arguments.pop("request", None)
        try:
            result = await registry.call(name, dict(arguments))
        except ComposeError as e:
            # A compose error re-raised as gr.Error keeps its message for the MCP client (gradio hides any other
            # exception's text unless the app was launched with show_error=True).
            from ..outer import to_gradio_error

            raise to_gradio_error(e) from e
        if isinstance(result, dict) and len(returns) > 1:
            # Several outputs: a file among them is a path on this host, which means nothing to an MCP client
            # (and names our disk): served by this app, and given as its URL, as gradio's MCP server gives one.
            root = _root_url(request)
            result = {label: (root + file_route(MCP_API_PREFIX, serve_locally(_mcp_value(v)))
                              if ours(_mcp_value(v)) else v)
                      for label, r, v in zip(labels, returns, (result.get(k) for k in labels), strict=False)}
        if isinstance(result, (dict, list)):
            # JSON, not a Python repr, for structured results (gradio's MCP server sends str() of what it gets).
            return json.dumps(_jsonable(result), ensure_ascii=False, default=str)
        value = _mcp_value(result)
        if ours(value):  # a file result, or a plot drawn as an image (compose.agent.tools)
            # A file result (a downloaded copy here): served by this app, and handed back as FileData, which
            # gradio's MCP server sends as the image itself plus its URL (a path on this host means nothing to an
            # MCP client, and names our disk).
            served = serve_locally(value)
            return {"path": served, "url": file_route(MCP_API_PREFIX, served), "orig_name": Path(served).name,
                    "meta": dict(FILE_META)}
        return value

    params = []
    for key in _mcp_order(tool):
        p = endpoint_params[key]
        # The remote's own Python type (a Literal for choices): gradio's MCP server derives the schema from it.
        annotation = str if p.is_file else list[str] if p.file_list else p.annotation
        if p.closed and tool.inputs[key]["type"] == "array":
            annotation = list[Literal[tuple(p.choices)]]  # type: ignore[misc, arg-type]  # items enum
        default = inspect.Parameter.empty if p.required else p.default
        params.append(inspect.Parameter(key, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation,
                                        default=default))
    # gr.api derives the endpoint's outputs from the return annotation: without one the result is dropped.
    result_type: Any = None if tool.output_type == "null" else (
        str if tool.output_type in ("object", "image", "audio") else _PY.get(str(tool.output_type), Any))
    # The MCP request (gradio passes a gr.Request-typed parameter, and leaves it out of the schema): what makes a
    # served file's URL absolute.
    params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request,
                                    default=None))
    fn.__signature__ = inspect.Signature(params, return_annotation=result_type)  # type: ignore[attr-defined]
    fn.__annotations__ = {**{q.name: q.annotation for q in params}, "return": result_type}
    fn.__name__ = name
    args_doc = "\n".join(f"    {k}: {parameter_description(endpoint_params[k])}" for k in tool.inputs)
    fn.__doc__ = f"{tool.description}\n\nArgs:\n{args_doc}" if args_doc else tool.description
    return fn


def _parsable(schema: dict[str, Any]) -> bool:
    from gradio_client.utils import APIInfoParseError, json_schema_to_python_type

    try:
        json_schema_to_python_type(schema)
    except (APIInfoParseError, KeyError, TypeError, ValueError):
        return False
    return True


def _mcp_order(tool: SpaceTool) -> list[str]:
    """The MCP function's parameters: the required ones first, each group in the remote's order. Python's rule (no
    default before a parameter without one) is met so, not by dropping the optional ones' defaults, which made every
    one of them required in the schema. An MCP client sends arguments by name: the order is nobody's business."""
    required = {p.name for p in tool.endpoint.parameters if p.required}
    return sorted(tool.inputs, key=lambda key: key not in required)


def _root_url(request: Any) -> str:
    """This MCP app's own address as the client reached it (empty when unknown: the URL stays relative to it)."""
    inner = getattr(request, "request", None)
    if inner is None:
        return ""
    from gradio import route_utils

    # gradio's own rule (forwarded headers, root_path), as its MCP server makes a file result's URL absolute.
    return str(route_utils.get_root_url(request=inner, route_path=inner.url.path, root_path=None)).rstrip("/")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return _mcp_value(value)


_PY = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict,
       "image": str, "audio": str}
