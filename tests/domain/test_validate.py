"""The shared constructor checks (``llmport.domain._validate``), rule by rule."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import pytest

from llmport.domain import InvalidRequest
from llmport.domain import _validate as check


def refused(call: Any, *args: Any, **kwargs: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        call(*args, **kwargs)
    assert info.value.field == "f"
    return info.value


def test_text() -> None:
    assert check.text("ok", "f", "w") == "ok"
    assert check.text("", "f", "w") == ""
    assert "w must be a string, got int" in str(refused(check.text, 5, "f", "w"))
    assert "must not be empty" in str(refused(check.text, "", "f", "w", empty=False))
    assert "lone surrogate at index 1" in str(refused(check.text, "a\ud800b", "f", "w"))
    assert check.optional_text(None, "f", "w") is None
    assert check.optional_text("x", "f", "w", empty=False) == "x"
    refused(check.optional_text, "", "f", "w", empty=False)
    refused(check.optional_text, 1, "f", "w")


def test_flag_integer_finite() -> None:
    assert check.flag(False, "f", "w") is False
    assert "True or False, got int" in str(refused(check.flag, 0, "f", "w"))
    assert check.integer(5, "f", "w", low=5, high=5) == 5
    assert "in [1, 3], got 4" in str(refused(check.integer, 4, "f", "w", low=1, high=3))
    assert "got 0" in str(refused(check.integer, 0, "f", "w", low=1))
    assert "got bool" in str(refused(check.integer, True, "f", "w", low=0))
    assert "got float" in str(refused(check.integer, 10.0**40, "f", "w", low=0))
    assert "got 1.5" in str(refused(check.integer, 1.5, "f", "w", low=0))
    assert "got int" in str(refused(check.integer, 10**400, "f", "w", low=0))  # shown by type, not 400 digits
    assert "got str" in str(refused(check.integer, "100", "f", "w", low=0))
    assert check.integer(check.MAX_INT, "f", "w", low=0) == check.MAX_INT
    refused(check.integer, check.MAX_INT + 1, "f", "w", low=0)
    assert check.finite(3) == 3.0 and check.finite(-2.5) == -2.5
    for value in (math.nan, math.inf, -math.inf, 10**400, True, "1", None):
        assert check.finite(value) is None


def test_sequence_and_instance() -> None:
    assert check.sequence([1, 2], "f", "w") == (1, 2)
    assert check.sequence(iter("ab"), "f", "w") == ("a", "b")
    for value in ("ab", b"ab", bytearray(b"a"), {"a": 1}, None, 5):
        assert "must be a list or tuple" in str(refused(check.sequence, value, "f", "w"))
    check.instance(3, int, "f", "w")
    assert "w must be a int (hint), got str" in str(refused(check.instance, "3", int, "f", "w", " (hint)"))


def test_json_objects() -> None:
    value = {"a": [1, 2.5, None, True, "x", {"b": []}]}
    assert check.json_object(value, "f", "w") is value
    assert check.json_object(MappingProxyType({"a": 1}), "f", "w") == {"a": 1}  # a plain dict comes back
    assert "must be a JSON object, got list" in str(refused(check.json_object, [], "f", "w"))
    assert "a key is a int" in str(refused(check.json_object, {1: "a"}, "f", "w"))
    assert "lone surrogate" in str(refused(check.json_object, {"a\udc00": 1}, "f", "w"))
    assert "lone surrogate" in str(refused(check.json_object, {"a": ["\udc00"]}, "f", "w"))
    assert "not finite or too large" in str(refused(check.json_object, {"a": math.nan}, "f", "w"))
    assert "not finite or too large" in str(refused(check.json_object, {"a": [10**400]}, "f", "w"))
    assert "they hold a set" in str(refused(check.json_object, {"a": {1}}, "f", "w"))
    assert "they hold a bytes" in str(refused(check.json_object, {"a": (b"x",)}, "f", "w"))
    # a nested mapping JSON cannot write (only the walk's types are plain JSON)
    assert "not JSON-serialisable" in str(refused(check.json_object, {"a": MappingProxyType({})}, "f", "w"))


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def test_json_bounds() -> None:
    check.json_object(_nested(check.MAX_JSON_DEPTH), "f", "w")
    assert f"deeper than {check.MAX_JSON_DEPTH}" in str(
        refused(check.json_object, _nested(check.MAX_JSON_DEPTH + 1), "f", "w"))
    check.json_object({"a": list(range(check.MAX_JSON_NODES - 2))}, "f", "w")  # root + list + items
    assert f"more than {check.MAX_JSON_NODES}" in str(
        refused(check.json_object, {"a": list(range(check.MAX_JSON_NODES - 1))}, "f", "w"))
    loop: dict[str, Any] = {}
    loop["self"] = loop
    refused(check.json_object, loop, "f", "w")


GOOD_SCHEMAS: list[Any] = [
    {"type": "object", "properties": {"a": {"type": ["string", "null"], "description": "d", "enum": ["x"]}},
     "required": ["a"], "additionalProperties": False},
    {"type": "array", "items": {"type": "string"}, "prefixItems": []},
    {"type": "array", "items": [{"type": "string"}, True]},
    {"anyOf": [{"type": "string"}], "$defs": {"n": {"type": "number", "title": "t", "format": "f"}},
     "not": {"type": "null"}, "if": True, "then": False, "else": {"pattern": "^x"}, "$ref": "#/$defs/n"},
    {"type": "object", "patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": {"type": "string"},
     "propertyNames": {"pattern": "^[a-z]"}},
]

BAD_SCHEMAS: list[tuple[Any, str]] = [
    ({"type": "bogus"}, "'type' must be one of"),
    ({"type": []}, "'type' must be one of"),
    ({"type": ["string", 5]}, "'type' must be one of"),
    ({"required": 5}, "'required' must be a list"),
    ({"required": ["a", 1]}, "'required' must be a list"),
    ({"enum": "a"}, "'enum' must be a list"),
    ({"description": 5}, "'description' must be a string"),
    ({"title": []}, "'title' must be a string"),
    ({"$ref": 1}, "'$ref' must be a string"),
    ({"properties": "notadict"}, "'properties' must be an object of schemas"),
    ({"properties": {"a": 5}}, "w.properties.a must be a schema object, got int"),
    ({"$defs": {"a": {"type": "nope"}}}, "w.$defs.a: 'type'"),
    ({"anyOf": []}, "'anyOf' must be a non-empty list"),
    ({"oneOf": {"type": "string"}}, "'oneOf' must be a non-empty list"),
    ({"allOf": [{"type": "x"}]}, "w.allOf[0]: 'type'"),
    ({"prefixItems": {}}, "'prefixItems' must be a non-empty list"),
    ({"prefixItems": [5]}, "w.prefixItems[0] must be a schema object"),
    ({"not": 5}, "w.not must be a schema object"),
    ({"items": 5}, "w.items must be a schema object"),
    ({"items": [{"type": "string"}, 5]}, "w.items must be a schema object"),
    ({"additionalProperties": 5}, "w.additionalProperties must be a schema object"),
    ({"additionalProperties": {"type": "x"}}, "w.additionalProperties: 'type'"),
]


@pytest.mark.parametrize("schema", GOOD_SCHEMAS)
def test_schemas_vendors_take(schema: Any) -> None:
    assert check.json_schema(schema, "f", "w") is schema


@pytest.mark.parametrize(("schema", "fragment"), BAD_SCHEMAS, ids=[f for _, f in BAD_SCHEMAS])
def test_schemas_no_vendor_takes(schema: Any, fragment: str) -> None:
    assert fragment in str(refused(check.json_schema, schema, "f", "w"))


def test_a_schema_must_be_an_object() -> None:
    refused(check.json_schema, True, "f", "w")  # valid JSON schema, but vendors want an object
    refused(check.json_schema, [], "f", "w")


@pytest.mark.parametrize("key", ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"])
def test_every_map_of_schemas_is_checked(key: str) -> None:
    assert f"w.{key}.a: 'type'" in str(refused(check.json_schema, {key: {"a": {"type": "x"}}}, "f", "w"))


@pytest.mark.parametrize("key", ["anyOf", "oneOf", "allOf", "prefixItems"])
def test_every_list_of_schemas_is_checked(key: str) -> None:
    assert f"w.{key}[1]: 'type'" in str(refused(check.json_schema, {key: [{}, {"type": "x"}]}, "f", "w"))


@pytest.mark.parametrize("key", ["not", "if", "then", "else", "contains", "propertyNames", "unevaluatedItems",
                                 "unevaluatedProperties", "items", "additionalProperties"])
def test_every_single_schema_is_checked(key: str) -> None:
    assert f"w.{key}: 'type'" in str(refused(check.json_schema, {key: {"type": "x"}}, "f", "w"))


@pytest.mark.parametrize("kind", ["object", "array", "string", "number", "integer", "boolean", "null"])
def test_every_json_type_is_taken(kind: str) -> None:
    check.json_schema({"type": kind}, "f", "w")
    check.json_schema({"type": [kind]}, "f", "w")


@pytest.mark.parametrize("key", ["description", "title", "format", "pattern", "$ref"])
def test_string_keywords(key: str) -> None:
    assert f"'{key}' must be a string" in str(refused(check.json_schema, {key: 1}, "f", "w"))


def test_limits() -> None:
    assert check.MAX_INT == 2**63 - 1 and check.MAX_JSON_DEPTH == 64 and check.MAX_JSON_NODES == 100_000
