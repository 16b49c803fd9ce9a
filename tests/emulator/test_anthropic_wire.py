"""The emulator's Anthropic wire through the RAW official SDK (retries off): the objects it builds
for every scenario, and its documented exception for every fault."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
import pytest

from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator
from llmport.adapters.testing.emulator.script import ScriptedToolCall, ScriptedUsage

MODEL = "claude-wire-test"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def client(emu: VendorEmulator) -> AsyncIterator[anthropic.AsyncAnthropic]:
    c = anthropic.AsyncAnthropic(api_key="sk-ant-wire-secret", base_url=emu.url, max_retries=0)
    yield c
    await c.close()


async def create(client: anthropic.AsyncAnthropic, **kw: Any) -> Any:
    return await client.messages.create(model=MODEL, max_tokens=64, messages=HI, **kw)  # type: ignore[arg-type]


async def events(client: anthropic.AsyncAnthropic, **kw: Any) -> list[Any]:
    stream = await client.messages.create(model=MODEL, max_tokens=64, messages=HI, stream=True, **kw)  # type: ignore[arg-type]
    return [e async for e in stream]


async def test_text_reply_usage_and_request_id(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Reply(text="Hello there", usage=ScriptedUsage(100, 7, cached_input_tokens=30, cache_write_tokens=20)))
    raw = await client.messages.with_raw_response.create(model=MODEL, max_tokens=64, messages=HI)  # type: ignore[arg-type]
    message = await raw.parse()
    assert raw.headers["request-id"].startswith("req_")
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert [(b.type, b.text) for b in message.content] == [("text", "Hello there")]  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    # Anthropic's input_tokens excludes cache reads and writes
    u = message.usage
    got = (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens)
    assert got == (50, 7, 30, 20)
    entry = emu.journal.last
    assert (entry.vendor, entry.endpoint, entry.model, entry.stream) == ("anthropic", "messages", MODEL, False)
    assert entry.headers["authorization"] == "[REDACTED]"


async def test_stream_events_in_order(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Reply(text="abcdefghij", chunk_size=4, usage=ScriptedUsage(12, 3)))
    got = await events(client)
    assert [e.type for e in got] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_delta",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert [e.delta.text for e in got if e.type == "content_block_delta"] == ["abcd", "efgh", "ij"]
    assert got[0].message.usage.input_tokens == 12
    assert got[-2].delta.stop_reason == "end_turn" and got[-2].usage.output_tokens == 3
    assert emu.journal.last.ended == "complete" and emu.journal.last.frames_sent == 4


async def test_every_sse_frame_has_an_event_line_and_pings_are_sent(emu: VendorEmulator) -> None:
    emu.script(Reply(text="abc", chunk_size=1))
    body = {"model": MODEL, "max_tokens": 10, "messages": HI, "stream": True}
    async with httpx2.AsyncClient(base_url=emu.url) as http:
        r = await http.post("/v1/messages", json=body, headers={"x-api-key": "sk-ant-x"})
    assert r.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in r.text.split("\n\n") if f]
    assert all(f.startswith("event: ") and "\ndata: " in f for f in frames)
    names = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    assert names[:2] == ["message_start", "ping"] and names[-1] == "message_stop"
    for f in frames:
        data = json.loads(f.split("\ndata: ", 1)[1])
        assert data["type"] == f.split("\n")[0].removeprefix("event: ")


async def test_tool_calls_whole_and_streamed(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    call = ScriptedToolCall("get_weather", {"city": "Paris", "days": 3})
    emu.script(Reply(tool_calls=(call,)), Reply(tool_calls=(call,), chunk_size=5))
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    message = await create(client, tools=tools)
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == {"city": "Paris", "days": 3}
    assert block.id.startswith("toolu_")
    got = await events(client, tools=tools)
    start = next(e for e in got if e.type == "content_block_start")
    assert start.content_block.type == "tool_use" and start.content_block.id == block.id
    parts = [e.delta.partial_json for e in got if e.type == "content_block_delta"]
    assert all(e.delta.type == "input_json_delta" for e in got if e.type == "content_block_delta")
    assert len(parts) > 1 and json.loads("".join(parts)) == {"city": "Paris", "days": 3}
    assert got[-2].delta.stop_reason == "tool_use"


async def test_thinking_blocks_and_signatures(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    reply = Reply(text="42", reasoning="let me think", reasoning_signature="sig-abc", chunk_size=4,
                  usage=ScriptedUsage(10, 20, reasoning_tokens=15))
    emu.script(reply, reply)
    thinking = {"type": "enabled", "budget_tokens": 1024}
    message = await create(client, thinking=thinking)
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "let me think" and message.content[0].signature == "sig-abc"
    assert message.usage.output_tokens_details.thinking_tokens == 15
    got = await events(client, thinking=thinking)
    deltas = [e.delta for e in got if e.type == "content_block_delta"]
    assert "".join(d.thinking for d in deltas if d.type == "thinking_delta") == "let me think"
    assert [d.signature for d in deltas if d.type == "signature_delta"] == ["sig-abc"]
    assert "".join(d.text for d in deltas if d.type == "text_delta") == "42"


async def test_refusal_stop_reason(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Reply(text="", stop="content_filter"))
    assert (await create(client)).stop_reason == "refusal"


async def test_count_tokens(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Reply(usage=ScriptedUsage(input_tokens=321, output_tokens=0)))
    counted = await client.messages.count_tokens(model=MODEL, messages=HI)  # type: ignore[arg-type]
    assert counted.input_tokens == 321
    assert emu.journal.last.endpoint == "count_tokens"
    estimated = await client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "x" * 400}])
    assert estimated.input_tokens == 100  # the emulator's ~4 characters a token


async def test_vertex_paths(emu: VendorEmulator) -> None:
    vertex = anthropic.AsyncAnthropicVertex(region="us-east5", project_id="proj", access_token="ya29.secret",
                                            base_url=f"{emu.url}/v1", max_retries=0)
    emu.script(Reply(text="from vertex"), Reply(text="streamed", chunk_size=3), Reply(usage=ScriptedUsage(9, 0)))
    message = await vertex.messages.create(model=MODEL, max_tokens=8, messages=HI)  # type: ignore[arg-type]
    assert message.content[0].text == "from vertex"  # type: ignore[union-attr]
    stream = await vertex.messages.create(model=MODEL, max_tokens=8, messages=HI, stream=True)  # type: ignore[arg-type]
    assert "".join([e.delta.text async for e in stream if e.type == "content_block_delta"]) == "streamed"
    assert (await vertex.messages.count_tokens(model=MODEL, messages=HI)).input_tokens == 9  # type: ignore[arg-type]
    await vertex.close()
    paths = [e.path for e in emu.journal.entries(vendor="anthropic")]
    base = "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/"
    assert paths == [base + f"{MODEL}:rawPredict", base + f"{MODEL}:streamRawPredict", base + "count-tokens:rawPredict"]
    assert [e.model for e in emu.journal.entries(vendor="anthropic")] == [MODEL, MODEL, MODEL]
    assert emu.journal.entries(vendor="anthropic")[0].body["anthropic_version"]


async def test_x_api_key_accepted_and_missing_key_rejected(emu: VendorEmulator) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": HI}
    async with httpx2.AsyncClient(base_url=emu.url) as http:
        ok = await http.post("/v1/messages", json=body, headers={"x-api-key": "sk-ant-x"})
        missing = await http.post("/v1/messages", json=body)
        no_max = await http.post("/v1/messages", json={"model": MODEL, "messages": HI}, headers={"x-api-key": "k"})
    assert ok.status_code == 200 and ok.json()["type"] == "message"
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
    assert no_max.status_code == 400 and no_max.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in no_max.json()["error"]["message"]


@pytest.mark.parametrize(("status", "exc_type", "error_type"), [
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
    (403, anthropic.PermissionDeniedError, "permission_error"),
    (404, anthropic.NotFoundError, "not_found_error"),
    (413, anthropic.ContentTooLargeError, "request_too_large"),
    (500, anthropic.InternalServerError, "api_error"),
    (503, anthropic.ServiceUnavailableError, "api_error"),
    (504, anthropic.GatewayTimeoutError, "timeout_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
])
async def test_http_errors(emu: VendorEmulator, client: anthropic.AsyncAnthropic, status: int,
                           exc_type: type[anthropic.APIStatusError], error_type: str) -> None:
    emu.script(Fault.http(status), Fault.http(status))
    with pytest.raises(exc_type) as info:
        await create(client)
    assert info.value.status_code == status and info.value.type == error_type
    assert info.value.request_id and info.value.request_id.startswith("req_")
    with pytest.raises(exc_type):  # a stream fails the same way, from the create() await
        await events(client)
    assert len(emu.journal.entries(vendor="anthropic")) == 2  # no SDK retry


async def test_rate_limit_with_retry_after(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Fault.rate_limited(retry_after=7), Fault.rate_limited(retry_after_ms=1500))
    with pytest.raises(anthropic.RateLimitError) as info:
        await create(client)
    assert info.value.type == "rate_limit_error" and info.value.response.headers["retry-after"] == "7"
    with pytest.raises(anthropic.RateLimitError) as info:
        await create(client)
    assert info.value.response.headers["retry-after-ms"] == "1500"


async def test_context_length(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Fault.context_length())
    with pytest.raises(anthropic.BadRequestError) as info:
        await create(client)
    assert info.value.type == "invalid_request_error"
    assert info.value.api_message and info.value.api_message.startswith("prompt is too long")


async def test_hang_times_out(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Fault.hang())
    with pytest.raises(anthropic.APITimeoutError):
        await create(client, timeout=0.2)
    emu.journal.wait_disconnected(emu.journal.last)


async def test_reset_is_a_connection_error(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Fault.reset())
    with pytest.raises(anthropic.APIConnectionError):
        await create(client)


async def test_cut_stream_raises_after_partial_output(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Fault.cut(2, reply=Reply(text="abcdefgh", chunk_size=2)))
    stream = await client.messages.create(model=MODEL, max_tokens=8, messages=HI, stream=True)  # type: ignore[arg-type]
    texts: list[str] = []
    with pytest.raises(httpx2.TransportError):  # the SDK does not wrap errors while reading a stream
        async for event in stream:
            if event.type == "content_block_delta":
                texts.append(event.delta.text)
    assert texts == ["ab", "cd"]
    assert emu.journal.last.ended == "cut"


async def test_malformed_frame(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Fault.malformed(1, reply=Reply(text="abcd", chunk_size=2)))
    stream = await client.messages.create(model=MODEL, max_tokens=8, messages=HI, stream=True)  # type: ignore[arg-type]
    with pytest.raises(json.JSONDecodeError):
        async for _ in stream:
            pass


@pytest.mark.parametrize("after", [0, 2])
async def test_in_stream_error_event(emu: VendorEmulator, client: anthropic.AsyncAnthropic, after: int) -> None:
    emu.script(Fault.stream_error(after, reply=Reply(text="abcdef", chunk_size=2)))
    stream = await client.messages.create(model=MODEL, max_tokens=8, messages=HI, stream=True)  # type: ignore[arg-type]
    texts: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as info:
        async for event in stream:
            if event.type == "content_block_delta":
                texts.append(event.delta.text)
    assert info.value.status_code == 200 and info.value.type == "overloaded_error"
    assert len(texts) == after


async def test_closing_a_stream_disconnects(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Reply(text="x" * 400, chunk_size=1, chunk_delay=0.01))
    stream = await client.messages.create(model=MODEL, max_tokens=8, messages=HI, stream=True)  # type: ignore[arg-type]
    async for event in stream:
        if event.type == "content_block_delta":
            break
    await stream.close()
    entry = await emu.journal.await_disconnected(emu.journal.last)
    assert entry.ended == "disconnected" and entry.frames_sent < 400


async def test_cancelling_the_reader_disconnects(emu: VendorEmulator, client: anthropic.AsyncAnthropic) -> None:
    emu.script(Reply(text="x" * 400, chunk_size=1, chunk_delay=0.01))
    started = asyncio.Event()

    async def read() -> None:
        stream = await client.messages.create(model=MODEL, max_tokens=8, messages=HI, stream=True)  # type: ignore[arg-type]
        async for _ in stream:
            started.set()

    task = asyncio.create_task(read())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    entry = await emu.journal.await_disconnected(emu.journal.last)
    assert entry.client_disconnected and entry.frames_sent < 400
