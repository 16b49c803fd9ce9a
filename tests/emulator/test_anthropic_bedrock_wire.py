"""The emulator's Claude-on-Bedrock wire (InvokeModel / InvokeModelWithResponseStream) through the
RAW ``AsyncAnthropicBedrock`` client (SigV4 with dummy keys, retries off)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
import pytest

from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator
from llmport.adapters.testing.emulator.script import ScriptedToolCall, ScriptedUsage

MODEL = "anthropic.claude-wire-test-v1:0"
VENDOR = "anthropic_bedrock"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def client(emu: VendorEmulator) -> AsyncIterator[anthropic.AsyncAnthropicBedrock]:
    c = anthropic.AsyncAnthropicBedrock(aws_access_key="AKIDWIRETEST", aws_secret_key="wire-secret",
                                        aws_region="us-east-1", base_url=emu.url, max_retries=0)
    yield c
    await c.close()


async def create(client: anthropic.AsyncAnthropicBedrock, **kw: Any) -> Any:
    return await client.messages.create(model=MODEL, max_tokens=64, messages=HI, **kw)  # type: ignore[arg-type]


async def test_text_reply_over_invoke(emu: VendorEmulator, client: anthropic.AsyncAnthropicBedrock) -> None:
    emu.script(Reply(text="Hello there", usage=ScriptedUsage(100, 7, cached_input_tokens=30)), vendor=VENDOR)
    raw = await client.messages.with_raw_response.create(model=MODEL, max_tokens=64, messages=HI)  # type: ignore[arg-type]
    message = await raw.parse()
    assert [(b.type, b.text) for b in message.content] == [("text", "Hello there")]  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens, message.usage.cache_read_input_tokens) == (
        70, 7, 30)
    assert raw.headers["x-amzn-requestid"] and raw.headers["x-amzn-bedrock-output-token-count"] == "7"
    entry = emu.journal.last
    assert (entry.vendor, entry.endpoint, entry.model, entry.stream) == (VENDOR, "invoke", MODEL, False)
    assert entry.path == f"/model/{MODEL}/invoke"
    # the SDK moves the model into the path and adds anthropic_version; the key never shows
    assert "model" not in entry.body and "stream" not in entry.body and entry.body["anthropic_version"]
    signed = entry.headers["authorization"]
    assert signed.startswith("AWS4-HMAC-SHA256 ") and "AKIDWIRETEST" not in signed and "x-amz-date" in entry.headers


async def test_stream_of_chunks(emu: VendorEmulator, client: anthropic.AsyncAnthropicBedrock) -> None:
    tool = ScriptedToolCall("get_weather", {"city": "Paris"})
    emu.script(Reply(text="abcdefghij", chunk_size=4, tool_calls=(tool,), usage=ScriptedUsage(12, 3)), vendor=VENDOR)
    stream = await create(client, stream=True)
    got = [e async for e in stream]
    kinds = [e.type for e in got]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert "ping" not in kinds
    text = "".join(e.delta.text for e in got if e.type == "content_block_delta" and e.delta.type == "text_delta")
    arguments = "".join(e.delta.partial_json for e in got
                        if e.type == "content_block_delta" and e.delta.type == "input_json_delta")
    assert text == "abcdefghij" and json.loads(arguments) == {"city": "Paris"}
    assert got[-2].delta.stop_reason == "tool_use" and got[-2].usage.output_tokens == 3
    entry = emu.journal.last
    assert (entry.endpoint, entry.stream, entry.ended) == ("invoke_stream", True, "complete")
    assert entry.path == f"/model/{MODEL}/invoke-with-response-stream"


async def test_throttling_is_a_rate_limit_error(emu: VendorEmulator, client: anthropic.AsyncAnthropicBedrock) -> None:
    emu.script(Fault.rate_limited(3), vendor=VENDOR)
    with pytest.raises(anthropic.RateLimitError) as info:
        await create(client)
    error = info.value
    assert error.status_code == 429
    assert error.response.headers["x-amzn-errortype"].startswith("ThrottlingException:")
    assert error.response.headers["retry-after"] == "3"
    assert isinstance(error.body, dict) and error.body["message"]
    assert len(emu.journal.entries(vendor=VENDOR)) == 1  # retries off


async def test_in_stream_exception(emu: VendorEmulator, client: anthropic.AsyncAnthropicBedrock) -> None:
    emu.script(Fault.stream_error(2, "throttlingException", "slow down", reply=Reply(text="abcdefgh", chunk_size=2)),
               vendor=VENDOR)
    stream = await create(client, stream=True)
    texts: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as info:
        async for event in stream:
            if event.type == "content_block_delta":
                texts.append(event.delta.text)
    body = info.value.body  # the SDK's decoder turns the exception message into an `error` event
    assert isinstance(body, dict) and body["error"] == {"type": "throttlingException", "message": "slow down"}
    assert texts == ["ab", "cd"]


async def test_closing_a_stream_disconnects(emu: VendorEmulator, client: anthropic.AsyncAnthropicBedrock) -> None:
    emu.script(Reply(text="x" * 400, chunk_size=1, chunk_delay=0.01), vendor=VENDOR)
    stream = await create(client, stream=True)
    async for event in stream:
        if event.type == "content_block_delta":
            break
    await stream.close()
    entry = await emu.journal.await_disconnected(emu.journal.last)
    assert entry.ended == "disconnected" and entry.frames_sent < 400


async def test_count_tokens_is_refused_before_any_request(emu: VendorEmulator,
                                                          client: anthropic.AsyncAnthropicBedrock) -> None:
    with pytest.raises(anthropic.AnthropicError, match="not supported in Bedrock"):
        await client.messages.count_tokens(model=MODEL, messages=HI)  # type: ignore[arg-type]
    assert len(emu.journal) == 0


async def test_routes_beside_converse(emu: VendorEmulator) -> None:
    """Invoke paths reach this wire, Converse paths the Converse wire; a Messages body with
    ``model`` in it is rejected the way Bedrock does."""
    auth = {"authorization": "Bearer bedrock-api-key"}
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "messages": HI}
    async with httpx2.AsyncClient(base_url=emu.url, headers=auth) as http:
        ok = await http.post(f"/model/{MODEL}/invoke", json=body)
        converse = await http.post(f"/model/{MODEL}/converse",
                                   json={"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        bad = await http.post(f"/model/{MODEL}/invoke", json={**body, "model": MODEL})
    assert ok.status_code == 200 and ok.json()["type"] == "message"
    assert converse.status_code == 200 and "output" in converse.json()
    assert bad.status_code == 400 and bad.headers["x-amzn-errortype"].startswith("ValidationException")
    assert "extraneous key [model]" in bad.json()["message"]
    assert [e.vendor for e in emu.journal.entries()] == [VENDOR, "bedrock", VENDOR]
