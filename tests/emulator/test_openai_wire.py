"""The emulator's OpenAI wire, checked with the raw official ``openai`` SDK (retries off): the SDK
builds the right objects for every scenario and raises its documented exception for every fault."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from llmport.adapters.testing.emulator import Fault, Reply, ScriptedToolCall, ScriptedUsage, VendorEmulator

USER = [{"role": "user", "content": "Hello"}]


@pytest.fixture
async def client(emu: VendorEmulator) -> AsyncIterator[openai.AsyncOpenAI]:
    c = openai.AsyncOpenAI(api_key="sk-test-wire-key", base_url=f"{emu.url}/v1", max_retries=0)
    yield c
    await c.close()


@pytest.fixture
async def azure(emu: VendorEmulator) -> AsyncIterator[openai.AsyncAzureOpenAI]:
    c = openai.AsyncAzureOpenAI(api_key="azure-wire-key", azure_endpoint=emu.url, api_version="2024-10-21",
                                max_retries=0)
    yield c
    await c.close()


# --- Chat Completions --------------------------------------------------------------------------
async def test_chat_completion(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Reply(text="Hi there", reasoning="thinking", usage=ScriptedUsage(20, 8, 5, 2, 3),
                     tool_calls=(ScriptedToolCall("lookup", {"q": "x"}, id="call_9"),)), vendor="openai")
    response = await client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)  # type: ignore
    assert response.headers["x-request-id"]
    r = response.parse()
    assert r.object == "chat.completion" and r.model == "gpt-4o"
    message = r.choices[0].message
    assert message.content == "Hi there" and message.role == "assistant"
    assert message.model_extra == {"reasoning_content": "thinking"}
    [call] = message.tool_calls
    assert call.id == "call_9" and call.function.name == "lookup" and json.loads(call.function.arguments) == {"q": "x"}
    assert r.choices[0].finish_reason == "tool_calls"
    usage = r.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (20, 8, 28)
    assert usage.prompt_tokens_details.cached_tokens == 5
    assert usage.prompt_tokens_details.cache_write_tokens == 2
    assert usage.completion_tokens_details.reasoning_tokens == 3
    entry = emu.journal.last
    assert (entry.endpoint, entry.path, entry.model) == ("chat", "/v1/chat/completions", "gpt-4o")
    assert entry.headers["authorization"] == "[REDACTED]"


@pytest.mark.parametrize(("stop", "finish"), [("end_turn", "stop"), ("max_tokens", "length"),
                                              ("content_filter", "content_filter"), ("stop_sequence", "stop")])
async def test_chat_finish_reasons(client: openai.AsyncOpenAI, emu: VendorEmulator, stop: Any, finish: str) -> None:
    emu.script(Reply(text="x", stop=stop), vendor="openai")
    r = await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert r.choices[0].finish_reason == finish


async def test_chat_stream(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Reply(text="abcdefghij", chunk_size=3, reasoning="hmm", usage=ScriptedUsage(7, 4),
                     tool_calls=(ScriptedToolCall("f", {"a": 1}), ScriptedToolCall("g", {"b": "two"}))),
               vendor="openai")
    stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True,
                                                  stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content", "") for c in chunks
                        if c.choices)
    assert (text, reasoning) == ("abcdefghij", "hmm")
    args: dict[int, str] = {}
    names: dict[int, str] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            if tc.id:
                names[tc.index] = tc.function.name
            args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "")
    assert names == {0: "f", 1: "g"}
    assert {i: json.loads(a) for i, a in args.items()} == {0: {"a": 1}, 1: {"b": "two"}}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    last = chunks[-1]
    assert last.choices == [] and (last.usage.prompt_tokens, last.usage.completion_tokens) == (7, 4)
    assert all(c.usage is None for c in chunks[:-1])
    assert emu.journal.last.ended == "complete"


async def test_chat_stream_without_usage_option_sends_no_usage_chunk(client: openai.AsyncOpenAI,
                                                                     emu: VendorEmulator) -> None:
    stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)


async def test_chat_rejects_a_request_without_messages(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=[])
    assert info.value.type == "invalid_request_error"
    assert emu.journal.last.ended == "invalid"


# --- Responses API -----------------------------------------------------------------------------
async def test_response(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Reply(text="Answer", reasoning="Because.", reasoning_signature="enc-1",
                     tool_calls=(ScriptedToolCall("f", {"a": 1}, id="call_f"),),
                     usage=ScriptedUsage(30, 10, 12, 0, 4)), vendor="openai")
    r = await client.responses.create(model="gpt-5", input="Hi", instructions="Be brief")
    assert r.object == "response" and r.status == "completed" and r.model == "gpt-5"
    reasoning, message, call = r.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Because."
    assert reasoning.encrypted_content == "enc-1"
    assert message.type == "message" and message.content[0].text == "Answer" and r.output_text == "Answer"
    assert call.type == "function_call" and call.call_id == "call_f" and json.loads(call.arguments) == {"a": 1}
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens) == (30, 10, 40)
    assert r.usage.input_tokens_details.cached_tokens == 12
    assert r.usage.output_tokens_details.reasoning_tokens == 4
    assert r.instructions == "Be brief"
    assert emu.journal.last.endpoint == "responses"


async def test_response_incomplete_at_max_tokens(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Reply(text="cut sho", stop="max_tokens"), vendor="openai")
    r = await client.responses.create(model="gpt-5", input="Hi", max_output_tokens=16)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"


async def test_response_stream(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Reply(text="streamed answer", chunk_size=4, reasoning="why", reasoning_signature="enc",
                     tool_calls=(ScriptedToolCall("f", {"city": "Oslo"}),), usage=ScriptedUsage(5, 6)),
               vendor="openai")
    stream = await client.responses.create(model="gpt-5", input="Hi", stream=True)
    events = [e async for e in stream]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "streamed answer"
    assert "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta") == "why"
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(args) == {"city": "Oslo"}
    added = [e.item.type for e in events if e.type == "response.output_item.added"]
    assert added == ["reasoning", "message", "function_call"]
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert done[0].encrypted_content == "enc" and done[2].arguments == args
    final = events[-1].response
    assert final.status == "completed" and (final.usage.input_tokens, final.usage.output_tokens) == (5, 6)
    assert [i.type for i in final.output] == added


async def test_input_token_count(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Reply(usage=ScriptedUsage(input_tokens=321)), vendor="openai")
    counted = await client.responses.input_tokens.count(model="gpt-5", input="How many tokens is this?")
    assert counted.input_tokens == 321 and counted.object == "response.input_tokens"
    assert emu.journal.last.endpoint == "count_tokens"
    estimated = await client.responses.input_tokens.count(model="gpt-5", input="x" * 400)
    assert estimated.input_tokens == 100  # unscripted: ~4 characters a token


# --- Azure -------------------------------------------------------------------------------------
async def test_azure_chat_uses_the_deployment_path(azure: openai.AsyncAzureOpenAI, emu: VendorEmulator) -> None:
    emu.script(Reply(text="from azure"), vendor="openai", model="my-gpt4o")
    r = await azure.chat.completions.create(model="my-gpt4o", messages=USER)
    assert r.choices[0].message.content == "from azure"
    entry = emu.journal.last
    assert entry.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert entry.query == {"api-version": "2024-10-21"} and entry.model == "my-gpt4o"
    assert entry.headers["api-key"] == "[REDACTED]" and "authorization" not in entry.headers


async def test_azure_responses_and_stream(azure: openai.AsyncAzureOpenAI, emu: VendorEmulator) -> None:
    r = await azure.responses.create(model="my-gpt5", input="Hi")
    assert r.output_text and emu.journal.last.path == "/openai/responses"
    stream = await azure.chat.completions.create(model="my-gpt4o", messages=USER, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert emu.journal.last.path == "/openai/deployments/my-gpt4o/chat/completions"


async def test_azure_paths_need_an_api_version(emu: VendorEmulator) -> None:
    c = openai.AsyncOpenAI(api_key="k", base_url=f"{emu.url}/openai/deployments/d", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        await c.chat.completions.create(model="d", messages=USER)
    await c.close()


# --- faults ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "exc", "kind"), [
    (400, openai.BadRequestError, "invalid_request_error"), (401, openai.AuthenticationError, "invalid_request_error"),
    (403, openai.PermissionDeniedError, "invalid_request_error"), (404, openai.NotFoundError, "invalid_request_error"),
    (429, openai.RateLimitError, "requests"), (500, openai.InternalServerError, "server_error"),
    (503, openai.InternalServerError, "server_error"),
])
@pytest.mark.parametrize("streaming", [False, True])
async def test_http_errors(client: openai.AsyncOpenAI, emu: VendorEmulator, status: int, exc: type[Exception],
                           kind: str, streaming: bool) -> None:
    emu.script(Fault.http(status), vendor="openai")
    with pytest.raises(exc) as info:  # on stream=True too, the error raises from create()
        await client.chat.completions.create(model="gpt-4o", messages=USER, stream=streaming)
    error = info.value
    assert isinstance(error, openai.APIStatusError)
    assert error.status_code == status and error.type == kind and error.request_id
    assert isinstance(error.body, dict) and set(error.body) == {"message", "type", "param", "code"}
    assert len(emu.journal.entries(vendor="openai")) == 1


async def test_context_length_error_body(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Fault.context_length(), vendor="openai")
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="gpt-5", input="Hi")
    assert info.value.code == "context_length_exceeded" and info.value.param == "messages"
    assert "maximum context length" in info.value.message


async def test_retry_after_headers(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Fault.rate_limited(3, retry_after_ms=2500), vendor="openai")
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=USER)
    headers = info.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("3", "2500")
    assert info.value.code == "rate_limit_exceeded"


async def test_hang_times_out(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Fault.hang(), vendor="openai")
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="gpt-4o", messages=USER, timeout=0.2)
    await emu.journal.await_closed(emu.journal.last)


async def test_reset_is_a_connection_error(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Fault.reset(), vendor="openai")
    with pytest.raises(openai.APIConnectionError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert not isinstance(info.value, openai.APITimeoutError)


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
async def test_cut_stream_raises_connection_error(client: openai.AsyncOpenAI, emu: VendorEmulator,
                                                  endpoint: str) -> None:
    emu.script(Fault.cut(5, reply=Reply(text="a long answer that never ends", chunk_size=3)), vendor="openai")
    got: list[Any] = []
    with pytest.raises(openai.APIConnectionError):
        stream: Any = await (client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
                             if endpoint == "chat" else client.responses.create(model="gpt-5", input="Hi", stream=True))
        async for item in stream:
            got.append(item)
    assert len(got) == 5 and emu.journal.last.ended == "cut"


async def test_malformed_frame_fails_to_parse(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Fault.malformed(2, reply=Reply(text="abcdefghijkl", chunk_size=2)), vendor="openai")
    stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    got: list[Any] = []
    with pytest.raises(json.JSONDecodeError):
        async for chunk in stream:
            got.append(chunk)
    assert len(got) == 2


async def test_chat_in_stream_error_is_a_bare_api_error(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Fault.stream_error(2, "server_error", "The server had an error", reply=Reply(text="abcdef")),
               vendor="openai")
    stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    with pytest.raises(openai.APIError) as info:
        async for _ in stream:
            pass
    error = info.value
    assert not isinstance(error, openai.APIStatusError | openai.APIConnectionError)
    assert error.type == "server_error" and error.message == "The server had an error"


async def test_responses_in_stream_error_is_an_event(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Fault.stream_error(3, "rate_limit_exceeded", "slow down", reply=Reply(text="abc")), vendor="openai")
    stream = await client.responses.create(model="gpt-5", input="Hi", stream=True)
    events = [e async for e in stream]
    assert events[-1].type == "error" and events[-1].code == "rate_limit_exceeded"
    assert events[-1].message == "slow down" and len(events) == 4


async def test_responses_server_failure_is_a_failed_event(client: openai.AsyncOpenAI, emu: VendorEmulator) -> None:
    emu.script(Fault.stream_error(2, message="The model failed"), vendor="openai")
    stream = await client.responses.create(model="gpt-5", input="Hi", stream=True)
    events = [e async for e in stream]
    assert [e.type for e in events] == ["response.created", "response.in_progress", "response.failed"]
    failed = events[-1].response
    assert failed.status == "failed" and failed.error.code == "server_error"
    assert failed.error.message == "The model failed"


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
async def test_closing_a_stream_disconnects(client: openai.AsyncOpenAI, emu: VendorEmulator, endpoint: str) -> None:
    emu.script(Reply(text="x" * 400, chunk_size=2, chunk_delay=0.01), vendor="openai")
    stream: Any = await (client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
                         if endpoint == "chat" else client.responses.create(model="gpt-5", input="Hi", stream=True))
    async for _ in stream:
        break
    await stream.close()
    entry = await emu.journal.await_disconnected(emu.journal.last)
    assert entry.ended == "disconnected" and entry.frames_sent < 50
