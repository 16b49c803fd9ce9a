"""Stream statistics and request correlation through the real OpenAI adapter against the emulator,
whose chunk timing is scripted (``Reply(chunk_delay=...)``): bounds follow from the script, never
from the machine's speed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from llmport.adapters.openai import OpenAIAdapter
from llmport.adapters.testing.emulator import Reply, ScriptedUsage, VendorEmulator
from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import Completion, CompletionRequest, Message, StopReason, StreamEnd, TextPart, Timing, Usage
from llmport.domain.catalog import ModelInfo
from llmport.domain.pricing import ModelPrice
from llmport.ports import FailoverPolicy, FanoutObserver, RecordingObserver, Route, Router, RouteSet
from llmport.ports.catalog import LayeredCatalog
from llmport.ports.ledger import InMemoryUsageLedger
from llmport.ports.metering import MeteredLLM, MeteringObserver

CHUNKS = ("Hello ", "wörld, ", "this ", "is ", "streamed")
TEXT = "".join(CHUNKS)
DELAY = 0.03


@pytest.fixture
async def adapter(emu: VendorEmulator) -> AsyncIterator[OpenAIAdapter]:
    a = OpenAIAdapter(openai.AsyncOpenAI(api_key="sk-test-stats", base_url=f"{emu.url}/v1", max_retries=0))
    yield a
    await a.aclose()


def ask(model: str = "gpt-test") -> CompletionRequest:
    return CompletionRequest(model=model, messages=[Message.user("hi")])


def script(emu: VendorEmulator) -> None:
    emu.script(Reply(chunks=CHUNKS, chunk_delay=DELAY, usage=ScriptedUsage(input_tokens=7, output_tokens=10)))


async def test_a_stream_ends_with_its_statistics(emu: VendorEmulator, adapter: OpenAIAdapter) -> None:
    script(emu)
    async with adapter.stream(ask()) as events:
        seen = [e async for e in events]
    end = seen[-1]
    assert isinstance(end, StreamEnd)
    t = end.timing
    assert t.time_to_first_token is not None and t.total is not None
    # the script waits DELAY between chunks: the end comes at least (chunks - 1) delays after the first
    assert 0 <= t.time_to_first_token < t.total
    assert t.total - t.time_to_first_token >= (len(CHUNKS) - 1) * DELAY * 0.9
    assert t.text_bytes == len(TEXT.encode()) != len(TEXT)  # bytes, not characters
    assert t.events == len(seen)
    assert t.events_per_second == pytest.approx(t.events / t.total)
    assert t.output_tokens_per_second == pytest.approx(10 / (t.total - t.time_to_first_token))


async def test_a_whole_completion_carries_its_statistics(emu: VendorEmulator, adapter: OpenAIAdapter) -> None:
    emu.script(Reply(text=TEXT, latency=DELAY, usage=ScriptedUsage(input_tokens=7, output_tokens=10)))
    completion = await adapter.complete(ask())
    t = completion.timing
    assert t.time_to_first_token is None and t.total is not None and t.total >= DELAY * 0.9
    assert t.text_bytes == len(TEXT.encode())
    assert t.output_tokens_per_second == pytest.approx(10 / t.total)
    assert t.events == 0 and t.events_per_second is None


async def test_the_policy_keeps_the_adapter_statistics(emu: VendorEmulator, adapter: OpenAIAdapter) -> None:
    script(emu)
    route = Route("primary", "gpt-test", adapter)
    policy = FailoverPolicy(Router((route,), {"smart": RouteSet("smart", (route,))}))
    async with policy.stream(ask(model="smart")) as events:
        seen = [e async for e in events]
    assert isinstance(seen[-1], StreamEnd) and seen[-1].timing.text_bytes == len(TEXT.encode())
    emu.script(Reply(text=TEXT))
    completion = await policy.complete(ask(model="smart"))
    assert completion.text == TEXT and completion.timing.text_bytes == len(TEXT.encode())


def test_measure_has_no_rate_without_time_or_tokens() -> None:
    assert Timing.measure(None, 0.0, output_tokens=5, text_bytes=3) == Timing(None, 0.0, None, None, 3, 0)
    assert Timing.measure(0.5, 0.5, output_tokens=4, text_bytes=0, events=2).output_tokens_per_second == 8.0
    assert Timing.measure(0.5, 1.0, output_tokens=0, text_bytes=0).output_tokens_per_second is None


# -- correlation -------------------------------------------------------------------------------------

ANSWER = Completion((TextPart("ok"),), StopReason("end_turn"), Usage(1, 9))


def metered(observer: RecordingObserver) -> tuple[MeteredLLM, InMemoryUsageLedger]:
    catalog = LayeredCatalog(None, {"fake/*": ModelInfo("fake", "*", price=ModelPrice.per_mtok(1, 1))})
    metering = MeteringObserver(catalog)
    route = Route("fake", "m", FakeLLM(default=ANSWER, name="fake"))
    policy = FailoverPolicy(Router([route], {"a": RouteSet("a", (route,))}),
                            observer=FanoutObserver(metering, observer))
    ledger = InMemoryUsageLedger()
    return MeteredLLM(policy, metering, routes=lambda m: policy.router.resolve(m).routes, ledger=ledger), ledger


async def test_attempt_events_carry_the_hosts_request_id_tenant_and_tags() -> None:
    observer = RecordingObserver()
    llm, ledger = metered(observer)
    request = CompletionRequest(model="a", messages=[Message.user("hi")], tenant_id="acme",
                                metadata={"request_id": "req-42", "feature": "search"})
    await llm.complete(request)
    async with llm.stream(request) as events:
        [e async for e in events]
    assert [(e.request_id, e.tenant, dict(e.tags)) for e in observer.attempts] == [
        ("req-42", "acme", {"request_id": "req-42", "feature": "search"})] * 2
    assert {r.request_id for r in await ledger.records()} == {"req-42"}


async def test_a_generated_request_id_is_shared_by_the_attempts_and_the_ledger() -> None:
    observer = RecordingObserver()
    llm, ledger = metered(observer)
    request = CompletionRequest(model="a", messages=[Message.user("hi")])
    await llm.complete(request)
    async with llm.stream(request) as events:
        [e async for e in events]
    ids = [e.request_id for e in observer.attempts]
    assert len(ids) == 2 and all(len(i) == 16 for i in ids) and ids[0] != ids[1]
    assert [r.request_id for r in await ledger.records()] == ids
    assert observer.attempts[0].tenant is None and not observer.attempts[0].tags


async def test_the_policy_alone_generates_an_id_per_request() -> None:
    observer = RecordingObserver()
    fail_once = FakeLLM(default=ANSWER, name="fake")
    route = Route("fake", "m", fail_once)
    policy = FailoverPolicy(Router([route], {"a": RouteSet("a", (route,))}), observer=observer)
    for _ in range(2):
        await policy.complete(CompletionRequest(model="a", messages=[Message.user("hi")]))
    first, second = (e.request_id for e in observer.attempts)
    assert first and second and first != second
