"""The response cache step through the real stack: the emulator's journal counts upstream calls."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from llmport.adapters.cache_memory import MemoryResponseCache
from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Fault, Reply, ScriptedToolCall
from llmport.domain import (
    CachePolicy,
    Completion,
    InvalidRequest,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    ToolSpec,
    UsageUpdate,
    accumulate,
)
from llmport.ports import RecordingObserver
from llmport.ports.response_cache import CacheConfig, CacheRule, CachingLLM

from ..failover.conftest import FakeClock
from .conftest import ask, upstream_calls

WEATHER = ToolSpec("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}})


async def collect(llm: CachingLLM, request: object) -> list[StreamEvent]:
    async with llm.stream(request) as events:  # type: ignore[arg-type]
        return [e async for e in events]


async def test_same_request_twice_is_one_upstream_call(cached: CachingLLM, emu: VendorEmulator,
                                                       observer: RecordingObserver) -> None:
    emu.script(then=Reply("Retries: three, with backoff."))
    first = await cached.complete(ask())
    second = await cached.complete(ask())
    assert upstream_calls(emu) == 1
    assert second == first and second.text == "Retries: three, with backoff."
    assert (first.cached, second.cached) == (False, True)
    assert [(e.route, e.outcome, e.detail) for e in observer.attempts] == [("cache", "cached", "hit")]


async def test_another_tenant_is_another_upstream_call(cached: CachingLLM, emu: VendorEmulator) -> None:
    await cached.complete(ask(tenant_id="acme"))
    await cached.complete(ask(tenant_id="globex"))
    hit = await cached.complete(ask(tenant_id="acme"))
    assert upstream_calls(emu) == 2
    assert hit.cached


async def test_a_shared_alias_serves_every_tenant(cached: CachingLLM, emu: VendorEmulator) -> None:
    await cached.complete(ask(model="shared", ttl=None, tenant_id="acme"))
    hit = await cached.complete(ask(model="shared", ttl=None, tenant_id="globex"))
    assert upstream_calls(emu) == 1
    assert hit.cached


async def test_without_opt_in_nothing_is_cached(cached: CachingLLM, emu: VendorEmulator,
                                               memory: MemoryResponseCache) -> None:
    await cached.complete(ask(ttl=None))
    await cached.complete(ask(ttl=None))
    assert upstream_calls(emu) == 2
    assert len(memory) == 0


async def test_a_zero_ttl_keeps_a_request_out_of_an_opted_in_alias(cached: CachingLLM, emu: VendorEmulator) -> None:
    await cached.complete(ask(model="shared", ttl=None))
    fresh = await cached.complete(ask(model="shared", ttl=0))
    assert upstream_calls(emu) == 2
    assert not fresh.cached


@pytest.mark.parametrize("change", [
    {"temperature": 0.5}, {"max_tokens": 12}, {"seed": 7}, {"system": "Be terse."}, {"tools": [WEATHER]},
    {"stop": ["END"]}, {"text": "Another question"}, {"model": "shared"},
])
async def test_anything_that_changes_the_answer_misses(cached: CachingLLM, emu: VendorEmulator,
                                                       change: dict[str, object]) -> None:
    await cached.complete(ask())
    other = await cached.complete(ask(**change))  # type: ignore[arg-type]
    assert upstream_calls(emu) == 2
    assert not other.cached


async def test_what_cannot_change_the_answer_still_hits(cached: CachingLLM, emu: VendorEmulator) -> None:
    await cached.complete(ask())
    hit = await cached.complete(ask(timeout=30.0, metadata={"request": "2"}))
    assert upstream_calls(emu) == 1
    assert hit.cached


async def test_stream_after_complete_replays_text_and_tool_calls(cached: CachingLLM, emu: VendorEmulator) -> None:
    emu.script(then=Reply("Checking the weather for you now.", tool_calls=(
        ScriptedToolCall("get_weather", {"city": "Paris"}, id="call_1"),
        ScriptedToolCall("get_weather", {"city": "Oslo"}, id="call_2"))))
    whole = await cached.complete(ask(tools=[WEATHER]))
    events = await collect(cached, ask(tools=[WEATHER]))
    assert upstream_calls(emu) == 1
    replayed = accumulate(events)
    assert replayed == whole
    assert replayed.text == "Checking the weather for you now."
    assert [(c.id, c.name, dict(c.arguments)) for c in replayed.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris"}), ("call_2", "get_weather", {"city": "Oslo"})]
    assert sum(isinstance(e, TextDelta) for e in events) > 1  # in chunks, as a live stream
    usage = [e for e in events if isinstance(e, UsageUpdate)]
    assert usage and all(u.cached for u in usage) and usage[-1].usage == whole.usage
    assert isinstance(events[-1], StreamEnd)
    assert replayed.cached


async def test_a_finished_stream_fills_the_cache_for_complete(cached: CachingLLM, emu: VendorEmulator) -> None:
    emu.script(then=Reply("streamed once", chunk_size=3))
    async with cached.stream(ask()) as events:
        live = [e async for e in events]
        assert events.route == "primary/gpt-test"
    hit = await cached.complete(ask())
    assert upstream_calls(emu) == 1
    assert hit == accumulate(live) and hit.cached
    async with cached.stream(ask()) as events:
        assert [e async for e in events][-1] == live[-1]
        assert events.route == "cache"


async def test_a_stream_cut_midway_is_not_cached(cached: CachingLLM, emu: VendorEmulator,
                                                memory: MemoryResponseCache) -> None:
    emu.script(Fault.cut(3, reply=Reply("this answer never finishes", chunk_size=4)), then=Reply("complete answer"))
    with pytest.raises(StreamInterrupted):
        await collect(cached, ask())
    assert len(memory) == 0
    answer = await cached.complete(ask())
    assert upstream_calls(emu) == 2
    assert answer.text == "complete answer" and not answer.cached


async def test_a_stream_left_early_is_not_cached(cached: CachingLLM, emu: VendorEmulator,
                                                memory: MemoryResponseCache) -> None:
    emu.script(then=Reply("a long answer in many chunks", chunk_size=2))
    async with cached.stream(ask()) as events:
        async for _ in events:
            break
    assert len(memory) == 0
    await cached.complete(ask())
    assert upstream_calls(emu) == 2


async def test_errors_are_not_cached(cached: CachingLLM, emu: VendorEmulator, memory: MemoryResponseCache) -> None:
    emu.script(Fault.http(400, message="bad request"), then=Reply("fine"))
    with pytest.raises(InvalidRequest):
        await cached.complete(ask())
    assert len(memory) == 0
    assert (await cached.complete(ask())).text == "fine"


async def test_refresh_bypasses_the_read_and_stores_the_fresh_answer(cached: CachingLLM, emu: VendorEmulator) -> None:
    emu.script(Reply("old"), Reply("new"), then=Reply("never asked"))
    await cached.complete(ask())
    fresh = await cached.complete(ask(cache=CachePolicy(response_ttl=60, refresh=True)))
    after = await cached.complete(ask())
    assert (fresh.text, fresh.cached) == ("new", False)
    assert (after.text, after.cached) == ("new", True)
    assert upstream_calls(emu) == 2


async def test_store_false_reads_but_never_writes(cached: CachingLLM, emu: VendorEmulator,
                                                 memory: MemoryResponseCache) -> None:
    await cached.complete(ask(cache=CachePolicy(response_ttl=60, store=False)))
    assert len(memory) == 0
    await cached.complete(ask())
    hit = await cached.complete(ask(cache=CachePolicy(response_ttl=60, store=False)))
    assert hit.cached and upstream_calls(emu) == 2


async def test_ttl_expiry(cached: CachingLLM, emu: VendorEmulator, clock: FakeClock) -> None:
    await cached.complete(ask(ttl=10))
    clock.advance(9.9)
    assert (await cached.complete(ask(ttl=10))).cached
    clock.advance(0.2)
    assert not (await cached.complete(ask(ttl=10))).cached
    assert upstream_calls(emu) == 2


async def test_an_alias_rule_uses_its_ttl_or_the_default(policy: object, emu: VendorEmulator,
                                                         clock: FakeClock) -> None:
    config = CacheConfig(ttl=100.0, aliases={"smart": CacheRule(ttl=5.0), "shared": CacheRule()})
    llm = CachingLLM(policy, MemoryResponseCache(clock=clock), config, clock=clock)  # type: ignore[arg-type]
    await llm.complete(ask(ttl=None))
    await llm.complete(ask(model="shared", ttl=None))
    clock.advance(6)
    assert not (await llm.complete(ask(ttl=None))).cached
    assert (await llm.complete(ask(model="shared", ttl=None))).cached
    clock.advance(100)
    assert not (await llm.complete(ask(model="shared", ttl=None))).cached
    assert upstream_calls(emu) == 4


async def test_fifty_identical_concurrent_requests_make_one_upstream_call(cached: CachingLLM,
                                                                         emu: VendorEmulator) -> None:
    emu.script(then=Reply("one answer for all", latency=0.2))
    answers = await asyncio.gather(*(cached.complete(ask()) for _ in range(50)))
    assert upstream_calls(emu) == 1
    assert {a.text for a in answers} == {"one answer for all"}
    assert sum(not a.cached for a in answers) == 1


async def test_concurrent_streams_and_completes_share_one_call(cached: CachingLLM, emu: VendorEmulator) -> None:
    emu.script(then=Reply("shared by streams", latency=0.2, chunk_size=4))
    results = await asyncio.gather(*(collect(cached, ask()) for _ in range(10)),
                                   *(cached.complete(ask()) for _ in range(10)))
    assert upstream_calls(emu) == 1
    texts = {accumulate(r).text if isinstance(r, list) else r.text for r in results}
    assert texts == {"shared by streams"}


async def test_followers_share_the_leaders_error(cached: CachingLLM, emu: VendorEmulator) -> None:
    emu.script(Fault.http(400, message="no such thing", latency=0.2), then=Reply("later"))
    results = await asyncio.gather(*(cached.complete(ask()) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, InvalidRequest) for r in results)
    assert upstream_calls(emu) == 1


async def test_a_cancelled_leader_hands_over_to_a_follower(cached: CachingLLM, emu: VendorEmulator) -> None:
    emu.script(Reply("never delivered", latency=5), then=Reply("delivered"))
    leader = asyncio.create_task(cached.complete(ask()))
    await emu.journal.await_for(lambda j: len(j.entries(vendor="openai")) == 1)
    follower = asyncio.create_task(cached.complete(ask()))
    await asyncio.sleep(0.05)
    leader.cancel()
    answer = await follower
    assert answer.text == "delivered" and not answer.cached
    assert leader.cancelled()
    assert upstream_calls(emu) == 2


async def test_a_follower_keeps_its_own_time_limit(cached: CachingLLM, emu: VendorEmulator) -> None:
    from llmport.domain import Timeout

    emu.script(then=Reply("slow", latency=1.0))
    leader = asyncio.create_task(cached.complete(ask()))
    await emu.journal.await_for(lambda j: len(j.entries(vendor="openai")) == 1)
    with pytest.raises(Timeout):
        await cached.complete(ask(timeout=0.05))
    assert (await leader).text == "slow"


async def test_count_tokens_passes_through(cached: CachingLLM, emu: VendorEmulator) -> None:
    assert await cached.count_tokens(ask()) > 0


def test_completion_marked_cached_still_equals_the_original() -> None:
    from llmport.domain import StopReason, TextPart

    c = Completion((TextPart("x"),), StopReason("end_turn"))
    assert dataclasses.replace(c, cached=True) == c


class Unclaimable:
    """A shared cache (only the asynchronous port) whose fill claim another replica holds (and never fills)."""

    def __init__(self, clock: FakeClock) -> None:
        self.store = MemoryResponseCache(clock=clock)
        self.released: list[str] = []

    async def get(self, key: str) -> Completion | None:
        return self.store.get_now(key)

    async def put(self, key: str, completion: Completion, ttl: float) -> None:
        self.store.put_now(key, completion, ttl)

    async def acquire(self, key: str, ttl: float) -> bool:
        return False

    async def release(self, key: str) -> None:
        self.released.append(key)


class Broken:
    """A cache implementation that breaks its promise not to raise."""

    async def get(self, key: str) -> Completion | None:
        raise RuntimeError("boom")

    async def put(self, key: str, completion: Completion, ttl: float) -> None:
        raise RuntimeError("boom")

    async def acquire(self, key: str, ttl: float) -> bool:
        raise RuntimeError("boom")

    async def release(self, key: str) -> None:
        raise RuntimeError("boom")


async def test_a_claim_held_elsewhere_is_waited_for_then_filled_here(policy: object, emu: VendorEmulator,
                                                                     clock: FakeClock) -> None:
    config = CacheConfig(lock_ttl=1.0, lock_poll=0.25)
    llm = CachingLLM(policy, Unclaimable(clock=clock), config, clock=clock)  # type: ignore[arg-type]
    answer = await llm.complete(ask())
    assert clock.sleeps == [0.25] * 4
    assert not answer.cached and upstream_calls(emu) == 1
    async with llm.stream(ask(text="another")) as events:
        assert isinstance([e async for e in events][-1], StreamEnd)
    assert upstream_calls(emu) == 2


async def test_an_answer_filled_elsewhere_while_waiting_is_a_hit(policy: object, emu: VendorEmulator) -> None:
    waiting = asyncio.Event()

    class SignallingClock(FakeClock):
        async def sleep(self, seconds: float) -> None:
            waiting.set()
            await super().sleep(seconds)

    clock = SignallingClock()
    store = Unclaimable(clock=clock)
    llm = CachingLLM(policy, store, CacheConfig(lock_ttl=5.0, lock_poll=0.5), clock=clock)  # type: ignore[arg-type]
    filler = CachingLLM(policy, MemoryResponseCache(clock=clock), clock=clock)  # type: ignore[arg-type]
    original = await filler.complete(ask())
    key = llm.plan(ask())
    assert key is not None

    async def fill_soon() -> None:
        await waiting.wait()
        await store.put(key.key, original, 60)

    filling = asyncio.create_task(fill_soon())
    hit = await llm.complete(ask())
    await filling
    assert hit.cached and hit == original
    assert upstream_calls(emu) == 1
    assert len(clock.sleeps) < 10


async def test_a_broken_cache_is_a_miss_and_the_request_answers(policy: object, emu: VendorEmulator) -> None:
    observer = RecordingObserver()
    llm = CachingLLM(policy, Broken(), observer=observer)  # type: ignore[arg-type]
    assert (await llm.complete(ask())).text
    async with llm.stream(ask()) as events:
        assert isinstance([e async for e in events][-1], StreamEnd)
    assert upstream_calls(emu) == 2 and observer.attempts == []


async def test_a_request_that_does_not_opt_in_streams_straight_through(cached: CachingLLM,
                                                                      emu: VendorEmulator) -> None:
    emu.script(then=Reply("live only", chunk_size=3))
    async with cached.stream(ask(ttl=None)) as events:
        text = "".join([e.text async for e in events if isinstance(e, TextDelta)])
        assert events.route == "primary/gpt-test"
    assert text == "live only"
    await collect(cached, ask(ttl=None))
    assert upstream_calls(emu) == 2


async def test_an_observer_that_raises_changes_nothing(policy: object, emu: VendorEmulator) -> None:
    class Raising(RecordingObserver):
        def on_attempt(self, event: object) -> None:
            raise RuntimeError("observer bug")

    llm = CachingLLM(policy, MemoryResponseCache(), observer=Raising())  # type: ignore[arg-type]
    await llm.complete(ask())
    assert (await llm.complete(ask())).cached


async def test_hits_cost_nothing_and_reach_the_ledger(policy: object, emu: VendorEmulator) -> None:
    from decimal import Decimal

    from llmport.domain import Usage
    from llmport.ports.ledger import InMemoryUsageLedger

    ledger = InMemoryUsageLedger()
    llm = CachingLLM(policy, MemoryResponseCache(), ledger=ledger)  # type: ignore[arg-type]
    miss = await llm.complete(ask(tenant_id="acme", metadata={"team": "search"}))
    hit = await llm.complete(ask(tenant_id="acme"))
    assert (hit.cost, hit.request_cost) == (Decimal(0), Decimal(0))
    assert hit.usage == miss.usage  # what the answer took when it was made, marked cached
    events = await collect(llm, ask(tenant_id="acme", metadata={"team": "search"}))
    usage, end = events[-2], events[-1]
    assert isinstance(usage, UsageUpdate) and usage.cached and usage.cost == Decimal(0)
    assert isinstance(end, StreamEnd) and (end.cost, end.request_cost) == (Decimal(0), Decimal(0))
    records = await ledger.records()
    assert [(r.outcome, r.cost, r.usage, r.tenant, r.alias, r.provider, r.model) for r in records] == [
        ("cached", Decimal(0), Usage(), "acme", "smart", "primary", "gpt-test")] * 2
    assert records[1].tags == {"team": "search"} and records[0].request_id != records[1].request_id
    totals = await ledger.totals("tenant")
    assert totals["acme"].requests == 2 and totals["acme"].cost == 0 and totals["acme"].total_tokens == 0


async def test_a_failing_ledger_never_fails_a_hit(policy: object, emu: VendorEmulator) -> None:
    class Failing:
        async def record(self, records: object) -> None:
            raise RuntimeError("ledger down")

    llm = CachingLLM(policy, MemoryResponseCache(), ledger=Failing())  # type: ignore[arg-type]
    await llm.complete(ask())
    assert (await llm.complete(ask())).cached


async def test_a_filtered_answer_is_not_cached(cached: CachingLLM, emu: VendorEmulator,
                                              memory: MemoryResponseCache) -> None:
    emu.script(Reply("", stop="content_filter"), then=Reply("fine"))
    filtered = await cached.complete(ask())
    assert filtered.stop_reason.kind == "content_filter" and len(memory) == 0
    assert (await cached.complete(ask())).text == "fine"
    assert upstream_calls(emu) == 2


@pytest.mark.parametrize("overall", [None, 30.0])
async def test_a_follower_keeps_its_own_deadline(cached: CachingLLM, emu: VendorEmulator, clock: FakeClock,
                                                overall: float | None) -> None:
    from llmport.domain import Timeout

    emu.script(then=Reply("slow", latency=1.0))
    leader = asyncio.create_task(cached.complete(ask()))
    await emu.journal.await_for(lambda j: len(j.entries(vendor="openai")) == 1)
    with pytest.raises(Timeout):  # the deadline (on the step's clock) is sooner than the timeout
        await cached.complete(ask(deadline=clock.monotonic() + 0.05, timeout=overall))
    assert (await leader).text == "slow"
