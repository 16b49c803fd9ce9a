"""Property: for any schema of the shapes pydantic emits, every family's adapter sends what its vendor
accepts (the emulator enforces the vendors' rules and answers with JSON shaped like the schema)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.domain import CompletionRequest, InvalidRequest, Message, ResponseFormat, ToolSpec
from tests.contract.conftest import HARNESSES

FAMILIES = [h for h in HARNESSES if h.name in ("openai-chat", "openai-responses", "anthropic", "google", "bedrock")]
WEATHER = ToolSpec("get_weather", "Current weather", {"type": "object", "properties": {"city": {"type": "string"}}})

NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
LEAVES = st.sampled_from([
    {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"},
    {"type": "string", "enum": ["red", "green"]}, {"type": "string", "format": "date-time"},
    {"type": "integer", "minimum": 0, "description": "a count"}, {"type": "string", "title": "Label"},
])


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "title": "Thing", "properties": properties, "required": required}


@st.composite
def objects(draw: st.DrawFn, children: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    properties = draw(st.dictionaries(NAMES, children, min_size=1, max_size=4))
    required = [name for name in properties if draw(st.booleans())]
    return _object(properties, required)


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        objects(children),
        children.map(lambda c: {"type": "array", "items": c}),
        children.map(lambda c: {"anyOf": [c, {"type": "null"}], "default": None}),  # pydantic's `X | None = None`
    )


SCHEMAS = st.recursive(LEAVES, _extend, max_leaves=8)


@st.composite
def roots(draw: st.DrawFn) -> dict[str, Any]:
    root = draw(objects(SCHEMAS))
    if draw(st.booleans()):  # a model used inside another: pydantic's $defs and $ref
        root["$defs"] = {"Item": draw(objects(SCHEMAS))}
        root["properties"]["item"] = {"$ref": "#/$defs/Item"}
    return root


async def _send_everywhere(emu: VendorEmulator, schema: dict[str, Any]) -> None:
    fmt = ResponseFormat.json_schema(schema, name="thing")
    for harness in FAMILIES:
        variants = [CompletionRequest(model=harness.model, messages=[Message.user("hi")], response_format=fmt)]
        if harness.name == "anthropic":  # with tools: Anthropic's structured outputs instead of the forced tool
            variants.append(dataclasses.replace(variants[0], tools=[WEATHER]))
        llm = harness.build(emu.url)
        try:
            for request in variants:
                try:
                    completion = await llm.complete(request)
                except InvalidRequest as exc:  # a vendor's 400 would carry its status
                    raise AssertionError(f"{harness.name}: {exc} (status={exc.status})") from None
                answer = json.loads(completion.text)
                assert set(schema["required"]) <= set(answer), (harness.name, answer)
        finally:
            await llm.aclose()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schema=roots())
def test_every_family_sends_a_schema_its_vendor_accepts(emulator: VendorEmulator, schema: dict[str, Any]) -> None:
    asyncio.run(_send_everywhere(emulator, schema))
