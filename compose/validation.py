"""Binding and checking call arguments before anything is sent.

Usage: `values = bind(schema, args, kwargs, space="owner/name")` → one value per parameter, in order.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import InvalidArguments
from .files import FileArg
from .schema import JSON_TYPES, EndpointSchema, Parameter

__all__ = ["bind", "check_value", "validation_failure"]

_PY_NAMES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "array": "list", "object": "dict"}



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
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        value = value.item()  # a numpy scalar (np.int64 from a DataFrame cell, np.float32) as the Python number
    if p.component.lower() == "datetime" and isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if p.is_table:
        value = _dataframe(value, p, fail)
    _check_finite(p, value, fail)
    choices = p.choices
    if choices is not None and "enum" in p.json_schema and p.closed:
        if value not in choices:
            listed = (repr(choices) if len(choices) <= 50 else
                      "[" + ", ".join(map(repr, choices[:50])) + f", … ({len(choices)} in all)]")
            raise fail(f"parameter {p.name!r} must be one of {listed}, got {value!r:.100}", p.name)
        return value
    kind = p.json_schema.get("type")
    if isinstance(kind, str) and kind in JSON_TYPES:
        ok = isinstance(value, JSON_TYPES[kind]) and not (kind in ("integer", "number") and isinstance(value, bool))
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            value, ok = int(value), True  # and still checked against the bounds below
        if not ok:
            expected = p.type_name
            if choices and not p.closed:  # open choices (allow_custom_value): any value of the type, these examples
                expected = f"{_PY_NAMES.get(kind, kind)} (for example {', '.join(map(repr, choices[:5]))})"
            raise fail(f"parameter {p.name!r} expects {expected}, got {type(value).__name__} {value!r:.60}",
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


def _dataframe(value: Any, p: Parameter, fail: Any) -> Any:
    """A Dataframe argument in Gradio's wire form (`{"headers", "data", "metadata"}`), from a pandas DataFrame, a
    list of rows, a list of records (`[{"a": 1, "b": 2}]`, what models often write: their keys are the headers)
    or that form itself (headers taken from the component when left out). Rows whose width does not match the
    headers are refused here: upstream they fail with no detail a caller could act on."""
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        # pandas marks a missing cell NaN, which JSON cannot carry: it goes as null, as Gradio's own page sends it.
        rows = value.astype(object).where(value.notna(), None).values.tolist()
        return {"headers": [str(c) for c in value.columns], "data": rows, "metadata": None}
    headers: list[Any] | None = None
    if isinstance(value, dict) and isinstance(value.get("data"), (list, tuple)):
        headers = list(value["headers"]) if isinstance(value.get("headers"), (list, tuple)) else None
        rows, extra = list(value["data"]), {"metadata": value.get("metadata")}
    elif isinstance(value, (list, tuple)):
        rows, extra = list(value), {"metadata": None}
    else:
        return value
    if rows and all(isinstance(r, dict) for r in rows):
        keys: dict[str, None] = {}
        for record in rows:
            keys.update(dict.fromkeys(str(k) for k in record))
        headers = list(keys)
        rows = [[record.get(k, record.get(_key_of(record, k))) for k in headers] for record in rows]
    if headers is None:
        headers = list(p.component_config.get("headers") or [])
    out: list[list[Any]] = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, (list, tuple)):
            raise fail(f"parameter {p.name!r}: row {i} must be a list of cell values, got {type(row).__name__} "
                       f"{row!r:.60}", p.name)
        if headers and len(row) != len(headers):
            raise fail(f"parameter {p.name!r}: row {i} has {len(row)} value(s) but the table has {len(headers)} "
                       f"column(s) ({', '.join(map(str, headers))})", p.name)
        out.append(list(row))
    if not headers and out:
        headers = [str(n) for n in range(1, len(out[0]) + 1)]  # as Gradio's page numbers unnamed columns
    return {"headers": headers, "data": out, **extra}


def _key_of(record: dict[Any, Any], name: str) -> Any:
    """The record's own key whose text is `name` (a record keyed by numbers)."""
    return next((k for k in record if str(k) == name), name)


def _check_finite(p: Parameter, value: Any, fail: Any) -> None:
    """NaN and infinity have no JSON form: sent, they would arrive as null (orjson) or fail (gradio_client)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise fail(f"parameter {p.name!r} must be a finite number, got {value!r}", p.name)
    elif isinstance(value, dict):
        for v in value.values():
            _check_finite(p, v, fail)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_finite(p, v, fail)


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
