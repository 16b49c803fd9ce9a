"""Checks shared by the domain constructors: each raises ``InvalidRequest(field=...)``.

A value that constructs must be one every adapter can send: right types, finite numbers in the
range vendors take, text that encodes (no lone surrogates), JSON that serialises and JSON
schemas of a shape every vendor accepts, bounded in depth and size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidRequest

MAX_INT = 2**63 - 1  # the widest integer any vendor parameter takes (int64)
MAX_JSON_DEPTH = 64  # nesting levels of a JSON value or schema
MAX_JSON_NODES = 100_000  # values in one JSON document (schema, tool arguments, metadata)

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("not", "if", "then", "else", "contains", "propertyNames", "unevaluatedItems",
               "unevaluatedProperties")
_JSON_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


def type_name(value: object) -> str:
    return type(value).__name__


def text(value: object, field: str, what: str, *, empty: bool = True) -> str:
    """A string that UTF-8 can encode (a lone surrogate cannot be sent to any vendor)."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{what} must be a string, got {type_name(value)}", field=field)
    if not empty and not value:
        raise InvalidRequest(f"{what} must not be empty", field=field)
    encodable(value, field, what)
    return value


def encodable(value: str, field: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(f"{what} holds a character UTF-8 cannot encode (a lone surrogate at index "
                             f"{exc.start})", field=field) from None


def optional_text(value: object, field: str, what: str, *, empty: bool = True) -> str | None:
    return None if value is None else text(value, field, what, empty=empty)


def flag(value: object, field: str, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(f"{what} must be True or False, got {type_name(value)}", field=field)
    return value


def integer(value: object, field: str, what: str, *, low: int, high: int = MAX_INT) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        shown = repr(value) if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e30 \
            else type_name(value)
        raise InvalidRequest(f"{what} must be an integer in [{low}, {high}], got {shown}", field=field)
    return value


def finite(value: object) -> float | None:
    """``value`` as a finite float, or None when it is not a finite real number (bools excluded)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        return None
    return number if math.isfinite(number) else None


def sequence(value: object, field: str, what: str) -> tuple[Any, ...]:
    """Any iterable but a string, bytes or a mapping, as a tuple."""
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise InvalidRequest(f"{what} must be a list or tuple, got {type_name(value)}", field=field)
    return tuple(value)


def instance(value: object, cls: type, field: str, what: str, hint: str = "") -> None:
    if not isinstance(value, cls):
        raise InvalidRequest(f"{what} must be a {cls.__name__}{hint}, got {type_name(value)}", field=field)


def json_object(value: object, field: str, what: str) -> dict[str, Any]:
    """A JSON object (string keys, finite numbers, encodable text), bounded; returned as a dict."""
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{what} must be a JSON object, got {type_name(value)}", field=field)
    _check_json(value, field, what)
    plain = value if isinstance(value, dict) else dict(value)
    try:  # the walk's types are JSON's; this catches nested mappings that are not dicts
        json.dumps(plain, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{what} are not JSON-serialisable: {exc}", field=field) from None
    return plain


def _check_json(root: object, field: str, what: str) -> None:
    """Iterative walk: depth, size, key types, finite numbers and encodable strings."""
    stack: list[tuple[object, int]] = [(root, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_JSON_NODES:
            raise InvalidRequest(f"{what} hold more than {MAX_JSON_NODES} values", field=field)
        if depth > MAX_JSON_DEPTH:
            raise InvalidRequest(f"{what} are nested deeper than {MAX_JSON_DEPTH} levels", field=field)
        if isinstance(value, str):
            encodable(value, field, what)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int | float):
            if finite(value) is None:
                raise InvalidRequest(f"{what} are not JSON-serialisable: they hold a number that is not finite "
                                     f"or too large ({type_name(value)})", field=field)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidRequest(f"{what} are not JSON-serialisable: a key is a {type_name(key)}, not a "
                                         "string", field=field)
                encodable(key, field, what)
                stack.append((item, depth + 1))
        elif isinstance(value, list | tuple):
            stack.extend((item, depth + 1) for item in value)
        else:
            raise InvalidRequest(f"{what} are not JSON-serialisable: they hold a {type_name(value)}", field=field)


def json_schema(value: object, field: str, what: str) -> dict[str, Any]:
    """A JSON schema object of a shape vendors accept (checked where its keywords have fixed types)."""
    schema = json_object(value, field, what)
    stack: list[tuple[Any, str]] = [(schema, "")]
    while stack:
        node, path = stack.pop()
        where = f"{what}{path or ''}"
        if isinstance(node, bool):
            continue  # true / false are schemas too
        if not isinstance(node, Mapping):
            raise InvalidRequest(f"{where} must be a schema object, got {type_name(node)}", field=field)
        kind = node.get("type")
        if kind is not None:
            kinds = kind if isinstance(kind, list) else [kind]
            if not kinds or any(k not in _JSON_TYPES for k in kinds):
                raise InvalidRequest(f"{where}: 'type' must be one of {', '.join(sorted(_JSON_TYPES))} "
                                     "(or a list of them)", field=field)
        required = node.get("required")
        if required is not None and (not isinstance(required, list) or not all(isinstance(r, str)
                                                                                 for r in required)):
            raise InvalidRequest(f"{where}: 'required' must be a list of property names", field=field)
        enum = node.get("enum")
        if enum is not None and not isinstance(enum, list):
            raise InvalidRequest(f"{where}: 'enum' must be a list", field=field)
        for key in ("description", "title", "format", "pattern", "$ref"):
            if key in node and not isinstance(node[key], str):
                raise InvalidRequest(f"{where}: '{key}' must be a string", field=field)
        for key in _SCHEMA_MAPS:
            if key in node:
                children = node[key]
                if not isinstance(children, Mapping):
                    raise InvalidRequest(f"{where}: '{key}' must be an object of schemas", field=field)
                stack.extend((child, f"{path}.{key}.{name}") for name, child in children.items())
        for key in _SCHEMA_LISTS:
            if key in node:
                children = node[key]
                if not isinstance(children, list) or (key != "prefixItems" and not children):
                    raise InvalidRequest(f"{where}: '{key}' must be a non-empty list of schemas", field=field)
                stack.extend((child, f"{path}.{key}[{i}]") for i, child in enumerate(children))
        for key in _SCHEMA_ONE:
            if key in node:
                stack.append((node[key], f"{path}.{key}"))
        if "items" in node:
            items = node["items"]
            children = items if isinstance(items, list) else [items]
            stack.extend((child, f"{path}.items") for child in children)
        extra = node.get("additionalProperties")
        if extra is not None:
            stack.append((extra, f"{path}.additionalProperties"))
    return schema
