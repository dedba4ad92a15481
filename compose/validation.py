"""Binding and checking call arguments before anything is sent.

Usage: `values = bind(schema, args, kwargs, space="owner/name")` → one value per parameter, in order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import InvalidArguments
from .files import FileArg
from .schema import JSON_TYPES, EndpointSchema, Parameter

__all__ = ["bind", "check_value", "validation_failure"]



def bind(schema: EndpointSchema, args: Sequence[Any], kwargs: Mapping[str, Any], *, space: str) -> list[Any]:
    """Match positional and keyword arguments to the remote parameters, apply remote defaults, check types."""

    def fail(message: str, parameter: str | None = None) -> InvalidArguments:
        return InvalidArguments(message, space=space, api_name=schema.api_name, parameter=parameter)

    params = schema.parameters
    if len(args) > len(params):
        message = (f"takes {len(params)} argument(s) ({', '.join(p.name for p in params) or 'none'}), "
                   f"got {len(args)}")
        # No parameter takes the extra ones: the problem is named by the first extra argument's position.
        raise InvalidArguments(message, space=space, api_name=schema.api_name,
                               problems=[(f"argument {len(params) + 1}", message)])
    names = [p.name for p in params]
    for key in kwargs:
        if key not in names:
            raise fail(f"unknown parameter {key!r}; parameters are: {', '.join(names) or 'none'}", key)
    values: list[Any] = []
    for i, p in enumerate(params):
        if i < len(args):
            if p.name in kwargs:
                raise fail(f"parameter {p.name!r} given twice (positionally and by name)", p.name)
            value = args[i]
        elif p.name in kwargs:
            value = kwargs[p.name]
        elif not p.required:
            value = p.default
        else:
            raise fail(f"missing required parameter {p.name!r} ({p.type_name})", p.name)
        values.append(check_value(p, value, fail))
    return values


def check_value(p: Parameter, value: Any, fail: Any) -> Any:
    """Convert friendly Python values to the wire form and reject what the remote would not accept."""
    if value is None or isinstance(value, FileArg):
        return value
    if p.is_file:
        if isinstance(value, (str, dict)):
            return value  # the file policy (files.py) decides what a string or FileData dict may do
        raise fail(f"parameter {p.name!r} expects a file (compose.file(path_or_url)), got {type(value).__name__}",
                   p.name)
    if p.component.lower() == "datetime" and isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if p.component.lower() == "dataframe":
        value = _dataframe(value, p)
    choices = p.choices
    if choices is not None and "enum" in p.json_schema and p.closed:
        if value not in choices:
            raise fail(f"parameter {p.name!r} must be one of {choices}, got {value!r}", p.name)
        return value
    kind = p.json_schema.get("type")
    if isinstance(kind, str) and kind in JSON_TYPES:
        ok = isinstance(value, JSON_TYPES[kind]) and not (kind in ("integer", "number") and isinstance(value, bool))
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            value, ok = int(value), True  # and still checked against the bounds below
        if not ok:
            raise fail(f"parameter {p.name!r} expects {p.type_name}, got {type(value).__name__} {value!r:.60}",
                       p.name)
        if kind in ("integer", "number"):
            _check_bounds(p, value, fail)
    return value


def _check_bounds(p: Parameter, value: float, fail: Any) -> None:
    # A Slider (or a bounded Number) refuses out-of-range values upstream with a gr.Error; check here, so the call is
    # refused before anything is sent, as the other argument errors are.
    low, high = p.component_config.get("minimum"), p.component_config.get("maximum")
    if (isinstance(low, (int, float)) and value < low) or (isinstance(high, (int, float)) and value > high):
        raise fail(f"parameter {p.name!r} must be between {low} and {high}, got {value!r}", p.name)


def _dataframe(value: Any, p: Parameter) -> Any:
    """Accept a pandas DataFrame or a list of rows for a Dataframe parameter."""
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return {"headers": [str(c) for c in value.columns], "data": value.values.tolist(), "metadata": None}
    if isinstance(value, (list, tuple)):
        headers = p.component_config.get("headers") or []
        return {"headers": list(headers), "data": [list(r) for r in value], "metadata": None}
    return value


def validation_failure(detail: Any, schema: EndpointSchema, *, space: str) -> InvalidArguments | None:
    """The remote validators' verdict (a 422 whose detail lists `{"__type__": "validate", ...}` per input) as
    InvalidArguments naming each failed parameter, worded as gradio_client words it; None for any other detail."""
    if not isinstance(detail, list) or not any(isinstance(d, dict) and d.get("__type__") == "validate"
                                               for d in detail):
        return None
    problems: list[tuple[str, str]] = []
    for index, item in enumerate(detail):
        if isinstance(item, dict) and item.get("__type__") == "validate" and item.get("is_valid") is False:
            name = item.get("parameter_name") or (schema.parameters[index].name if index < len(schema.parameters)
                                                  else f"parameter_{index}")
            problems.append((str(name), str(item.get("message") or "")))
    lines = [f"{len(problems)} parameter(s) failed validation:", *(f"- {n}: {m}" for n, m in problems)]
    return InvalidArguments("\n".join(lines), space=space, api_name=schema.api_name,
                            parameter=problems[0][0] if problems else None, problems=problems)
