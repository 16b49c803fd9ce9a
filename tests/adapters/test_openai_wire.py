"""OpenAI streams decoded from the wire (``openai_wire`` + ``sse``) behave exactly as the SDK's own
stream path: the same domain events, the same errors, for every scripted answer and fault; and the
SSE decoder splits any body, however it is chunked, as the SDK's decoder does."""

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
from llmport.adapters.openai_wire import _frame
from llmport.adapters.sse import DONE, Frame, SSEDecoder
from llmport.adapters.testing.emulator import Reply, VendorEmulator
from llmport.domain import CompletionRequest, Message

from .wire_parity import outcome, scenarios

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
    sdk.wire_streams = False
    yield wire, sdk
    await client.close()


def _request(**fields: Any) -> CompletionRequest:
    return CompletionRequest(model="gpt-4o-wire", messages=[Message.user("Hello there")], **fields)


SCENARIOS = scenarios("server_error", "rate_limit_exceeded")


@pytest.mark.parametrize(("name", "step", "fields"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
async def test_wire_stream_matches_the_sdk_path(pair: tuple[Any, Any], emu: VendorEmulator, name: str, step: Any,
                                                fields: dict[str, Any]) -> None:
    wire, sdk = pair
    outcomes = []
    for adapter in (wire, sdk):
        emu.reset()
        emu.script(step, vendor="openai")
        outcomes.append(await outcome(adapter, _request(**fields)))
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
