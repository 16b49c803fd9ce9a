"""OpenAI streams and whole replies decoded from the wire (``openai_wire`` + ``sse``) behave exactly as
the SDK's own path: the same domain events and completions, the same errors, for every scripted
answer and fault; and the SSE decoder splits any body, however it is chunked, as the SDK's decoder
does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai._streaming import SSEDecoder as SDKDecoder

from llmport.adapters.openai import OpenAIAdapter, OpenAIOptions
from llmport.adapters.openai_quirks import QUIRKS
from llmport.adapters.openai_wire import _frame
from llmport.adapters.sse import DONE, Frame, SSEDecoder
from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator
from llmport.domain import CompletionRequest, Message, ProviderUnavailable

from .wire_parity import complete_outcome, on_both, outcome, scenarios

KEY = "sk-test-wire-secret-0123456789"


# --- the SSE decoder -------------------------------------------------------------------------
def _sdk_events(body: bytes) -> list[tuple[str | None, bytes]]:
    return [(e.event, e.data.encode()) for e in SDKDecoder().iter_bytes(iter([body]))]


def _ours(chunks: list[bytes]) -> list[tuple[str | None, bytes]]:
    decoder = SSEDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def _split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    pieces, start = [], 0
    for p in points:
        pieces.append(body[start:p])
        start = p
    pieces.append(body[start:])
    return [p for p in pieces if p]


_LINE = st.one_of(
    st.builds(lambda v: b"data: " + v, st.sampled_from([b'{"a":1}', b"[DONE]", b"", b"x y", b" lead"])),
    st.builds(lambda v: b"data:" + v, st.sampled_from([b"{}", b"no-space"])),
    st.builds(lambda v: b"event: " + v, st.sampled_from([b"response.output_text.delta", b"error", b""])),
    st.sampled_from([b": a comment", b"id: 7", b"retry: 100", b"retry: soon", b"unknown: field", b"data"]),
)
_EOL = st.sampled_from([b"\n", b"\r\n", b"\r"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(st.tuples(_LINE, _EOL), max_size=4), _EOL), max_size=6),
       st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_decoder_agrees_with_the_sdk_however_the_body_is_chunked(events: Any, cuts: list[int]) -> None:
    body = b"".join(b"".join(line + eol for line, eol in lines) + end for lines, end in events)
    assert _ours(_split(body, cuts)) == _sdk_events(body)


def test_crlf_split_across_reads_ends_one_line() -> None:
    assert _ours([b"data: a\r", b"\n\r", b"\n"]) == [(None, b"a")]


def test_multiline_data_joins_and_pending_event_at_end_is_dropped() -> None:
    assert _ours([b"event: e\ndata: a\ndata: b\n\n", b"data: tail"]) == [("e", b"a\nb")]


def test_frame_reads_like_an_sdk_model() -> None:
    frame = Frame({"choices": [{"delta": {"content": "hi", "reasoning_content": "r"}}], "usage": None})
    delta = frame.choices[0].delta
    assert (delta.content, delta.refusal, delta.model_extra["reasoning_content"], frame.usage) == ("hi", None, "r",
                                                                                                   None)
    assert "choices" in repr(frame)


# --- parity with the SDK path, over the emulator -----------------------------------------------
@pytest.fixture(params=["chat", "responses"])
async def pair(request: pytest.FixtureRequest, emu: VendorEmulator) -> AsyncIterator[tuple[Any, Any]]:
    """(wire adapter, SDK-path adapter), same options."""
    client = openai.AsyncOpenAI(api_key=KEY, base_url=f"{emu.url}/v1", max_retries=0)
    wire = OpenAIAdapter(client, options=OpenAIOptions(api=request.param))
    sdk = OpenAIAdapter(client, options=OpenAIOptions(api=request.param))
    sdk.wire_streams = sdk.wire_replies = False
    yield wire, sdk
    await client.close()


def _request(**fields: Any) -> CompletionRequest:
    return CompletionRequest(model="gpt-4o-wire", messages=[Message.user("Hello there")], **fields)


SCENARIOS = scenarios("server_error", "rate_limit_exceeded")


@pytest.mark.parametrize(("name", "step", "fields"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
async def test_wire_stream_matches_the_sdk_path(pair: tuple[Any, Any], emu: VendorEmulator, name: str, step: Any,
                                                fields: dict[str, Any]) -> None:
    outcomes = await on_both(pair, emu, "openai", step, _request(**fields), outcome)
    assert outcomes[0] == outcomes[1]
    events, error = outcomes[0]
    assert events or error  # every scenario yields something to compare


async def test_done_drains_so_the_connection_is_reused(pair: tuple[Any, Any], emu: VendorEmulator) -> None:
    wire, _ = pair
    emu.script(then=Reply(text="again and again", chunk_size=3), vendor="openai")
    for _ in range(3):
        events, error = await outcome(wire, _request())
        assert error is None and events
    assert len(emu.journal.entries(vendor="openai")) == 3


def test_frame_policy_raises_as_the_sdk_stream_does() -> None:
    """``[DONE]`` ends; a ``data: {"error": ...}`` frame is ``openai.APIError`` with that body; a frame
    that is not a JSON object is ``json.JSONDecodeError`` (mapped as a malformed reply)."""
    response = httpx2.Response(200, request=httpx2.Request("POST", "http://x"))
    assert _frame(None, b"[DONE]", response) is DONE
    assert _frame("thread.run", b'{"error": {"message": "kept"}}', response) == {"error": {"message": "kept"}}
    with pytest.raises(openai.APIError) as caught:
        _frame(None, json.dumps({"error": {"message": "no", "code": "server_error"}}).encode(), response)
    assert caught.value.code == "server_error" and caught.value.message == "no"
    with pytest.raises(openai.APIError, match="An error occurred during streaming"):
        _frame(None, b'{"error": "flat"}', response)
    for bad in (b"[1, 2]", b'"\xff"', b'{"a": '):
        with pytest.raises(json.JSONDecodeError):
            _frame(None, bad, response)


# --- whole replies: parity with the SDK path ---------------------------------------------------
@pytest.mark.parametrize(("name", "step", "fields"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
async def test_wire_reply_matches_the_sdk_path(pair: tuple[Any, Any], emu: VendorEmulator, name: str, step: Any,
                                               fields: dict[str, Any]) -> None:
    outcomes = await on_both(pair, emu, "openai", step, _request(**fields), complete_outcome)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] != (None, None)


def _chat_body(message: Any = None, **fields: Any) -> str:
    choice: dict[str, Any] = {"index": 0, "finish_reason": fields.pop("finish_reason", "stop")}
    if message is not None:
        choice["message"] = message
    return json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o-wire",
                       "choices": [choice], **fields})


#: Chat Completions bodies the emulator's script model cannot produce, read the same by both paths.
CHAT_BODIES = {
    "refusal": _chat_body({"role": "assistant", "content": None, "refusal": "I can't help with that."}),
    "filtered, no message": _chat_body(finish_reason="content_filter"),
    "no message": _chat_body(finish_reason="stop"),
    "no choices": json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "choices": []}),
    "deepseek cache hits": _chat_body(
        {"role": "assistant", "content": "4", "reasoning_content": "2+2"},
        usage={"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110, "prompt_cache_hit_tokens": 64,
               "prompt_cache_miss_tokens": 36, "completion_tokens_details": {"reasoning_tokens": 3}}),
    "openrouter reasoning": _chat_body({"role": "assistant", "content": "ok", "reasoning": "thought"}),
    "custom tool call": _chat_body({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "custom", "custom": {"name": "g", "input": "x"}},
        {"id": "c2", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": 1}"}}]},
        finish_reason="tool_calls"),
    "error object": json.dumps({"error": {"message": "upstream failed", "type": "server_error"}}),
}


@pytest.mark.parametrize("body", list(CHAT_BODIES.values()), ids=list(CHAT_BODIES))
async def test_chat_bodies_read_as_on_the_sdk_path(emu: VendorEmulator, body: str) -> None:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=f"{emu.url}/v1", max_retries=0)
    wire, sdk = OpenAIAdapter(client), OpenAIAdapter(client)
    sdk.wire_replies = False
    outcomes = []
    for adapter in (wire, sdk):
        emu.script(Fault.raw(body, headers={"x-request-id": "req_from_header"}), vendor="openai")
        outcomes.append(await complete_outcome(adapter, _request()))
    await client.close()
    assert outcomes[0] == outcomes[1]


def _response_body(*output: dict[str, Any], **fields: Any) -> str:
    return json.dumps({"id": "resp_1", "object": "response", "created_at": 0, "model": "gpt-4o-wire",
                       "status": fields.pop("status", "completed"), "output": list(output), **fields})


def _said(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": list(content)}


#: Responses API bodies the emulator's script model cannot produce, read the same by both paths.
RESPONSES_BODIES = {
    "refusal": _response_body(_said({"type": "refusal", "refusal": "I can't help with that."})),
    "text and refusal": _response_body(_said({"type": "output_text", "text": "Partly. ", "annotations": []},
                                             {"type": "refusal", "refusal": "No more."})),
    "unknown content": _response_body(_said({"type": "output_audio", "data": "x"})),
    "unknown item": _response_body({"type": "web_search_call", "id": "ws_1", "status": "completed"}),
    "incomplete": _response_body(_said({"type": "output_text", "text": "cut", "annotations": []}),
                                 status="incomplete", incomplete_details={"reason": "max_output_tokens"}),
    "no status": json.dumps({"id": "resp_1", "object": "response", "model": "m", "output": []}),
    "reasoning content": _response_body({"type": "reasoning", "id": "rs_1", "summary": [],
                                         "content": [{"type": "reasoning_text", "text": "raw thought"}]}),
}


@pytest.mark.parametrize("body", list(RESPONSES_BODIES.values()), ids=list(RESPONSES_BODIES))
async def test_responses_bodies_read_as_on_the_sdk_path(emu: VendorEmulator, body: str) -> None:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=f"{emu.url}/v1", max_retries=0)
    wire = OpenAIAdapter(client, options=OpenAIOptions(api="responses"))
    sdk = OpenAIAdapter(client, options=OpenAIOptions(api="responses"))
    sdk.wire_replies = False
    outcomes = []
    for adapter in (wire, sdk):
        emu.script(Fault.raw(body), vendor="openai")
        outcomes.append(await complete_outcome(adapter, _request()))
    await client.close()
    assert outcomes[0] == outcomes[1]


async def test_a_responses_refusal_is_a_content_filter_stop(emu: VendorEmulator) -> None:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=f"{emu.url}/v1", max_retries=0)
    adapter = OpenAIAdapter(client, options=OpenAIOptions(api="responses"))
    emu.script(Fault.raw(RESPONSES_BODIES["text and refusal"]), vendor="openai")
    completion = await adapter.complete(_request())
    emu.script(Fault.raw(RESPONSES_BODIES["unknown content"]), vendor="openai")
    with pytest.raises(ProviderUnavailable, match="message content of unknown type 'output_audio'"):
        await adapter.complete(_request())
    emu.script(Fault.raw(RESPONSES_BODIES["unknown item"]), vendor="openai")
    with pytest.raises(ProviderUnavailable, match="output item of unknown type 'web_search_call'"):
        await adapter.complete(_request())
    await client.close()
    assert completion.text == "Partly. No more."
    assert (completion.stop_reason.kind, completion.stop_reason.raw) == ("content_filter", "refusal")


async def test_perplexity_fields_are_kept(emu: VendorEmulator) -> None:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=f"{emu.url}/v1", max_retries=0)
    found = {"citations": ["https://a.example"], "search_results": [{"title": "A", "url": "https://a.example"}]}
    emu.script(Reply(text="cited", extra_fields=found), vendor="openai")
    completion = await OpenAIAdapter(client, options=OpenAIOptions(quirks=QUIRKS["perplexity"])).complete(_request())
    emu.script(Reply(text="plain", extra_fields=found), vendor="openai")
    plain = await OpenAIAdapter(client).complete(_request())  # no quirks: nothing kept
    await client.close()
    assert dict(completion.extras) == found and completion.text == "cited"
    assert dict(plain.extras) == {}


#: Bodies that are not a JSON object, whatever their content type: the provider's failure (failover-eligible),
#: named as the SDK path names a JSON body it cannot decode.
BROKEN = {
    "empty": (b"", "application/json", "Expecting value"),
    "truncated": (b'{"id": ', "application/json", "Expecting value"),
    "array": (b"[1, 2]", "application/json", "the reply is not a JSON object"),
    "scalar": (b"7", "application/json", "the reply is not a JSON object"),
    "null": (b"null", "application/json", "the reply is not a JSON object"),
    "not JSON": (b"<html>bad gateway</html>", "text/html", "Expecting value"),
    "bad UTF-8": (b'{"id": "\xff"}', "application/json", "the reply is not UTF-8"),
}


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize(("body", "media", "cause"), list(BROKEN.values()), ids=list(BROKEN))
async def test_a_body_that_is_not_a_json_object_is_the_providers_failure(emu: VendorEmulator, api: str, body: bytes,
                                                                         media: str, cause: str) -> None:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=f"{emu.url}/v1", max_retries=0)
    emu.script(Fault.raw(body, media_type=media), vendor="openai")
    with pytest.raises(ProviderUnavailable) as info:
        await OpenAIAdapter(client, options=OpenAIOptions(api=api)).complete(_request())  # type: ignore[arg-type]
    await client.close()
    error = info.value
    assert error.failover and error.__cause__ is None and error.__context__ is None
    assert error.message == f"the provider sent a malformed response: {cause}"
