"""Anthropic streams and whole replies decoded from the wire (``anthropic_wire``, ``sse.read_reply``)
behave exactly as the SDK's own path: the same domain events, completions and errors for every
scripted answer and fault; the frame policy skips and raises as the SDK's stream does; Claude on
Bedrock keeps the SDK path for streams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
import pytest

from llmport.adapters.anthropic import AnthropicAdapter
from llmport.adapters.anthropic_wire import _policy, speaks_sse
from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator
from llmport.domain import CompletionRequest, Message, ProviderUnavailable

from .wire_parity import complete_outcome, on_both, outcome, scenarios

KEY = "sk-ant-test-wire-secret-0123456789"


@pytest.fixture
async def pair(emu: VendorEmulator) -> AsyncIterator[tuple[Any, Any]]:
    """(wire adapter, SDK-path adapter) over one client."""
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url=emu.url, max_retries=0)
    wire = AnthropicAdapter(client)
    sdk = AnthropicAdapter(client)
    sdk.wire_streams = sdk.wire_replies = False
    yield wire, sdk
    await client.close()


def _request(**fields: Any) -> CompletionRequest:
    return CompletionRequest(model="claude-wire", messages=[Message.user("Hello there")], max_tokens=512, **fields)


SCENARIOS = scenarios("overloaded_error", "rate_limit_error")


@pytest.mark.parametrize(("name", "step", "fields"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
async def test_wire_stream_matches_the_sdk_path(pair: tuple[Any, Any], emu: VendorEmulator, name: str, step: Any,
                                                fields: dict[str, Any]) -> None:
    outcomes = await on_both(pair, emu, "anthropic", step, _request(**fields), outcome)
    assert outcomes[0] == outcomes[1]
    events, error = outcomes[0]
    assert events or error


async def test_streams_reuse_the_connection(pair: tuple[Any, Any], emu: VendorEmulator) -> None:
    wire, _ = pair
    emu.script(then=Reply(text="again and again", chunk_size=3), vendor="anthropic")
    for _ in range(3):
        events, error = await outcome(wire, _request())
        assert error is None and events
    assert len(emu.journal.entries(vendor="anthropic")) == 3


def test_frame_policy_skips_and_raises_as_the_sdk_stream_does() -> None:
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url="http://127.0.0.1:9", max_retries=0)
    frame = _policy(client)
    response = httpx2.Response(200, request=httpx2.Request("POST", "http://x"))
    assert frame("ping", b"{}", response) is None
    assert frame(None, b'{"type": "x"}', response) is None
    assert frame("message_stop", b"", response) is None
    assert frame("message_stop", b'{"type": "message_stop"}', response) == {"type": "message_stop"}
    with pytest.raises(anthropic.APIStatusError) as caught:
        frame("error", json.dumps({"type": "error", "error": {"type": "overloaded_error"}}).encode(), response)
    assert caught.value.status_code == 200 and caught.value.type == "overloaded_error"
    with pytest.raises(anthropic.APIStatusError, match="not json"):
        frame("error", b"not json", response)
    with pytest.raises(anthropic.APIStatusError, match="Error code: 200"):
        frame("error", b"", response)
    with pytest.raises(json.JSONDecodeError):
        frame("content_block_delta", b'{"type": ', response)


def test_only_plain_sse_clients_take_the_wire_path() -> None:
    assert speaks_sse(anthropic.AsyncAnthropic(api_key=KEY))
    bedrock = anthropic.AsyncAnthropicBedrock(aws_access_key="a", aws_secret_key="b", aws_region="us-east-1")
    assert not speaks_sse(bedrock)


# --- whole replies ----------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "step", "fields"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
async def test_wire_reply_matches_the_sdk_path(pair: tuple[Any, Any], emu: VendorEmulator, name: str, step: Any,
                                               fields: dict[str, Any]) -> None:
    outcomes = await on_both(pair, emu, "anthropic", step, _request(**fields), complete_outcome)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] != (None, None)


def _message(*blocks: dict[str, Any], **fields: Any) -> str:
    return json.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-wire",
                       "content": list(blocks), "stop_reason": fields.pop("stop_reason", "end_turn"),
                       "stop_sequence": None, **fields})


#: Messages the emulator's script model cannot produce, read the same by both paths.
MESSAGES = {
    "redacted thinking": _message({"type": "redacted_thinking", "data": "opaque"}, {"type": "text", "text": "ok"}),
    "thinking": _message({"type": "thinking", "thinking": "hmm", "signature": "sig"}, {"type": "text", "text": "ok"}),
    "stop sequence": _message({"type": "text", "text": "cut"}, stop_reason="stop_sequence", stop_sequence="END"),
    "refusal": _message(stop_reason="refusal"),
    "cache usage": _message({"type": "text", "text": "ok"}, usage={
        "input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 40, "cache_creation_input_tokens": 7}),
    "unknown block": _message({"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}}),
    "no content": json.dumps({"id": "msg_1", "type": "message", "model": "claude-wire", "stop_reason": "end_turn"}),
}


@pytest.mark.parametrize("body", list(MESSAGES.values()), ids=list(MESSAGES))
async def test_messages_read_as_on_the_sdk_path(pair: tuple[Any, Any], emu: VendorEmulator, body: str) -> None:
    outcomes = []
    for adapter in pair:
        emu.script(Fault.raw(body), vendor="anthropic")
        outcomes.append(await complete_outcome(adapter, _request()))
    assert outcomes[0] == outcomes[1]


BROKEN = {
    "empty": (b"", "application/json"),
    "array": (b"[1, 2]", "application/json"),
    "not JSON": (b"<html>bad gateway</html>", "text/html"),
    "bad UTF-8": (b'{"id": "\xff"}', "application/json"),
}


@pytest.mark.parametrize(("body", "media"), list(BROKEN.values()), ids=list(BROKEN))
async def test_a_body_that_is_not_a_json_object_is_the_providers_failure(pair: tuple[Any, Any], emu: VendorEmulator,
                                                                         body: bytes, media: str) -> None:
    wire, _ = pair
    emu.script(Fault.raw(body, media_type=media), vendor="anthropic")
    with pytest.raises(ProviderUnavailable) as info:
        await wire.complete(_request())
    error = info.value
    assert error.failover and error.__cause__ is None and error.__context__ is None
    assert error.message == "malformed response from the provider: JSONDecodeError"
