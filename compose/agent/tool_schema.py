"""JSON Schemas for a tool's parameters: plain (valid Draft 2020-12) and OpenAI strict mode.

Built from the remote's own schema of each parameter (gradio's API info), with `enum` for choices, `default` for
optional parameters, the parameter's docstring line as its description, and bounds for sliders. Strict mode
(OpenAI Structured Outputs) accepts a subset: every property required (optional ones nullable), every object closed
(`additionalProperties: false`) and with `properties`, every array with `items`, every schema typed, no `default`.
What strict mode cannot express (a free-form dict) is asked for as a JSON-encoded string, which `decode_argument`
turns back into the value.

Usage:
    parameters = parameters_schema(ep.parameters, strict=True)
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ..schema import Parameter, json_type_of

__all__ = ["decode_argument", "mcp_property", "parameter_description", "parameters_schema"]

_KEEP = {"type", "description", "enum", "const", "anyOf", "properties", "required", "additionalProperties", "items",
         "minimum", "maximum", "format", "pattern", "minItems", "maxItems", "title"}
_JSON_STRING = "a JSON-encoded value"
_SCALARS = [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
# OpenAI strict mode's limits on one enum: values, and characters of all of them once there are more than 250.
_STRICT_ENUM_MAX = 1000
_STRICT_ENUM_CHARS = 15000


# Gradio's own words on a value's form that say nothing a schema does not ("any valid json").
_NO_HINT = {"any valid json", ""}


def parameter_description(p: Parameter) -> str:
    """What a model reads about one parameter: its docstring line (or label), the form Gradio says its value takes
    ("Formatted as YYYY-MM-DD HH:MM:SS"), and for files and tables how to pass one."""
    text = p.description or p.label or p.name
    hint = p.json_schema.get("description")
    if (isinstance(hint, str) and hint.strip().lower() not in _NO_HINT and not p.is_file
            and p.json_schema.get("type") not in ("number", "integer")):  # a number's range is its bounds
        text += f" ({hint.strip()})"
    if p.is_editor:
        text += (" (an object: `background`, the image to edit; `layers`, a list of images drawn over it; "
                 "`composite`, the edited image; each a public http(s) URL or the path of a file you received. "
                 "Or only the image to edit)")
    if p.is_table:
        columns = p.component_config.get("headers") or []
        text += (' (a table: {"headers": [column names], "data": [rows, each a list of cell values]}, or just '
                 "the list of rows" + (f"; its columns: {', '.join(map(str, columns))}" if columns else "") + ")")
    if p.choice_labels:
        text += " (" + ", ".join(f"{json.dumps(label)} is {value}" for value, label in p.choice_labels.items()) + ")"
    if p.is_file:
        text += " (a public http(s) URL of the file, or the path of a file you received)"
    elif p.file_list:
        text += " (a list of files: each a public http(s) URL, or the path of a file you received)"
    elif p.message_with_files:
        text += (" (an object: `text`, and `files`, a list of files, each a public http(s) URL or the path of a "
                 "file you received)")
    return text


def _resolve(schema: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """Inline local `$ref`s (gradio's file schemas use $defs), bounded against cycles."""
    if isinstance(schema, list):
        return [_resolve(s, defs, depth) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema and depth < 8:
        target = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return _resolve({**target, **rest}, defs, depth + 1)
    return {k: (_resolve(v, defs, depth) if k not in ("enum", "const") else v) for k, v in schema.items()
            if k != "$defs"}


_CELL = {"anyOf": _SCALARS}


def _table_schema(strict: bool) -> dict[str, Any]:
    """A Dataframe's value: `{"headers", "data"}` or only its rows (and, where a schema can say it, a list of
    records). Gradio's own schema requires headers and adds a metadata object no model should have to write."""
    row = {"type": "array", "items": _CELL}
    table = {"type": "object", "properties": {"headers": {"type": "array", "items": {"type": "string"}},
                                               "data": {"type": "array", "items": row}}, "required": ["data"]}
    rows: dict[str, Any] = {"type": "array", "items": row if strict else {"anyOf": [row, {"type": "object"}]}}
    return {"anyOf": [table, rows]}


def _value_schema(p: Parameter, *, strict: bool = False) -> dict[str, Any]:
    """The parameter's value schema: a file is a string (URL or path); choices an enum; else gradio's schema."""
    if p.is_table:
        return _table_schema(strict)
    if p.is_editor:
        image = {"type": "string"}
        return {"type": "object", "properties": {"background": image, "layers": {"type": "array", "items": image},
                                                 "composite": image}, "required": ["background"]}
    if p.is_file:
        return {"type": "string"}
    if p.file_list:
        return {"type": "array", "items": {"type": "string"}}
    if p.message_with_files:
        return {"type": "object", "properties": {"text": {"type": "string"},
                                                 "files": {"type": "array", "items": {"type": "string"}}},
                "required": ["text"]}
    schema = _resolve(copy.deepcopy(p.json_schema), p.json_schema.get("$defs", {}))
    if p.closed and p.choices:
        # Typed: an untyped enum of numbers reads as text to some clients (smolagents' MCP adapter).
        values = list(p.choices)
        if schema.get("type") == "array":
            return {"type": "array", "items": {"type": _enum_type(values), "enum": values}}
        return {"type": _enum_type(values), "enum": values}
    if p.choices and not p.closed:
        schema.pop("enum", None)  # a Dropdown with allow_custom_value takes any text: the choices are examples
    lo, hi = p.component_config.get("minimum"), p.component_config.get("maximum")
    if schema.get("type") in ("number", "integer"):
        if isinstance(lo, (int, float)):
            schema["minimum"] = lo
        if isinstance(hi, (int, float)):
            schema["maximum"] = hi
    return dict(schema)


def _plain(schema: Any) -> Any:
    """Gradio's schema reduced to standard keywords (drops gradio's own, such as additional_description)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _KEEP or (key == "type" and not isinstance(value, (str, list))):
            continue  # gradio's own keywords; and `"type": {}` (gr.JSON's: any value), which is no JSON Schema
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: _plain(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _plain(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [_plain(v) for v in value]
        else:
            out[key] = value
    return out


def _strict(schema: Any) -> dict[str, Any]:
    """One schema made strict-compatible (see the module docstring)."""
    if not isinstance(schema, dict):
        return {"type": "string", "description": _JSON_STRING}
    base = {k: schema[k] for k in ("description", "title") if k in schema}
    if "anyOf" in schema:
        options = [_strict(o) for o in schema["anyOf"] if isinstance(o, dict)]
        return {**base, "anyOf": options} if options else {**base, "type": "string", "description": _JSON_STRING}
    if "enum" in schema or "const" in schema:
        values = schema["enum"] if "enum" in schema else [schema["const"]]
        if _too_many(values):
            # Past strict mode's limits the tool would be refused whole: the value is asked for as its type (the
            # call still checks it; the parameter's description names some of the choices).
            return {**base, "type": _enum_type(values)}
        return {**base, "type": _enum_type(values), **{k: schema[k] for k in ("enum", "const") if k in schema}}
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if not kinds:
        return {**base, "type": "string", "description": _described(base, "as a JSON-encoded value")}
    out: dict[str, Any] = {**base, "type": kind}
    for key in ("minimum", "maximum", "format", "pattern", "minItems", "maxItems"):
        if key in schema:
            out[key] = schema[key]
    if "array" in kinds:
        items = schema.get("items")
        if isinstance(items, list):  # a tuple schema (prefixItems-like): any of its item schemas
            items = {"anyOf": items}
        out["items"] = _strict(items) if isinstance(items, dict) and items else {"anyOf": _SCALARS}
    if "object" in kinds:
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            return {**base, "type": "string", "description": _described(base, "as a JSON-encoded object")}
        required = set(schema.get("required", []))
        out["properties"] = {k: (_strict(v) if k in required else _nullable(_strict(v))) for k, v in props.items()}
        out["required"] = list(props)
        out["additionalProperties"] = False
    return out


def _too_many(values: list[Any]) -> bool:
    """More choices than OpenAI strict mode takes in one enum (1,000; or 15,000 characters once past 250)."""
    return len(values) > _STRICT_ENUM_MAX or (len(values) > 250
                                             and len(json.dumps(values, default=str)) > _STRICT_ENUM_CHARS)


def _enum_type(values: list[Any]) -> str | list[str]:
    kinds = sorted({json_type_of(v) for v in values})
    if "integer" in kinds and "number" in kinds:
        kinds.remove("integer")
    return kinds[0] if len(kinds) == 1 else kinds


def _described(base: dict[str, Any], note: str) -> str:
    text = str(base.get("description") or "").strip()
    return f"{text} ({note})" if text else note


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if "enum" in schema:
        schema = {**schema, "enum": [*schema["enum"], *([] if None in schema["enum"] else [None])]}
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    if isinstance(kind, list):
        return schema if "null" in kind else {**schema, "type": [*kind, "null"]}
    if "enum" in schema:
        return schema
    if "anyOf" in schema:
        options = schema["anyOf"]
        has_null = any(o.get("type") == "null" for o in options)
        return schema if has_null else {**schema, "anyOf": [*options, {"type": "null"}]}
    return {"anyOf": [schema, {"type": "null"}]}


def parameters_schema(parameters: tuple[Parameter, ...], *, strict: bool = False) -> dict[str, Any]:
    """The `parameters` object of an OpenAI function (and an MCP tool's inputSchema) for these parameters."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for p in parameters:
        value = _value_schema(p, strict=strict)
        description = parameter_description(p)
        if strict:
            prop = _strict(value)
            if not p.required:
                prop = _nullable(prop)
                default = json.dumps(p.default, default=str)
                description += f" (optional, default {default})"
            encoded = prop.get("type") in ("string", ["string", "null"]) and "JSON-encoded" in str(
                prop.get("description", ""))
            if p.choices and p.closed and _too_many(list(p.choices)):
                shown = ", ".join(json.dumps(v, default=str) for v in list(p.choices)[:20])
                description += f" (one of {len(p.choices)} values, such as {shown}, …)"
            prop["description"] = description + (f" ({_JSON_STRING})" if encoded else "")
            required.append(p.name)
        else:
            prop = _plain(value)
            prop["description"] = description
            if p.required:
                required.append(p.name)
            else:
                prop = _nullable(prop)
                prop["default"] = p.default
        properties[p.name] = prop
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def mcp_property(p: Parameter) -> dict[str, Any]:
    """One parameter's schema as compose's MCP server publishes it: the plain schema, in the forms three readers
    accept at once. The MCP SDK validates arguments with it (null for an optional parameter must be valid: `anyOf`
    with null); gradio turns it into a Python type for its API page (no lists of types); smolagents' MCP client
    (mcpadapt) types an input without `type` as a string and makes an input optional only if `nullable`. So an
    optional text is `anyOf` [text, null] (choices: an untyped enum with null in it); an optional number or list
    keeps its `type` (leave it out rather than send null); a table is its object form."""
    prop: dict[str, Any] = dict(_plain(_table_schema(True)["anyOf"][0] if p.is_table else _value_schema(p)))
    prop["description"] = parameter_description(p)
    if p.required:
        return prop
    prop["nullable"] = True
    if prop.get("type") == "string" and "enum" in prop:
        # Choices stay a top-level enum (what a client shows its model), null one of them; untyped, so null is
        # valid, and mcpadapt's "string" for it is right.
        del prop["type"]
        prop["enum"] = [*prop["enum"], None]
    elif prop.get("type") == "string":
        shared = {k: prop.pop(k) for k in ("description", "nullable")}
        return {**shared, "anyOf": [prop, {"type": "null"}]}
    return prop


def decode_argument(p: Parameter, value: Any) -> Any:
    """A strict-mode JSON-encoded argument back to its value (any other argument passes as given).

    Only an encoded object or array: strict mode asks for those as strings, while a plain schema takes any value
    there, so "123" or "true" given for a free-form parameter is the text a model meant, as `ep.tool()` sends it.
    """
    if (not isinstance(value, str) or p.is_file or p.json_schema.get("type") == "string" or p.closed
            or value.lstrip()[:1] not in ("{", "[")):
        return value
    schema = _strict(_value_schema(p, strict=True))
    if schema.get("type") != "string":
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
