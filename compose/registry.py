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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ComposeError, ConfigError, InvalidArguments

if TYPE_CHECKING:
    import gradio as gr

    from .endpoint import Endpoint
    from .space import Space
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
        from .endpoint import Endpoint
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

    def openai_tools(self) -> list[dict[str, Any]]:
        """OpenAI function-calling schemas, with the same names as `tools()`."""
        return [openai_schema(t) for t in self.tools()]

    async def call(self, name: str, arguments: dict[str, Any]) -> Any:
        """Call a registered tool with a model's arguments (vetted like the smolagents tool's); for other frameworks."""
        tool = self.tool(name)
        unknown = set(arguments) - set(tool.inputs)
        if unknown:
            raise InvalidArguments(f"unknown argument(s) {sorted(unknown)}; {name} takes {sorted(tool.inputs)}",
                                   space=tool.endpoint.space.name, api_name=tool.endpoint.api_name,
                                   parameter=sorted(unknown)[0])
        vetted = tool.vet(arguments)
        result = await asyncio.wait_for(tool.endpoint.call(**vetted), timeout=tool.timeout)
        return tool.shape(result)

    def mcp_blocks(self) -> gr.Blocks:
        """A gr.Blocks exposing every registered tool as an API endpoint; launch with `mcp_server=True` for MCP."""
        import gradio as gr

        with gr.Blocks(title="compose tools") as demo:
            for name in self._entries:
                gr.api(_mcp_function(self, name), api_name=name)  # type: ignore[attr-defined]
        return demo  # type: ignore[no-any-return]


_JSON_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
               "array": "array", "object": "object", "image": "string", "audio": "string"}


def openai_schema(tool: SpaceTool) -> dict[str, Any]:
    """One tool as an OpenAI function schema (valid JSON Schema for its parameters)."""
    properties: dict[str, Any] = {}
    required = []
    params = {p.name: p for p in tool.endpoint.parameters}
    for key, spec in tool.inputs.items():
        prop: dict[str, Any] = {"description": spec["description"]}
        kind = _JSON_TYPES.get(str(spec["type"]))
        if kind:
            prop["type"] = [kind, "null"] if spec.get("nullable") else kind
        choices = params[key].choices if key in params else None
        if choices and not params[key].is_file:
            prop["enum"] = list(choices) + ([None] if spec.get("nullable") else [])
        properties[key] = prop
        if not spec.get("nullable"):
            required.append(key)
    return {"type": "function", "function": {
        "name": tool.name, "description": tool.description,
        "parameters": {"type": "object", "properties": properties, "required": required,
                       "additionalProperties": False}}}


_PY = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict,
       "image": str, "audio": str}


def _mcp_function(registry: ToolRegistry, name: str) -> Any:
    tool = registry.tool(name)

    async def fn(*args: Any, **kwargs: Any) -> Any:
        # gradio (and so its MCP server) calls the function with positional arguments in signature order, so
        # they are bound by the signature below rather than taken as keywords only.
        arguments = fn.__signature__.bind(*args, **kwargs).arguments  # type: ignore[attr-defined]
        try:
            result = await registry.call(name, dict(arguments))
        except ComposeError as e:
            # A compose error re-raised as gr.Error keeps its message for the MCP client (gradio hides any other
            # exception's text unless the app was launched with show_error=True).
            from .handler import to_gradio_error

            raise to_gradio_error(e) from e
        if isinstance(result, dict):
            return {k: (v.to_string() if hasattr(v, "to_string") else v) for k, v in result.items()}
        return result.to_string() if hasattr(result, "to_string") else result

    params = []
    for key, spec in tool.inputs.items():
        annotation = _PY.get(str(spec["type"]), str)
        default = None if spec.get("nullable") else inspect.Parameter.empty
        params.append(inspect.Parameter(key, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation,
                                        default=default))
    params.sort(key=lambda q: q.default is not inspect.Parameter.empty)
    # gr.api derives the endpoint's outputs from the return annotation: without one the result is dropped.
    returns: Any = None if tool.output_type == "null" else _PY.get(str(tool.output_type), Any)
    fn.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    fn.__annotations__ = {**{q.name: q.annotation for q in params}, "return": returns}
    fn.__name__ = name
    args_doc = "\n".join(f"    {k}: {v['description']}" for k, v in tool.inputs.items())
    fn.__doc__ = f"{tool.description}\n\nArgs:\n{args_doc}" if args_doc else tool.description
    return fn
