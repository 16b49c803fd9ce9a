"""A route whose model has tool calling but no native structured output (catalog ``json_schema =
false``) answers JSON schema requests through a forced tool call, and the caller sees text JSON."""

from __future__ import annotations

import json
import os

import pytest

from llmport.adapters.pydantic_output import structured
from llmport.adapters.testing.emulator import Reply, ScriptedToolCall, VendorEmulator
from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.composition import open_llm
from llmport.domain import (
    Completion,
    CompletionRequest,
    InvalidRequest,
    Message,
    ResponseFormat,
    StopReason,
    StreamEnd,
    TextDelta,
    TextPart,
    ToolCallPart,
    ToolSpec,
    accumulate,
)
from llmport.ports.json_tool import JsonThroughTool

from .models import Person

SCHEMA = Person.model_json_schema()


def ask(**fields: object) -> CompletionRequest:
    return CompletionRequest(model="m", messages=[Message.user("hi")], **fields)  # type: ignore[arg-type]


async def test_the_answer_comes_back_as_text_with_a_natural_stop() -> None:
    call = Completion((TextPart("noise "), ToolCallPart("c1", "person", {"name": "Ada", "age": 3})),
                      StopReason("tool_use", "tool_calls"))
    fake = FakeLLM(call, FakeReply(call, chunk_size=5))
    wrapped = JsonThroughTool(fake)
    request = ask(response_format=ResponseFormat.json_schema(SCHEMA, name="person"))
    whole = await wrapped.complete(request)
    assert whole.text == 'noise {"name": "Ada", "age": 3}' and whole.tool_calls == ()
    assert whole.stop_reason == StopReason("end_turn", "tool_calls")
    sent = fake.requests[0]
    assert sent.response_format.kind == "text" and [t.name for t in sent.tools] == ["person"]
    assert sent.tool_choice is not None and sent.tool_choice.name == "person" and sent.tools[0].parameters == SCHEMA
    async with wrapped.stream(request) as events:
        streamed = [e async for e in events]
    assert sum(isinstance(e, TextDelta) for e in streamed) > 2
    assert accumulate(streamed).text == whole.text and accumulate(streamed).tool_calls == ()
    end = streamed[-1]
    assert isinstance(end, StreamEnd) and end.stop_reason.kind == "end_turn"
    assert await wrapped.count_tokens(request) > 0 and fake.requests[-1].tools


async def test_other_requests_and_other_tools_pass_unchanged() -> None:
    other = Completion((ToolCallPart("c1", "lookup", {}),), StopReason("tool_use", "tool_use"))
    fake = FakeLLM("plain", other, FakeReply(other))
    wrapped = JsonThroughTool(fake)
    assert (await wrapped.complete(ask())).text == "plain" and fake.requests[0] == ask()
    tools = ask(tools=[ToolSpec("lookup")])
    assert (await wrapped.complete(tools)).tool_calls == other.parts
    async with wrapped.stream(tools) as events:
        assert accumulate([e async for e in events]).stop_reason.kind == "tool_use"
    with pytest.raises(InvalidRequest, match="already has a tool named 'lookup'"):
        await wrapped.complete(ask(tools=[ToolSpec("lookup")],
                                   response_format=ResponseFormat.json_schema(SCHEMA, name="lookup")))


async def test_the_container_routes_json_schema_through_a_tool_where_the_catalog_says_so(
        emu: VendorEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LLMPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LLMPORT_PROVIDERS__LOCAL__KIND", "openai_compatible")
    monkeypatch.setenv("LLMPORT_PROVIDERS__LOCAL__BASE_URL", emu.url)  # the OpenAI wire without /v1 too
    monkeypatch.setenv("LLMPORT_PROVIDERS__LOCAL__API_KEY", "sk-local-test-key")
    monkeypatch.setenv("LLMPORT_PROVIDERS__LOCAL__MODELS", "llama3")
    monkeypatch.setenv("LLMPORT_CATALOG", json.dumps({"local/llama3": {"json_schema": False, "tools": True}}))
    emu.script(Reply(tool_calls=(ScriptedToolCall("Person", {"name": "Al", "age": -1}),)), vendor="openai")
    async with open_llm() as llm:
        request = CompletionRequest(model="local/llama3", messages=[Message.user("Who is Ada?")])
        result = await structured(llm, Person).complete(request)
        async with structured(llm, Person).stream(request) as updates:
            last = [u async for u in updates][-1]
    assert isinstance(result.value, Person) and len(result.attempts) == 2  # repaired once
    assert last.done and isinstance(last.value, Person)
    bodies = [e.body for e in emu.journal.entries(vendor="openai")]
    assert [e.path for e in emu.journal.entries(vendor="openai")] == ["/chat/completions"] * 3
    for body in bodies:
        assert "response_format" not in body
        assert body["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    assert "greater than or equal to 0" in json.dumps(bodies[1]["messages"][-1])
