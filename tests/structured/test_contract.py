"""Structured output through every contract harness: each adapter's real SDK against the emulator,
which answers schema-shaped JSON by default and enforces each vendor's schema rules."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel, Field

from llmport.adapters.pydantic_output import structured
from llmport.adapters.testing.emulator import Reply, VendorEmulator
from llmport.domain import CompletionRequest, InvalidRequest, Message, StructuredOutputInvalid, ToolSpec
from llmport.ports import LLMPort
from tests.contract.conftest import HARNESSES
from tests.contract.harness import Harness

from .models import Person, Tags

WEATHER = ToolSpec("get_weather", "Current weather", {"type": "object", "properties": {"city": {"type": "string"}}})
ALICE = {"name": "Alice", "age": 33, "addresses": [{"city": "Paris", "zip": None}]}


@pytest.fixture(params=HARNESSES, ids=[h.name for h in HARNESSES])
def harness(request: pytest.FixtureRequest) -> Harness:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def llm(harness: Harness, emu: VendorEmulator) -> AsyncIterator[LLMPort]:
    adapter = harness.build(emu.url)
    yield adapter
    await adapter.aclose()


def ask(h: Harness, text: str = "Tell me about Alice") -> CompletionRequest:
    return CompletionRequest(model=h.model, messages=[Message.user(text)])


def bodies(emu: VendorEmulator, h: Harness) -> list[Any]:
    return [e.body for e in emu.journal.entries(vendor=h.vendor) if e.endpoint != "count_tokens"]


def last_message_text(body: Any) -> str:
    """All text of a request body's last turn, whatever the vendor's wire shape."""
    turns = body.get("messages") or body.get("contents") or body.get("input")
    return json.dumps(turns[-1])


async def test_the_vendors_native_structured_output_answers_a_validated_object(
        harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    result = await structured(llm, Person).complete(ask(harness))
    assert isinstance(result.value, Person) and len(result.attempts) == 1  # the emulator's schema-shaped answer
    assert result.completion.provider and result.usage.output_tokens > 0
    sent = json.dumps(bodies(emu, harness)[0])
    assert "Person" in sent and "addresses" in sent  # the schema went over the wire


async def test_an_invalid_answer_is_repaired_over_the_wire(harness: Harness, llm: LLMPort,
                                                           emu: VendorEmulator) -> None:
    emu.script(Reply(text='{"name": "Alice", "age": -4}'), Reply(text=json.dumps(ALICE)), vendor=harness.vendor)
    result = await structured(llm, Person).complete(ask(harness))
    assert result.value == Person.model_validate(ALICE) and len(result.attempts) == 2
    assert result.usage == result.attempts[0].usage + result.attempts[1].usage
    first, second = bodies(emu, harness)
    assert "greater than or equal to 0" in last_message_text(second)
    assert "greater than or equal to 0" not in json.dumps(first)


async def test_an_answer_that_never_validates_is_a_typed_error(harness: Harness, llm: LLMPort,
                                                               emu: VendorEmulator) -> None:
    emu.script(Reply(text="no JSON today"), Reply(text='{"age": 1}'), vendor=harness.vendor)
    with pytest.raises(StructuredOutputInvalid) as caught:
        await structured(llm, Person, max_repairs=1).complete(ask(harness))
    assert caught.value.raw_text == '{"age": 1}' and caught.value.errors == ("name: Field required",)
    assert len(bodies(emu, harness)) == 2


async def test_a_stream_yields_partial_objects_then_the_validated_one(harness: Harness, llm: LLMPort,
                                                                      emu: VendorEmulator) -> None:
    answer = {"title": "Fruit", "tags": ["apple", "banana", "cherry", "damson"]}
    emu.script(Reply(text=json.dumps(answer), chunk_size=5), vendor=harness.vendor)
    async with structured(llm, Tags).stream(ask(harness)) as updates:
        seen = [u async for u in updates]
    partial = [u.value for u in seen if not u.done]
    assert len(partial) >= 3
    assert [len(p.tags) for p in partial] == sorted(len(p.tags) for p in partial)
    assert seen[-1].done and seen[-1].value == Tags(**answer) and seen[-1].result is not None
    assert emu.journal.entries(vendor=harness.vendor)[-1].ended == "complete"


async def test_a_stream_repairs_too(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    emu.script(Reply(text='{"name": 1}', chunk_size=4), vendor=harness.vendor)  # then the schema-shaped default
    async with structured(llm, Person).stream(ask(harness)) as updates:
        seen = [u async for u in updates]
    assert seen[-1].done and seen[-1].attempt == 2 and isinstance(seen[-1].value, Person)


async def test_tool_mode_forces_a_tool_call(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    result = await structured(llm, Person, mode="tool").complete(ask(harness))
    assert isinstance(result.value, Person)
    assert [c.name for c in result.completion.tool_calls] == ["Person"]
    async with structured(llm, Tags, mode="tool").stream(ask(harness)) as updates:
        seen = [u async for u in updates]
    assert seen[-1].done and isinstance(seen[-1].value, Tags)


async def test_a_schema_no_vendor_mode_can_take_fails_before_any_network_call(
        harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    class Recursive(Person):
        children: list[Recursive] = Field(default_factory=list)
        extra: dict[str, int] = Field(default_factory=dict)  # a free-form mapping: no strict mode expresses it

    class Loose(BaseModel):
        anything: Any  # no type at all: Anthropic's structured outputs cannot take it

    request, output = ask(harness), Recursive
    if harness.reasoning_provider == "anthropic":
        # Anthropic's forced tool takes any object schema; with tools the request needs structured outputs
        request, output = dataclasses.replace(request, tools=[WEATHER]), Loose
    with pytest.raises(InvalidRequest) as caught:
        await structured(llm, output).complete(request)
    assert caught.value.field == "response_format"
    assert emu.journal.entries() == []
