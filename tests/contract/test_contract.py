"""The LLMPort contract: the same scenarios, through every adapter's real SDK, against the emulator.

Each harness (``harness_<family>.py``) builds an adapter over a real SDK client pointed at the
emulator; ``emu.script(...)`` decides the vendor's answers, and the journal shows what went over
the wire. A scenario a vendor cannot express is skipped by a capability flag on ``Harness``.
Append new scenarios at the end of the file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmport.adapters.testing.emulator import Fault, Reply, ScriptedToolCall, ScriptedUsage, VendorEmulator
from llmport.domain import (
    AuthenticationFailed,
    Completion,
    CompletionRequest,
    ConnectionFailed,
    ContextLengthExceeded,
    InvalidRequest,
    LLMError,
    Message,
    ModelNotFound,
    Overloaded,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
    ReasoningConfig,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    Timeout,
    ToolCallPart,
    ToolChoice,
    ToolSpec,
    Usage,
    UsageUpdate,
    accumulate,
)
from llmport.ports import LLMPort

from .harness import Harness

WEATHER = ToolSpec("get_weather", "Current weather for a city",
                   {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
LONG_TEXT = "The quick brown fox jumps over the lazy dog, again and again, until the stream is cut."


@pytest.fixture
async def llm(harness: Harness, emu: VendorEmulator) -> AsyncIterator[LLMPort]:
    adapter = harness.build(emu.url)
    yield adapter
    await adapter.aclose()


def request(h: Harness, text: str = "Hello there", **kw: Any) -> CompletionRequest:
    return CompletionRequest(model=h.model, messages=[Message.user(text)], **kw)


async def stream_events(llm: LLMPort, req: CompletionRequest) -> list[StreamEvent]:
    async with llm.stream(req) as events:
        return [e async for e in events]


def same_answer(streamed: Completion, whole: Completion) -> None:
    """fold(stream) == complete, apart from the response id (each call gets its own)."""
    assert streamed.response_id and whole.response_id
    assert dataclasses.replace(streamed, response_id=None) == dataclasses.replace(whole, response_id=None)


def calls(emu: VendorEmulator, h: Harness) -> list[Any]:
    return emu.journal.entries(vendor=h.vendor)


# --- answers ---------------------------------------------------------------------------------
async def test_complete_text(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    emu.script(Reply(text="Hello! How can I help?", usage=ScriptedUsage(12, 7)), vendor=harness.vendor)
    completion = await llm.complete(request(harness))
    assert completion.text == "Hello! How can I help?"
    assert completion.stop_reason.kind == "end_turn"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (12, 7)
    assert completion.tool_calls == ()
    assert completion.timing.total is not None and completion.timing.total > 0
    assert len(calls(emu, harness)) == 1
    assert "Hello there" in json.dumps(calls(emu, harness)[0].body)


async def test_stream_folds_to_complete(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    reply = Reply(text="Streaming works, chunk by chunk, to the very end.", chunk_size=5, usage=ScriptedUsage(9, 11))
    emu.script(reply, reply, vendor=harness.vendor)
    whole = await llm.complete(request(harness))
    events = await stream_events(llm, request(harness))
    assert sum(isinstance(e, TextDelta) for e in events) > 3
    assert isinstance(events[-1], StreamEnd) and isinstance(events[-2], UsageUpdate)
    assert sum(isinstance(e, StreamEnd) for e in events) == 1
    same_answer(accumulate(events), whole)
    assert whole.text == reply.text
    assert calls(emu, harness)[-1].stream is True


async def test_default_answer_echoes_prompt(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    completion = await llm.complete(request(harness, "ping the emulator"))
    assert "ping the emulator" in completion.text
    assert completion.usage.input_tokens > 0 and completion.usage.output_tokens > 0


async def test_tool_call(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    reply = Reply(tool_calls=(ScriptedToolCall("get_weather", {"city": "Paris"}),))
    emu.script(reply, reply, vendor=harness.vendor)
    req = request(harness, "Weather in Paris?", tools=[WEATHER], tool_choice=ToolChoice.AUTO)
    whole = await llm.complete(req)
    assert whole.stop_reason.kind == "tool_use"
    [call] = whole.tool_calls
    assert call.name == "get_weather" and dict(call.arguments) == {"city": "Paris"} and call.id
    events = await stream_events(llm, req)
    streamed = accumulate(events)
    assert [(c.name, dict(c.arguments)) for c in streamed.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert streamed.stop_reason.kind == "tool_use"
    assert "get_weather" in json.dumps(calls(emu, harness)[0].body)


async def test_text_and_two_tool_calls_stream_like_complete(harness: Harness, llm: LLMPort,
                                                            emu: VendorEmulator) -> None:
    reply = Reply(text="Checking both.", tool_calls=(
        ScriptedToolCall("get_weather", {"city": "Paris"}, id="call_a"),
        ScriptedToolCall("get_weather", {"city": "Oslo"}, id="call_b")))
    emu.script(reply, reply, vendor=harness.vendor)
    req = request(harness, "Weather in Paris and Oslo?", tools=[WEATHER])
    whole = await llm.complete(req)
    streamed = accumulate(await stream_events(llm, req))
    assert whole.text == "Checking both."
    assert [dict(c.arguments)["city"] for c in whole.tool_calls] == ["Paris", "Oslo"]
    assert [(c.name, dict(c.arguments)) for c in streamed.tool_calls] == [
        (c.name, dict(c.arguments)) for c in whole.tool_calls]
    assert streamed.text == whole.text


async def test_tool_result_is_sent_back(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    emu.script(Reply(text="It is 18 degrees in Paris."), vendor=harness.vendor)
    req = CompletionRequest(model=harness.model, tools=[WEATHER], messages=[
        Message.user("Weather in Paris?"),
        Message.assistant(tool_calls=[ToolCallPart("call_1", "get_weather", {"city": "Paris"})]),
        Message.tool_result("call_1", "18C and sunny"),
    ])
    completion = await llm.complete(req)
    assert completion.text == "It is 18 degrees in Paris."
    body = json.dumps(calls(emu, harness)[0].body)
    assert "18C and sunny" in body and "Paris" in body


async def test_reasoning(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    if not harness.reasoning:
        pytest.skip(f"{harness.name} returns no reasoning text")
    signature = "sig-opaque-123" if harness.reasoning_signature else None
    reply = Reply(text="42.", reasoning="Six times seven is forty-two.", reasoning_signature=signature)
    emu.script(reply, reply, Reply(text="ok"), vendor=harness.vendor)
    req = request(harness, "What is six times seven?", reasoning=ReasoningConfig("low"))
    whole = await llm.complete(req)
    assert whole.text == "42."
    [thought] = whole.reasoning
    assert thought.text == "Six times seven is forty-two."
    assert thought.provider == harness.reasoning_provider
    streamed = accumulate(await stream_events(llm, req))
    same_answer(streamed, whole)
    if harness.reasoning_signature:
        assert thought.signature
        follow_up = CompletionRequest(model=harness.model, reasoning=ReasoningConfig("low"), messages=[
            Message.user("What is six times seven?"), whole.to_message(), Message.user("And doubled?")])
        await llm.complete(follow_up)
        assert "sig-opaque-123" in json.dumps(calls(emu, harness)[-1].body)


async def test_usage_numbers(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    written = 30 if harness.cache_write_usage else 0
    reasoning = 50 if harness.reasoning_usage else 0
    usage = ScriptedUsage(input_tokens=1000, output_tokens=200, cached_input_tokens=600, cache_write_tokens=written,
                          reasoning_tokens=reasoning)
    reply = Reply(text="counted", usage=usage)
    emu.script(reply, reply, vendor=harness.vendor)
    expected = Usage(1000, 200, 600, written, reasoning)
    assert (await llm.complete(request(harness))).usage == expected
    events = await stream_events(llm, request(harness))
    assert [e.usage for e in events if isinstance(e, UsageUpdate)][-1] == expected


@pytest.mark.parametrize("stop", ["end_turn", "max_tokens", "stop_sequence", "tool_use", "content_filter"])
async def test_stop_reasons(harness: Harness, llm: LLMPort, emu: VendorEmulator, stop: Any) -> None:
    if stop == "stop_sequence" and not harness.stop_sequence:
        pytest.skip(f"{harness.name} reports a stop sequence as a natural end")
    tools = (ScriptedToolCall("get_weather", {"city": "Rome"}),) if stop == "tool_use" else ()
    reply = Reply(text="partial answer", tool_calls=tools, stop=stop)
    emu.script(reply, reply, vendor=harness.vendor)
    req = request(harness, tools=[WEATHER], max_tokens=50, stop=["STOP"] if harness.stop_sequence else ())
    assert (await llm.complete(req)).stop_reason.kind == stop
    assert accumulate(await stream_events(llm, req)).stop_reason.kind == stop


# --- failures --------------------------------------------------------------------------------
STATUS_FAULTS = [
    pytest.param(Fault.http(400), InvalidRequest, id="400"),
    pytest.param(Fault.http(401), AuthenticationFailed, id="401"),
    pytest.param(Fault.http(403), PermissionDenied, id="403"),
    pytest.param(Fault.http(404), ModelNotFound, id="404"),
    pytest.param(Fault.http(500), ProviderUnavailable, id="500"),
    pytest.param(Fault.http(503), ProviderUnavailable, id="503"),
    pytest.param(Fault.context_length(), ContextLengthExceeded, id="context-length"),
]


async def fail(llm: LLMPort, req: CompletionRequest, streaming: bool) -> LLMError:
    with pytest.raises(LLMError) as info:
        if streaming:
            await stream_events(llm, req)
        else:
            await llm.complete(req)
    return info.value


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(("fault", "expected"), STATUS_FAULTS)
async def test_status_errors(harness: Harness, llm: LLMPort, emu: VendorEmulator, fault: Fault,
                             expected: type[LLMError], streaming: bool) -> None:
    emu.script(fault, vendor=harness.vendor)
    error = await fail(llm, request(harness), streaming)
    assert type(error) is expected or (expected is ProviderUnavailable and isinstance(error, expected)), error
    assert error.status == fault.status
    assert error.provider and error.model == harness.model
    assert len(calls(emu, harness)) == 1  # the SDK did not retry


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_rate_limited_with_retry_after(harness: Harness, llm: LLMPort, emu: VendorEmulator,
                                             streaming: bool) -> None:
    emu.script(Fault.rate_limited(7), vendor=harness.vendor)
    error = await fail(llm, request(harness), streaming)
    assert isinstance(error, RateLimited) and error.retryable
    assert error.retry_after == pytest.approx(7.0)
    assert len(calls(emu, harness)) == 1


async def test_overloaded(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    if harness.overloaded_status is None:
        pytest.skip(f"{harness.name} has no overloaded status of its own")
    emu.script(Fault.http(harness.overloaded_status, "overloaded_error"), vendor=harness.vendor)
    error = await fail(llm, request(harness), False)
    assert isinstance(error, Overloaded) and error.retryable


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_hang_times_out(harness: Harness, llm: LLMPort, emu: VendorEmulator, streaming: bool) -> None:
    emu.script(Fault.hang(), vendor=harness.vendor)
    error = await fail(llm, request(harness, attempt_timeout=1.0), streaming)  # room for a first connect
    assert isinstance(error, Timeout) and error.retryable
    entry = calls(emu, harness)[0]
    await emu.journal.await_closed(entry)  # the timed-out attempt released its connection


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_connection_reset(harness: Harness, llm: LLMPort, emu: VendorEmulator, streaming: bool) -> None:
    emu.script(Fault.reset(), vendor=harness.vendor)
    error = await fail(llm, request(harness), streaming)
    assert isinstance(error, ConnectionFailed | ProviderUnavailable) and error.retryable
    assert len(calls(emu, harness)) == 1


async def test_cut_after_output_is_interrupted_with_partial(harness: Harness, llm: LLMPort,
                                                            emu: VendorEmulator) -> None:
    reply = Reply(text=LONG_TEXT, chunk_size=6)
    emu.script(Fault.cut(harness.lead_frames + 3, reply=reply), vendor=harness.vendor)
    seen: list[StreamEvent] = []
    with pytest.raises(StreamInterrupted) as info:
        async with llm.stream(request(harness)) as events:
            async for event in events:
                seen.append(event)
    partial = info.value.partial
    assert partial.text and LONG_TEXT.startswith(partial.text) and partial.text != LONG_TEXT
    assert partial.text == "".join(e.text for e in seen if isinstance(e, TextDelta))
    assert not any(isinstance(e, StreamEnd) for e in seen)
    assert info.value.cause is not None and info.value.cause.retryable


async def test_cut_before_output_is_a_plain_failure(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    emu.script(Fault.cut(0, reply=Reply(text=LONG_TEXT)), vendor=harness.vendor)
    error = await fail(llm, request(harness), True)
    assert not isinstance(error, StreamInterrupted)
    assert isinstance(error, ConnectionFailed | ProviderUnavailable) and error.retryable


async def test_stream_error_before_output(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    emu.script(Fault.stream_error(0, reply=Reply(text=LONG_TEXT)), vendor=harness.vendor)
    error = await fail(llm, request(harness), True)
    assert not isinstance(error, StreamInterrupted)
    assert isinstance(error, ProviderUnavailable | Overloaded) and error.retryable


async def test_stream_error_after_output(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    reply = Reply(text=LONG_TEXT, chunk_size=6)
    emu.script(Fault.stream_error(harness.lead_frames + 2, reply=reply), vendor=harness.vendor)
    error = await fail(llm, request(harness), True)
    assert isinstance(error, StreamInterrupted)
    assert error.partial.text and LONG_TEXT.startswith(error.partial.text)
    assert isinstance(error.cause, ProviderUnavailable | Overloaded)


async def test_in_stream_context_length_error(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    fault = Fault.stream_error(0, "context_length_exceeded", "This model's maximum context length is 8192 tokens",
                               reply=Reply(text=LONG_TEXT))
    emu.script(fault, vendor=harness.vendor)
    error = await fail(llm, request(harness), True)
    assert isinstance(error, ContextLengthExceeded) and not error.retryable


async def test_malformed_frame(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    reply = Reply(text=LONG_TEXT, chunk_size=6)
    emu.script(Fault.malformed(harness.lead_frames + 2, reply=reply), Fault.malformed(0, reply=reply),
               vendor=harness.vendor)
    after = await fail(llm, request(harness), True)
    assert isinstance(after, StreamInterrupted) and after.partial.text
    before = await fail(llm, request(harness), True)
    assert isinstance(before, ProviderUnavailable) and not isinstance(before, StreamInterrupted)


# --- cancellation and early exit -------------------------------------------------------------
async def test_cancelling_the_consumer_closes_the_connection(harness: Harness, llm: LLMPort,
                                                             emu: VendorEmulator) -> None:
    emu.script(Reply(text=LONG_TEXT * 4, chunk_size=4, chunk_delay=0.02), vendor=harness.vendor)
    first = asyncio.Event()

    async def consume() -> None:
        async with llm.stream(request(harness)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    entry = calls(emu, harness)[0]
    await emu.journal.await_disconnected(entry)
    assert entry.ended == "disconnected"


async def test_leaving_the_stream_early_closes_the_connection(harness: Harness, llm: LLMPort,
                                                              emu: VendorEmulator) -> None:
    emu.script(Reply(text=LONG_TEXT * 4, chunk_size=4, chunk_delay=0.02), vendor=harness.vendor)
    async with llm.stream(request(harness)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                break
    entry = calls(emu, harness)[0]
    await emu.journal.await_disconnected(entry)
    assert entry.frames_sent < harness.lead_frames + len(LONG_TEXT * 4) // 4


async def test_cancelling_complete_closes_the_connection(harness: Harness, llm: LLMPort,
                                                         emu: VendorEmulator) -> None:
    if not harness.cancels_blocked_call:
        pytest.skip(f"{harness.name}: the SDK call cannot be aborted while it waits for the response")
    emu.script(Fault.hang(), vendor=harness.vendor)
    task = asyncio.create_task(llm.complete(request(harness)))
    await emu.journal.await_for(lambda j: len(j.entries(vendor=harness.vendor)) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await emu.journal.await_disconnected(calls(emu, harness)[0])


# --- tokens and retries ----------------------------------------------------------------------
async def test_count_tokens(harness: Harness, llm: LLMPort, emu: VendorEmulator) -> None:
    if harness.exact_count_tokens:
        emu.script(Reply(usage=ScriptedUsage(input_tokens=42)), vendor=harness.vendor)
        assert await llm.count_tokens(request(harness)) == 42
        assert len(calls(emu, harness)) == 1
    else:
        short = await llm.count_tokens(request(harness, "hi"))
        longer = await llm.count_tokens(request(harness, "hi " * 400))
        assert 0 < short < longer
        assert calls(emu, harness) == []  # an estimate: no request went out


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_no_sdk_retries(harness: Harness, llm: LLMPort, emu: VendorEmulator, streaming: bool) -> None:
    emu.script(Fault.http(503), Fault.http(503), then=Reply(text="recovered"), vendor=harness.vendor)
    await fail(llm, request(harness), streaming)
    assert len(calls(emu, harness)) == 1
    await fail(llm, request(harness), streaming)
    assert len(calls(emu, harness)) == 2
    assert (await llm.complete(request(harness))).text == "recovered"
    assert len(calls(emu, harness)) == 3

