"""Structured output in the emulator: the schema rules each vendor enforces (a request breaking them
is answered with the vendor's 400, so the contract suite catches a wrong conversion) and answers
shaped like the requested schema (the default reply when nothing is scripted).

The rules are written from the vendors' documented limits, independently of the adapters'
converters: OpenAI strict mode, Anthropic structured outputs (the keywords its SDK's
``transform_schema`` keeps), Gemini's OpenAPI ``responseSchema`` (the fields of the SDK's ``Schema``
type), and an object at the root of every tool's input schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_OPENAI_STRICT_UNSUPPORTED = ("allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas",
                              "patternProperties")
_ANTHROPIC_KEYWORDS = frozenset({"$defs", "$ref", "type", "anyOf", "allOf", "enum", "const", "description",
                                 "title", "properties", "additionalProperties", "required", "format", "items",
                                 "minItems"})
_ANTHROPIC_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6",
                                "uuid"})
_GEMINI_FIELDS = frozenset({"additionalProperties", "anyOf", "default", "description", "enum", "example", "format",
                            "items", "maxItems", "maxLength", "maxProperties", "maximum", "minItems", "minLength",
                            "minProperties", "minimum", "nullable", "pattern", "properties", "propertyOrdering",
                            "required", "title", "type"})
# protobuf's JSON form takes the original (snake_case) field names too, and the SDK sends some of them
_GEMINI_FIELDS |= {re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower() for name in _GEMINI_FIELDS}
_GEMINI_TYPES = frozenset({"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"})
_MAX_DEPTH = 6


def _nodes(node: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every sub-schema with its path (``properties.a.items``), the root first."""
    if not isinstance(node, Mapping):
        return
    yield path or "(root)", node
    for key in ("properties", "$defs", "definitions"):
        children = node.get(key)
        if isinstance(children, Mapping):
            for name, child in children.items():
                yield from _nodes(child, f"{path}.{key}.{name}".lstrip("."))
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        options = node.get(key)
        if isinstance(options, list):
            for i, child in enumerate(options):
                yield from _nodes(child, f"{path}.{key}.{i}".lstrip("."))
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), Mapping):
            yield from _nodes(node[key], f"{path}.{key}".lstrip("."))


def _is_structured_object(node: Mapping[str, Any]) -> bool:
    """An object schema that lists its properties (a bare ``{"type": "object"}``, free-form JSON
    output, is left to the vendor: its rules for it are not documented)."""
    return "properties" in node


