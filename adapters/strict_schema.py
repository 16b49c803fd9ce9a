"""JSON schemas converted to what the vendors' structured outputs accept, before any network call.

OpenAI strict mode (``response_format``/``text.format`` with ``strict: true``) requires every object to say
``additionalProperties: false`` and to list every property in ``required``; an optional property is expressed
as nullable. Pydantic's ``model_json_schema()`` has neither, so it is converted here (the rules of the openai
SDK's ``to_strict_json_schema``). Bedrock's structured output wants closed objects only
(``to_closed_objects``); every vendor wants an object at the root of a tool's input schema
(``require_object_root``). Anthropic and Gemini conversions use their SDKs' own helpers (in those
adapters). What cannot be converted is an ``InvalidRequest`` saying what to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmport.domain import InvalidRequest

_UNSUPPORTED = ("allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "patternProperties")


def to_openai_strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` that OpenAI's strict mode accepts, or ``InvalidRequest`` naming the path to fix."""
    if schema.get("type") != "object":
        raise InvalidRequest("a strict JSON schema must have an object at its root (\"type\": \"object\"); "
                             "wrap the value in an object property", field="response_format")
    converted: dict[str, Any] = _convert(schema, "#")
    return converted


def require_object_root(schema: Mapping[str, Any], what: str) -> None:
    """``InvalidRequest`` unless ``schema`` has an object at its root (tool input schemas, strict outputs)."""
    if schema.get("type") != "object":
        raise InvalidRequest(f"{what} must have an object at its root (\"type\": \"object\"); wrap the value "
                             "in an object property", field="response_format")


def to_closed_objects(schema: Mapping[str, Any], vendor: str) -> dict[str, Any]:
    """A copy of ``schema`` whose objects all say ``additionalProperties: false`` (required lists kept),
    or ``InvalidRequest`` naming the path of an object that allows extra properties."""
    require_object_root(schema, f"a {vendor} structured output schema")
    closed: dict[str, Any] = _close(schema, "#", vendor)
    return closed


def _close(node: Any, path: str, vendor: str) -> Any:
    if isinstance(node, list):
        return [_close(item, f"{path}/{i}", vendor) for i, item in enumerate(node)]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            out[key] = {name: _close(sub, f"{path}/{key}/{name}", vendor) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "prefixItems"):
            out[key] = _close(value, f"{path}/{key}", vendor)
        else:
            out[key] = value
    if node.get("type") == "object" or "properties" in node:
        if out.get("additionalProperties", False) is not False:
            raise InvalidRequest(f"{vendor} structured output needs additionalProperties: false (at {path}); a "
                                 "free-form mapping is not expressible: use a list of key/value objects",
                                 field="response_format")
        out["additionalProperties"] = False
    return out


def _convert(node: Any, path: str) -> Any:
    if isinstance(node, list):
        return [_convert(item, f"{path}/{i}") for i, item in enumerate(node)]
    if not isinstance(node, Mapping):
        return node
    for keyword in _UNSUPPORTED:
        if keyword in node:
            raise InvalidRequest(f"strict JSON schemas do not support {keyword!r} (at {path}); "
                                 "express it with properties, anyOf or $defs, or send strict=False",
                                 field="response_format")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "default" and value is None:
            continue  # pydantic's `= None` default: expressed by nullability instead
        if key in ("properties", "$defs", "definitions"):
            if not isinstance(value, Mapping):
                raise InvalidRequest(f"{key} must be an object (at {path})", field="response_format")
            out[key] = {name: _convert(sub, f"{path}/{key}/{name}") for name, sub in value.items()}
        elif key in ("items", "anyOf", "prefixItems"):
            out[key] = _convert(value, f"{path}/{key}")
        else:
            out[key] = value
    if node.get("type") == "object" or "properties" in node:
        _close_object(out, path)
    return out


def _close_object(out: dict[str, Any], path: str) -> None:
    extra = out.get("additionalProperties", False)
    if extra is not False:
        raise InvalidRequest(f"strict JSON schemas need additionalProperties: false (at {path}); a free-form "
                             "mapping is not expressible in strict mode: use a list of key/value objects",
                             field="response_format")
    out["additionalProperties"] = False
    properties: dict[str, Any] = out.setdefault("properties", {})
    required = list(out.get("required", []))
    for name in properties:
        if name not in required:
            properties[name] = _nullable(properties[name])
            required.append(name)
    out["required"] = required


def _nullable(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema and "anyOf" not in schema:
        return {**schema, "type": [kind, "null"]} if kind != "null" else schema
    if isinstance(kind, list):
        return schema if "null" in kind else {**schema, "type": [*kind, "null"]}
    if "anyOf" in schema:
        options = list(schema["anyOf"])
        if not any(isinstance(o, Mapping) and o.get("type") == "null" for o in options):
            options.append({"type": "null"})
        return {**schema, "anyOf": options}
    return {"anyOf": [schema, {"type": "null"}]}
