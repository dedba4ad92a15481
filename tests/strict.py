"""OpenAI's strict-mode rules for function parameters, as a checker (from OpenAI's Structured Outputs guide).

Strict mode accepts a subset of JSON Schema: every object lists all its properties in `required` and sets
`additionalProperties: false`; every schema has a `type` (or is an `anyOf` of such, or an `enum`/`const`); arrays
have `items`; objects have `properties`; keywords outside the supported set (such as `default`) are refused.
"""

from __future__ import annotations

from typing import Any

SUPPORTED = {"type", "description", "enum", "const", "anyOf", "properties", "required", "additionalProperties",
             "items", "$defs", "$ref", "title", "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
             "exclusiveMaximum", "multipleOf", "minItems", "maxItems"}
TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}


def strict_problems(schema: Any, where: str = "$") -> list[str]:
    """Every way `schema` breaks a strict-mode rule (empty when OpenAI would accept it)."""
    if not isinstance(schema, dict):
        return [f"{where}: not a schema"]
    problems = [f"{where}: unsupported keyword {k!r}" for k in schema if k not in SUPPORTED]
    if "$ref" in schema:
        return problems
    if "anyOf" in schema:
        for i, option in enumerate(schema["anyOf"]):
            problems += strict_problems(option, f"{where}.anyOf[{i}]")
        return problems
    kinds = schema.get("type")
    if kinds is None:
        if "enum" in schema or "const" in schema:
            return problems
        return [*problems, f"{where}: no type"]
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if not kinds or any(k not in TYPES for k in kinds):
        problems.append(f"{where}: bad type {kinds!r}")
    if "array" in kinds:
        if "items" not in schema:
            problems.append(f"{where}: array without items")
        else:
            problems += strict_problems(schema["items"], f"{where}.items")
    if "object" in kinds:
        props = schema.get("properties")
        if not isinstance(props, dict):
            problems.append(f"{where}: object without properties")
        else:
            if schema.get("additionalProperties") is not False:
                problems.append(f"{where}: additionalProperties is not false")
            if sorted(schema.get("required", [])) != sorted(props):
                problems.append(f"{where}: not every property is required")
            for key, sub in props.items():
                problems += strict_problems(sub, f"{where}.{key}")
    if "enum" in schema and not isinstance(schema["enum"], list):
        problems.append(f"{where}: enum is not a list")
    return problems
