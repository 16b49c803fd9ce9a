"""SSE frames for browsers: every event type round-trips, a standard parser reads them, errors end
the stream with the partial text, and a browser that goes away closes the upstream connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmport.adapters.eventsource import (
    ServerSentEvent,
    decode_frames,
    encode_event,
    encode_events,
    parse_event_stream,
    sse_stream,
)
from llmport.adapters.testing import FakeLLM, FakeReply
from llmport.adapters.testing.emulator import Reply, VendorEmulator
from llmport.domain import (
    Completion,
    CompletionRequest,
    InvalidRequest,
    LLMError,
    Message,
    RateLimited,
    ReasoningPart,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallPart,
    Usage,
    completion_events,
)

from ..contract.conftest import HARNESSES

# Text with what breaks naive framing: newlines of every kind, colons, a leading space, unicode.
texts = st.lists(st.sampled_from(["a", "é", " ", ":", "\n", "\r", "\r\n", "data: x", "🙂", "\u2028"]),
                 max_size=12).map("".join)
parts = st.one_of(
    texts.filter(bool).map(TextPart),
    st.builds(ReasoningPart, texts, st.one_of(st.none(), st.text(min_size=1, max_size=8)),
              st.sampled_from(["anthropic", "openai", None]), st.booleans()),
    st.builds(lambda i, n, a: ToolCallPart(f"call_{i}", n, {"q": a}), st.integers(0, 99),
              st.sampled_from(["lookup", "search"]), texts),
)
completions = st.builds(
    lambda ps, kind, usage, cost: Completion(tuple(ps), StopReason(kind, "raw:" + kind), usage, "p", "m", "r1",
                                             cost=cost, request_cost=cost),
    st.lists(parts, max_size=5),
    st.sampled_from(["end_turn", "max_tokens", "tool_use", "content_filter", "other"]),
    st.builds(Usage, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 9), st.integers(0, 9),
              st.integers(0, 9), st.booleans()),
    st.one_of(st.none(), st.decimals(min_value=0, max_value=10, places=9, allow_nan=False)),
)


def frames_of(events: list[StreamEvent], *, reasoning: bool = True) -> bytes:
    out = [encode_event(e, i, reasoning=reasoning) for i, e in enumerate(events)]
    return b"".join(f for f in out if f is not None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(completions, st.integers(1, 7))
def test_every_event_type_round_trips(completion: Completion, chunk: int) -> None:
    events = list(completion_events(completion, chunk))
    decoded = list(decode_frames(parse_event_stream(frames_of(events).decode())))
    assert decoded == events
    # Costs are exact decimals, not floats.
    assert [getattr(e, "cost", None) for e in decoded] == [getattr(e, "cost", None) for e in events]


@settings(max_examples=30, deadline=None)
@given(completions)
def test_a_standard_eventsource_parser_reads_the_frames(completion: Completion) -> None:
    """The openai SDK's SSE decoder (an independent implementation of the same rules) sees the
    same events, names, data and ids."""
    from openai._streaming import SSEDecoder

    events = list(completion_events(completion, 3))
    raw = frames_of(events)
    theirs = [(s.event, s.data, s.id) for s in SSEDecoder().iter_bytes(iter([raw]))]
    ours = [(s.event, s.data, s.id) for s in parse_event_stream(raw.decode())]
    assert theirs == ours
    assert len(ours) == len(events)


def test_reasoning_is_left_out_unless_asked() -> None:
    completion = Completion((ReasoningPart("thinking", "sig", "anthropic"), TextPart("hi")), StopReason("end_turn"))
    events = list(completion_events(completion))
    names = [f.event for f in parse_event_stream(frames_of(events, reasoning=False).decode())]
    assert names == ["text", "usage", "done"]
    names = [f.event for f in parse_event_stream(frames_of(events, reasoning=True).decode())]
    assert names == ["reasoning", "reasoning", "text", "usage", "done"]


# --- the parser follows the EventSource rules ------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("data: a\n\n", [("message", "a", "")]),
    ("data:a\r\rdata:  b\r\n\r\n", [("message", "a", ""), ("message", " b", "")]),
    ("event: x\ndata: 1\ndata: 2\n\n", [("x", "1\n2", "")]),
    (": comment\nid: 7\ndata: a\n\ndata: b\n\n", [("message", "a", "7"), ("message", "b", "7")]),
    ("id: a\0b\ndata: a\n\n", [("message", "a", "")]),
    ("event: only-a-name\n\n", []),
    ("data: unterminated\n", []),
    ("data\n\n", [("message", "", "")]),
    ("\ufeffdata: bom\n\n", [("message", "bom", "")]),
    ("unknown: field\ndata: z\n\n", [("message", "z", "")]),
])
def test_parser_rules(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert [(e.event, e.data, e.id) for e in parse_event_stream(text)] == expected


def test_retry_is_read_only_when_all_digits() -> None:
    assert parse_event_stream("retry: 1500\ndata: a\n\n")[0].retry == 1500
    assert parse_event_stream("retry: 15x\ndata: a\n\n")[0].retry is None


# --- errors ------------------------------------------------------------------------------------
def request(text: str = "hello") -> CompletionRequest:
    return CompletionRequest(model="fake", messages=[Message.user(text)])


async def collect(frames: Any) -> list[ServerSentEvent]:
    return parse_event_stream(b"".join([f async for f in frames]).decode())


async def test_a_stream_failing_after_output_ends_with_an_error_frame_holding_the_partial_text() -> None:
    fake = FakeLLM(FakeReply("abcdefgh", chunk_size=2, fail_after=3, error=RateLimited("slow down", retry_after=2)))
    frames = await collect(sse_stream(fake.as_policy(), request()))
    assert [f.event for f in frames] == ["text", "text", "text", "error"]
    error = decode_frames(frames[-1:])
    (exc,) = list(error)
    assert isinstance(exc, LLMError)
    body = frames[-1].data
    assert '"partial_text":"abcdef"' in body
    assert '"type":"StreamInterrupted"' in body


async def test_a_request_failing_before_any_output_is_one_error_frame() -> None:
    fake = FakeLLM(InvalidRequest("max_tokens must be positive", field="max_tokens"))
    frames = await collect(sse_stream(fake.as_policy(), request()))
    assert [f.event for f in frames] == ["error"]
    assert '"type":"InvalidRequest"' in frames[0].data and '"partial_text":""' in frames[0].data


async def test_an_adapter_error_mid_iteration_uses_the_accumulated_text() -> None:
    async def events() -> Any:
        yield TextDelta("so far")
        raise RateLimited("later")

    frames = await collect(encode_events(events()))
    assert [f.event for f in frames] == ["text", "error"]
    assert '"partial_text":"so far"' in frames[1].data and '"retryable":true' in frames[1].data


async def test_credentials_never_reach_a_frame() -> None:
    key = "sk-proj-" + "A1b2C3d4" * 6
    fake = FakeLLM(RateLimited(f"upstream said: bad key {key}"))
    frames = await collect(sse_stream(fake.as_policy(), request()))
    assert key not in frames[0].data


# --- a browser that goes away closes the upstream --------------------------------------------------
@pytest.mark.parametrize("harness", [h for h in HARNESSES if h.name in ("openai-chat", "anthropic")],
                         ids=lambda h: h.name)
async def test_closing_the_frames_closes_the_upstream_connection(harness: Any, emu: VendorEmulator) -> None:
    emu.script(Reply(text="word " * 400, chunk_size=4, chunk_delay=0.02), vendor=harness.vendor)
    llm = harness.build(emu.url)
    try:
        frames = sse_stream(llm, CompletionRequest(model=harness.model, messages=[Message.user("hi")]))
        first = await anext(frames)
        assert first.startswith(b"id: 0\nevent: text\n")
        await frames.aclose()  # what Starlette does when the client disconnects
        entry = emu.journal.entries(vendor=harness.vendor)[0]
        await emu.journal.await_disconnected(entry)
        assert entry.ended == "disconnected"
    finally:
        await llm.aclose()


async def test_starlette_streaming_response_serves_the_frames() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from llmport.adapters.eventsource import SSE_HEADERS

    llm = FakeLLM(FakeReply("Hello browser", chunk_size=5)).as_policy()

    async def chat(req: Request) -> StreamingResponse:
        body = await req.json()
        return StreamingResponse(sse_stream(llm, request(body["prompt"])), headers=SSE_HEADERS)

    app = Starlette(routes=[Route("/chat", chat, methods=["POST"])])
    status, content_type, text = await asyncio.to_thread(_post, TestClient(app))
    assert status == 200 and content_type.startswith("text/event-stream")
    events = list(decode_frames(parse_event_stream(text)))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello browser"


def _post(client: Any) -> tuple[int, str, str]:
    with client:
        r = client.post("/chat", json={"prompt": "hi"})
        return r.status_code, r.headers["content-type"], r.text