def _is_object(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node


def openai_strict_problem(schema: Any, where: str) -> str | None:
    """Why OpenAI's strict mode rejects ``schema`` (its own wording), or None."""
    if not isinstance(schema, Mapping) or schema.get("type") != "object" or "anyOf" in schema:
        return f"Invalid schema for {where}: schema must be a JSON Schema of 'type: \"object\"', got 'type: " \
               f"\"{schema.get('type') if isinstance(schema, Mapping) else None}\"'."
    for found, node in _nodes(schema):
        path = "" if found == "(root)" else found
        for keyword in _OPENAI_STRICT_UNSUPPORTED:
            if keyword in node:
                return f"Invalid schema for {where}: In context=({path}), '{keyword}' is not permitted."
        if _is_object(node):
            if node.get("additionalProperties") is not False:
                return (f"Invalid schema for {where}: In context=({path}), 'additionalProperties' is required to "
                        "be supplied and to be false.")
            missing = [k for k in (node.get("properties") or {}) if k not in (node.get("required") or ())]
            if missing:
                return (f"Invalid schema for {where}: In context=({path}), 'required' is required to be supplied "
                        f"and to be an array including every key in properties. Missing '{missing[0]}'.")
    return None


def anthropic_output_problem(schema: Any) -> str | None:
    """Why Anthropic's structured outputs (``output_config.format``) reject ``schema``, or None."""
    if not isinstance(schema, Mapping):
        return "output_config.format.schema: Input should be an object"
    for path, node in _nodes(schema):
        unknown = sorted(k for k in node if k not in _ANTHROPIC_KEYWORDS)
        if unknown:
            return f"output_config.format.schema: {path}: the keyword '{unknown[0]}' is not supported"
        if _is_structured_object(node) and node.get("additionalProperties") is not False:
            return f"output_config.format.schema: {path}: objects must set additionalProperties to false"
        if node.get("minItems") not in (None, 0, 1):
            return f"output_config.format.schema: {path}: minItems values other than 0 or 1 are not supported"
        if "format" in node and node["format"] not in _ANTHROPIC_FORMATS:
            return f"output_config.format.schema: {path}: the string format '{node['format']}' is not supported"
    return None


def tool_input_problem(schema: Any, where: str) -> str | None:
    """Every vendor wants an object at the root of a tool's input schema."""
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        return f"{where}: the input schema must have \"type\": \"object\" at its root"
    return None


def closed_objects_problem(schema: Any, where: str) -> str | None:
    """Bedrock's structured output: an object root, every object with additionalProperties false."""
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        return f"{where}: the JSON schema must have \"type\": \"object\" at its root"
    for path, node in _nodes(schema):
        if _is_structured_object(node) and node.get("additionalProperties") is not False:
            return f"{where}: {path}: objects must set additionalProperties to false"
    return None


def gemini_schema_problem(schema: Any, vertex: bool) -> str | None:
    """Why Gemini rejects ``responseSchema`` (an OpenAPI Schema object), or None."""
    if not isinstance(schema, Mapping):
        return "Invalid JSON payload received. Unknown name \"responseSchema\": Proto field is not repeating."
    for path, node in _gemini_nodes(schema, "response_schema"):
        for key in node:
            if key not in _GEMINI_FIELDS:
                return (f"Invalid JSON payload received. Unknown name \"{key}\" at "
                        f"'generation_config.{path}': Cannot find field.")
        kind = node.get("type")
        if kind is not None and (not isinstance(kind, str) or kind.upper() not in _GEMINI_TYPES):
            return (f"Invalid value at 'generation_config.{path}.type' ({kind!r}): the type must be one of "
                    "STRING, NUMBER, INTEGER, BOOLEAN, ARRAY, OBJECT")
        if ("additionalProperties" in node or "additional_properties" in node) and not vertex:
            return f"additionalProperties is not supported in the Gemini API (at generation_config.{path})."
    return None


def _gemini_nodes(node: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not isinstance(node, Mapping):
        return
    yield path, node
    properties = node.get("properties")
    if isinstance(properties, Mapping):
        for name, child in properties.items():
            yield from _gemini_nodes(child, f"{path}.properties[{name}].value")
    if isinstance(node.get("items"), Mapping):
        yield from _gemini_nodes(node["items"], f"{path}.items")
    options = node.get("anyOf", node.get("any_of"))
    if isinstance(options, list):
        for i, child in enumerate(options):
            yield from _gemini_nodes(child, f"{path}.any_of[{i}]")


def sample(schema: Any) -> Any:
    """A deterministic value that matches ``schema`` (JSON Schema or Gemini's OpenAPI subset)."""
    return _sample(schema, schema if isinstance(schema, Mapping) else {}, 0)


_STRING_FORMATS = {"date-time": "2026-01-01T00:00:00Z", "date": "2026-01-01", "time": "12:00:00",
                   "email": "someone@example.com", "uri": "https://example.com/", "uuid":
                   "00000000-0000-4000-8000-000000000000", "ipv4": "192.0.2.1", "ipv6": "2001:db8::1",
                   "hostname": "example.com", "duration": "P1D"}


def _sample(node: Any, root: Mapping[str, Any], depth: int) -> Any:
    if not isinstance(node, Mapping):
        return None
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = _resolve(ref, root)
        return _sample(target, root, depth + 1) if target is not None and depth < _MAX_DEPTH else None
    if "const" in node:
        return node["const"]
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if not (isinstance(o, Mapping) and o.get("type") in ("null", "NULL"))]
            return _sample((usable or options)[0], root, depth)
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    kind = kind.lower() if isinstance(kind, str) else ("object" if "properties" in node else None)
    if kind == "object":
        found = node.get("properties")
        properties: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        required = node.get("required") or ()
        return {name: _sample(sub, root, depth + 1) for name, sub in properties.items()
                if depth < _MAX_DEPTH or name in required}
    if kind == "array" and isinstance(node.get("prefixItems"), list):
        return [_sample(item, root, depth + 1) for item in node["prefixItems"]]
    if kind == "array":
        least = node.get("minItems")
        count = least if isinstance(least, int) else 1
        return [_sample(node.get("items"), root, depth + 1) for _ in range(min(max(count, 1), 3))] \
            if depth < _MAX_DEPTH or count else []
    if kind == "string":
        text = _STRING_FORMATS.get(str(node.get("format")), "text")
        length = node.get("minLength")
        return text.ljust(length, "x") if isinstance(length, int) else text
    if kind == "integer":
        low = node.get("minimum")
        return low if isinstance(low, int) else 1
    if kind == "number":
        low = node.get("minimum")
        return low if isinstance(low, (int, float)) else 1.5
    if kind == "boolean":
        return True
    return None


def _resolve(ref: str, root: Mapping[str, Any]) -> Any:
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node
