"""Schemas converted to OpenAI's strict mode rules, or refused before any network call."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from llmport.adapters.strict_schema import to_openai_strict
from llmport.domain import InvalidRequest


class Address(BaseModel):
    city: str
    zip: str | None = None


class Person(BaseModel):
    name: str
    age: int = 0
    nickname: str | None = None
    addresses: list[Address]


def _objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append(node)
        for value in node.values():
            found += _objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _objects(value)
    return found


def test_a_pydantic_schema_becomes_strict_everywhere() -> None:
    schema = to_openai_strict(Person.model_json_schema())
    objects = _objects(schema)
    assert len(objects) == 2  # Person and the Address under $defs
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])
    props = schema["properties"]
    assert props["name"]["type"] == "string"  # required stays as it was
    assert props["age"]["type"] == ["integer", "null"]  # optional: nullable
    assert {"type": "null"} in props["nickname"]["anyOf"] and "default" not in props["nickname"]
    assert {"type": "null"} in schema["$defs"]["Address"]["properties"]["zip"]["anyOf"]


def test_the_input_is_not_modified() -> None:
    original = Person.model_json_schema()
    before = repr(original)
    to_openai_strict(original)
    assert repr(original) == before


@pytest.mark.parametrize(("schema", "says"), [
    ({"type": "array", "items": {"type": "string"}}, "object at its root"),
    ({"type": "object", "additionalProperties": {"type": "string"}}, "additionalProperties: false"),
    ({"type": "object", "properties": {"a": {"type": "object", "additionalProperties": True}}}, "#/properties/a"),
    ({"type": "object", "properties": {"a": {"allOf": [{"type": "string"}]}}}, "'allOf'"),
])
def test_what_cannot_be_strict_is_an_invalid_request_saying_what_to_change(schema: dict[str, Any],
                                                                           says: str) -> None:
    with pytest.raises(InvalidRequest, match=says):
        to_openai_strict(schema)
