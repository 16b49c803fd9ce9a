"""OpenTelemetry spans and metrics with the SDK's in-memory exporter and metric reader: the span tree
and attributes of a success, a retry, a failover, a hedge, a stream cut after output and a
cancellation; the real OpenAI adapter against the emulator; no prompt text, no credential."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
from opentelemetry.trace import StatusCode

from llmport.adapters.testing.emulator import Reply, ScriptedUsage, VendorEmulator
from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.domain import (
    AllProvidersFailed,
    CompletionRequest,
    InvalidRequest,
    Message,
    ProviderUnavailable,
    StreamInterrupted,
    TextDelta,
)
from llmport.ports import HedgeConfig, Route

from .otel_kit import ANSWER, PROMPT, Otel, ask, no_prompt_anywhere, stack


async def test_success_is_a_request_span_with_one_attempt_child(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=ANSWER, name="p1")))
    await llm.complete(ask())
    root = otel.request_span()
    assert root.name == "chat a" and root.status.status_code is not StatusCode.ERROR
    a = root.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "a"
    assert a["gen_ai.request.max_tokens"] == 50 and a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.request.top_p"] == 0.9 and a["gen_ai.response.id"] == "resp-1"
    assert a["gen_ai.usage.input_tokens"] == 3 and a["gen_ai.usage.output_tokens"] == 5
    assert a["gen_ai.response.finish_reasons"] == ("stop",) and a["llmport.outcome"] == "ok"
    assert a["llmport.route"] == "p1/m1" and a["llmport.cache.hit"] is False
    (attempt,) = otel.attempts()
    b = attempt.attributes
    assert attempt.name == "chat m1" and b["gen_ai.provider.name"] == "p1" and b["llmport.attempt"] == 1
    assert b["llmport.outcome"] == "ok" and b["llmport.breaker.state"] == "closed" and b["llmport.hedge"] is False
    assert root.start_time <= attempt.start_time <= attempt.end_time <= root.end_time
    m = otel.metrics()
    assert len(m["gen_ai.client.operation.duration"]) == 1
    assert sorted(p.attributes["gen_ai.token.type"] for p in m["gen_ai.client.token.usage"]) == ["input", "output"]
    no_prompt_anywhere(otel)


async def test_a_retry_is_two_attempt_spans(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(ProviderUnavailable("down", status=503), default=ANSWER, name="p1")))
    await llm.complete(ask())
    first, second = sorted(otel.attempts(), key=lambda s: s.start_time)
    assert first.attributes["llmport.outcome"] == "error" and first.status.status_code is StatusCode.ERROR
    assert first.attributes["error.type"] == "ProviderUnavailable"
    assert first.status.description == "ProviderUnavailable" and first.attributes["http.response.status_code"] == 503
    assert second.attributes["llmport.attempt"] == 2 and second.attributes["llmport.outcome"] == "ok"
    assert sum(p.value for p in otel.metrics()["llmport.retries"]) == 1


async def test_a_failover_shows_both_routes_and_counts(otel: Otel) -> None:
    down = FakeLLM(default=ProviderUnavailable("down", status=503), name="p1")
    llm = stack(otel, Route("p1", "m1", down), Route("p2", "m2", FakeLLM(default=ANSWER, name="p2")))
    await llm.complete(ask())
    routes = [s.attributes["llmport.route"] for s in sorted(otel.attempts(), key=lambda s: s.start_time)]
    assert routes == ["p1/m1", "p1/m1", "p2/m2"]
    assert otel.request_span().attributes["llmport.route"] == "p2/m2"
    assert sum(p.value for p in otel.metrics()["llmport.failovers"]) == 1


async def test_every_route_failing_marks_the_request_span_an_error(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=ProviderUnavailable("down", status=503), name="p1")))
    started = time.perf_counter()
    with pytest.raises(AllProvidersFailed):
        await llm.complete(ask())
    elapsed = time.perf_counter() - started
    root = otel.request_span()
    assert root.status.status_code is StatusCode.ERROR and root.attributes["error.type"] == "AllProvidersFailed"
    assert [e.attributes["exception.type"] for e in root.events if e.name == "exception"] == [
        "llmport.domain.errors.AllProvidersFailed"]
    (point,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert point.attributes["error.type"] == "AllProvidersFailed" and point.attributes["gen_ai.request.model"] == "a"
    assert "gen_ai.token.type" not in point.attributes
    assert 0 < point.sum <= elapsed


async def test_a_stream_that_cannot_open_marks_the_request_span_an_error(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=ProviderUnavailable("down", status=503), name="p1")))
    with pytest.raises(AllProvidersFailed):
        async with llm.stream(ask()) as events:
            [e async for e in events]
    root = otel.request_span()
    assert root.status.status_code is StatusCode.ERROR and root.attributes["error.type"] == "AllProvidersFailed"
    assert [s.attributes["llmport.outcome"] for s in otel.attempts()] == ["error", "error"]


async def test_a_stream_failure_the_caller_catches_still_ends_the_request_span_as_an_error(otel: Otel) -> None:
    cut = FakeLLM(default=FakeReply(ANSWER, chunk_size=2, error=ProviderUnavailable("cut"), fail_after=2), name="p1")
    llm = stack(otel, Route("p1", "m1", cut))
    started = time.perf_counter()
    async with llm.stream(ask()) as events:
        with contextlib.suppress(StreamInterrupted):
            [e async for e in events]
    elapsed = time.perf_counter() - started
    root = otel.request_span()
    assert root.attributes["error.type"] == "StreamInterrupted" and root.status.status_code is StatusCode.ERROR
    (point,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert 0 < point.sum <= elapsed


async def test_a_stream_for_an_unknown_model_is_refused_inside_the_request_span(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=ANSWER, name="p1")))
    with pytest.raises(InvalidRequest):
        async with llm.stream(CompletionRequest(model="nope", messages=[Message.user("hi")])):
            pass
    (root,) = otel.finished()
    assert root.name == "chat nope" and root.attributes["error.type"] == "InvalidRequest"


async def test_a_success_records_its_duration(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=FakeReply(ANSWER, latency=0.01), name="p1")))
    started = time.perf_counter()
    await llm.complete(ask())
    elapsed = time.perf_counter() - started
    (point,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert 0.01 <= point.sum <= elapsed and "error.type" not in point.attributes


async def test_a_stream_records_one_time_per_output_chunk_point_per_chunk_after_the_first(otel: Otel) -> None:
    delay = 0.01
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=FakeReply(ANSWER, chunk_size=3, chunk_delay=delay),
                                                name="p1")))
    started = time.perf_counter()
    async with llm.stream(ask()) as events:
        chunks = [e async for e in events if type(e) is TextDelta]
    elapsed = time.perf_counter() - started
    assert len(chunks) == 4  # "fine answer" in pieces of three
    m = otel.metrics()
    (per_chunk,) = m["gen_ai.client.operation.time_per_output_chunk"]
    assert per_chunk.count == len(chunks) - 1  # the conventions: one point per chunk after the first
    assert per_chunk.min >= delay / 2 and per_chunk.sum <= elapsed  # each gap holds one scripted delay
    (ttft,) = m["gen_ai.client.operation.time_to_first_chunk"]
    assert ttft.count == 1 and per_chunk.attributes == ttft.attributes == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "p1", "gen_ai.request.model": "a"}


async def test_a_whole_completion_records_no_stream_metric(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=ANSWER, name="p1")))
    await llm.complete(ask())
    m = otel.metrics()
    assert m["gen_ai.client.operation.duration"]
    assert "gen_ai.client.operation.time_per_output_chunk" not in m
    assert "gen_ai.client.operation.time_to_first_chunk" not in m


async def test_a_hedge_is_a_marked_attempt_and_the_loser_ends_its_span(otel: Otel) -> None:
    slow = FakeLLM(default=FakeReply(ANSWER, latency=0.5), name="p1")
    fast = FakeLLM(default=ANSWER, name="p2")
    llm = stack(otel, Route("p1", "m1", slow), Route("p2", "m2", fast), hedge=HedgeConfig(delay=0.02))
    async with llm.stream(ask()) as events:
        [e async for e in events]
    spans = {s.attributes["llmport.route"]: s for s in otel.attempts()}
    assert spans["p2/m2"].attributes["llmport.hedge"] is True and spans["p2/m2"].attributes["llmport.outcome"] == "ok"
    assert spans["p1/m1"].attributes["llmport.outcome"] in ("lost", "cancelled")
    assert otel.request_span().attributes["llmport.route"] == "p2/m2"
    assert "llmport.failovers" not in otel.metrics()  # a winning hedge is no failover


async def test_a_stream_cut_after_output_is_an_interrupted_attempt(otel: Otel) -> None:
    cut = FakeLLM(default=FakeReply(ANSWER, chunk_size=2, error=ProviderUnavailable("cut"), fail_after=2), name="p1")
    llm = stack(otel, Route("p1", "m1", cut))
    started = time.perf_counter()
    with pytest.raises(StreamInterrupted):
        async with llm.stream(ask()) as events:
            [e async for e in events]
    elapsed = time.perf_counter() - started
    (point,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert 0 < point.sum <= elapsed
    (attempt,) = otel.attempts()
    assert attempt.attributes["llmport.outcome"] == "interrupted" and attempt.status.status_code is StatusCode.ERROR
    root = otel.request_span()
    assert root.attributes["error.type"] == "StreamInterrupted" and root.status.status_code is StatusCode.ERROR


async def test_a_cancelled_call_ends_every_span(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=FakeReply(ANSWER, latency=5.0), name="p1")))
    task = asyncio.create_task(llm.complete(ask()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (attempt,) = otel.attempts()
    assert attempt.attributes["llmport.outcome"] == "cancelled"
    assert otel.request_span().attributes["llmport.outcome"] == "cancelled"
    assert "gen_ai.client.operation.duration" not in otel.metrics()  # a cancelled call is no operation outcome


async def test_the_request_span_is_a_child_of_the_hosts_span(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=ANSWER, name="p1")))
    with otel.telemetry.tracer.start_as_current_span("GET /chat") as host:
        await llm.complete(ask())
    (root,) = [s for s in otel.finished() if s.name == "chat a"]
    assert root.parent is not None and root.parent.span_id == host.get_span_context().span_id


async def test_content_only_when_asked_as_the_conventions_details_event() -> None:
    o = Otel(capture_content=True)
    llm = stack(o, Route("p1", "m1", FakeLLM(default=ANSWER, name="p1")))
    request = CompletionRequest(model="a", system="be brief", messages=[Message.user(PROMPT)])
    await llm.complete(request)
    (event,) = [e for e in o.request_span().events if e.name == "gen_ai.client.inference.operation.details"]
    attrs = event.attributes
    assert json.loads(attrs["gen_ai.system_instructions"]) == [{"type": "text", "content": "be brief"}]
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}]
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "fine answer"}], "finish_reason": "stop"}]


async def test_streamed_content_is_captured_whole_when_asked() -> None:
    o = Otel(capture_content=True)
    llm = stack(o, Route("p1", "m1", FakeLLM(default=FakeReply(ANSWER, chunk_size=2), name="p1")))
    async with llm.stream(ask()) as events:
        [e async for e in events]
    (event,) = [e for e in o.request_span().events if e.name == "gen_ai.client.inference.operation.details"]
    (message,) = json.loads(event.attributes["gen_ai.output.messages"])
    assert message["parts"] == [{"type": "text", "content": "fine answer"}] and message["finish_reason"] == "stop"


async def test_no_content_event_by_default(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=ANSWER, name="p1")))
    await llm.complete(ask())
    async with llm.stream(ask()) as events:
        [e async for e in events]
    assert not [e for s in otel.finished() for e in s.events if e.name.startswith("gen_ai.")]
    no_prompt_anywhere(otel)


async def test_openai_adapter_through_the_emulator(emu: VendorEmulator, otel: Otel) -> None:
    import openai

    from llmport.adapters.openai import OpenAIAdapter

    key = "sk-test-otel-credential-123"
    adapter = OpenAIAdapter(openai.AsyncOpenAI(api_key=key, base_url=f"{emu.url}/v1", max_retries=0),
                            provider="openai")
    emu.script(Reply(chunks=("a", "b", "c"), chunk_delay=0.01, usage=ScriptedUsage(input_tokens=4, output_tokens=3)))
    llm = stack(otel, Route("openai", "gpt-test", adapter))
    async with llm.stream(ask()) as events:
        [e async for e in events]
    await adapter.aclose()
    (attempt,) = otel.attempts()
    assert attempt.attributes["gen_ai.provider.name"] == "openai" and attempt.attributes["llmport.outcome"] == "ok"
    root = otel.request_span()
    assert root.attributes["gen_ai.response.model"] and root.attributes["gen_ai.response.id"]
    m = otel.metrics()
    assert m["gen_ai.client.operation.time_to_first_chunk"] and m["gen_ai.client.operation.time_per_output_chunk"]
    no_prompt_anywhere(otel, key)


async def test_a_stream_cancelled_mid_way_ends_its_attempt_span_under_the_request_span(otel: Otel) -> None:
    slow = FakeLLM(default=FakeReply(ANSWER, chunk_size=2, chunk_delay=0.05), name="p1")
    llm = stack(otel, Route("p1", "m1", slow))
    started = asyncio.Event()

    async def read() -> None:
        async with llm.stream(ask()) as events:
            async for _ in events:
                started.set()
                await asyncio.sleep(10)  # the host's own work: cancelled here, outside the stream

    task = asyncio.create_task(read())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    root = otel.request_span()
    (attempt,) = otel.attempts()  # a child of the request span, not an orphan
    assert attempt.attributes["llmport.outcome"] == "cancelled" and attempt.end_time is not None
    assert root.attributes["llmport.outcome"] == "cancelled" and root.status.status_code is not StatusCode.ERROR
    assert attempt.end_time <= root.end_time


async def test_a_caller_leaving_a_stream_early_ends_every_span(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=FakeReply(ANSWER, chunk_size=2), name="p1")))
    async with llm.stream(ask()) as events:
        async for _ in events:
            break
    root = otel.request_span()
    (attempt,) = otel.attempts()
    assert attempt.attributes["llmport.outcome"] == "cancelled"
    assert root.attributes["llmport.outcome"] == "cancelled" and attempt.end_time <= root.end_time


async def test_content_of_a_failed_or_cancelled_request_is_its_input_only() -> None:
    o = Otel(capture_content=True)
    llm = stack(o, Route("p1", "m1", FakeLLM(default=ProviderUnavailable("down", status=503), name="p1")))
    with pytest.raises(AllProvidersFailed):
        await llm.complete(ask())
    async with stack(o, Route("p1", "m1", FakeLLM(default=FakeReply(ANSWER, chunk_size=2), name="p1"))).stream(
            ask()) as events:
        async for _ in events:
            break
    roots = [s for s in o.finished() if s.name == "chat a"]
    assert [r.attributes["llmport.outcome"] for r in roots] == ["error", "cancelled"]
    for root in roots:
        (event,) = [e for e in root.events if e.name == "gen_ai.client.inference.operation.details"]
        assert PROMPT in event.attributes["gen_ai.input.messages"] and "gen_ai.output.messages" not in event.attributes
