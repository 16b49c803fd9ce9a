"""The emulator's schema rules and sampled answers, value by value."""

from __future__ import annotations

from llmport.adapters.testing.emulator.schemas import (
    closed_objects_problem,
    gemini_schema_problem,
    openai_strict_problem,
    sample,
)


def test_samples_of_each_type() -> None:
    assert sample({"type": "number"}) == 1.5 and sample({"type": "number", "minimum": 2.5}) == 2.5
    assert sample({"type": "integer"}) == 1 and sample({"type": "integer", "minimum": 7}) == 7
    assert sample({"type": "boolean"}) is True and sample({"type": "null"}) is None
    assert sample({"type": "string", "enum": ["b", "a"]}) == "b" and sample({"const": 3}) == 3
    assert sample({"type": "string", "minLength": 6}) == "textxx"
    assert sample({"type": "string", "format": "date"}) == "2026-01-01"
    assert sample({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]}) == [1, True]
    assert sample({"type": "array", "items": {"type": "integer"}, "minItems": 2}) == [1, 1]
    assert sample({"anyOf": [{"type": "null"}, {"type": "NUMBER"}]}) == 1.5
    assert sample({"type": ["null", "boolean"]}) is True


def test_a_recursive_schema_is_sampled_to_a_bounded_depth() -> None:
    recursive = {"$defs": {"T": {"type": "array", "prefixItems": [{"$ref": "#/$defs/T"}]}}, "$ref": "#/$defs/T"}
    assert sample(recursive) == [[[None]]]  # six steps (a $ref or an item each) deep, then null


def test_values_that_are_not_schemas_are_passed_over() -> None:
    closed = {"type": "object", "properties": {"a": True}, "required": ["a"], "additionalProperties": False}
    assert openai_strict_problem(closed, "x") is None
    assert gemini_schema_problem({"type": "OBJECT", "properties": {"a": True}}, vertex=False) is None


def test_bedrock_wants_an_object_root() -> None:
    for schema in (["x"], {"type": "array", "items": {"type": "string"}}):
        assert closed_objects_problem(schema, "at") == 'at: the JSON schema must have "type": "object" at its root'


def test_gemini_rules_reach_items_and_any_of() -> None:
    assert "Unknown name \"const\" at 'generation_config.response_schema.items'" in str(gemini_schema_problem(
        {"type": "ARRAY", "items": {"type": "STRING", "const": "x"}}, vertex=False))
    assert "generation_config.response_schema.any_of[1]" in str(gemini_schema_problem(
        {"anyOf": [{"type": "STRING"}, {"type": "STRING", "oneOf": []}]}, vertex=True))
    assert "any_of[0]" in str(gemini_schema_problem({"any_of": [{"type": "LIST"}]}, vertex=True))
