"""The cache step's less travelled paths, in process (``FakeLLM`` upstream, no network): a cache in
this process used without the fill claim, a shared cache's claim and its release, streams that
follow a failed leader, that are filled elsewhere or fail to open, and broken stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest

from llmport.adapters.cache_memory import MemoryResponseCache
from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.domain import (
    CachePolicy,
    Completion,
    CompletionRequest,
    InvalidRequest,
    Message,
    ProviderUnavailable,
    StopReason,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    TextPart,
    Usage,
)
from llmport.ports import RecordingObserver
from llmport.ports.pipeline import LLMStep
from llmport.ports.response_cache import CacheConfig, CachingLLM, LocalResponseCache

from ..failover.conftest import FakeClock


def ask(text: str = "hello", **cache: object) -> CompletionRequest:
    policy = CachePolicy(**{"response_ttl": 60.0, **cache})  # type: ignore[arg-type]
    return CompletionRequest(model="smart", messages=[Message.user(text)], cache=policy)


async def collect(llm: CachingLLM, request: CompletionRequest) -> list[StreamEvent]:
    async with llm.stream(request) as events:
        return [e async for e in events]


class Watched(MemoryResponseCache):
    """The in-memory cache, noting every use of the asynchronous port and of the fill claim."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def get(self, key: str) -> Completion | None:
        self.calls.append("get")
        return await super().get(key)

    async def put(self, key: str, completion: Completion, ttl: float) -> None:
        self.calls.append("put")
        await super().put(key, completion, ttl)

    async def acquire(self, key: str, ttl: float) -> bool:
        self.calls.append("acquire")
        return True

    async def release(self, key: str) -> None:
        self.calls.append("release")


class Shared:
    """A cache other processes share (only the asynchronous port): its claim is held elsewhere
    unless ``claimable``, and the claims taken and released are noted."""

    def __init__(self, *, claimable: bool = False) -> None:
        self.store = MemoryResponseCache()
        self.claimable = claimable
        self.acquired: list[str] = []
        self.released: list[str] = []

    async def get(self, key: str) -> Completion | None:
        return self.store.get_now(key)

    async def put(self, key: str, completion: Completion, ttl: float) -> None:
        self.store.put_now(key, completion, ttl)

    async def acquire(self, key: str, ttl: float) -> bool:
        self.acquired.append(key)
        return self.claimable

    async def release(self, key: str) -> None:
        self.released.append(key)


class BrokenLocal(MemoryResponseCache):
    """An in-process cache whose synchronous twins break the promise not to raise."""

    def get_now(self, key: str) -> Completion | None:
        raise RuntimeError("boom")

    def put_now(self, key: str, completion: Completion, ttl: float) -> None:
        raise RuntimeError("boom")


class OpenFails(LLMStep):
    """An upstream whose streams fail while opening (before any event)."""

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:  # type: ignore[override]
        return self._fail()  # type: ignore[return-value]

    @asynccontextmanager
    async def _fail(self) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        raise ProviderUnavailable("no route could open a stream", provider="fake")
        yield  # pragma: no cover


def test_the_in_memory_cache_is_local_and_a_port_only_cache_is_not() -> None:
    fake = FakeLLM()
    assert isinstance(MemoryResponseCache(), LocalResponseCache)
    assert CachingLLM(fake, MemoryResponseCache()).local is not None
    assert CachingLLM(fake, Shared()).local is None  # type: ignore[arg-type]


async def test_a_local_cache_is_used_without_awaits_or_fill_claims() -> None:
    fake, store = FakeLLM(default="answer"), Watched()
    llm = CachingLLM(fake, store)
    assert not (await llm.complete(ask())).cached
    assert (await llm.complete(ask())).cached
    assert isinstance((await collect(llm, ask("streamed")))[-1], StreamEnd)
    assert (await llm.complete(ask("streamed"))).cached
    fake.add(FakeReply("cut short", error=ProviderUnavailable("gone", provider="fake"), fail_after=1))
    with pytest.raises(StreamInterrupted):
        await collect(llm, ask("cut"))
    assert store.calls == []  # neither the async port nor the claim: get_now/put_now only
    assert len(fake.requests) == 3 and len(store) == 2


async def test_a_broken_local_cache_is_a_miss_and_the_request_answers() -> None:
    fake = FakeLLM(default="answer")
    llm = CachingLLM(fake, BrokenLocal())
    assert (await llm.complete(ask())).text == "answer"
    assert not (await llm.complete(ask())).cached
    assert isinstance((await collect(llm, ask()))[-1], StreamEnd)
    assert len(fake.requests) == 3


async def test_a_shared_cache_claims_then_releases_only_what_it_did_not_fill() -> None:
    fake, store = FakeLLM("filled", InvalidRequest("refused"), default="later"), Shared(claimable=True)
    llm = CachingLLM(fake, store)  # type: ignore[arg-type]
    await llm.complete(ask("a"))
    with pytest.raises(InvalidRequest):
        await llm.complete(ask("b"))
    assert len(store.acquired) == 2
    assert store.released == store.acquired  # after the fill, and after the error (nothing filled)
    assert (await llm.complete(ask("a"))).cached and len(store.acquired) == 2  # a hit claims nothing


async def test_a_stream_following_a_failed_leader_raises_its_error() -> None:
    fake = FakeLLM(FakeReply(error=InvalidRequest("refused"), latency=0.05), default="later")
    llm = CachingLLM(fake, MemoryResponseCache())
    leader = asyncio.create_task(llm.complete(ask()))
    await asyncio.sleep(0.01)  # the leader is waiting for its answer
    with pytest.raises(InvalidRequest, match="refused"):
        await collect(llm, ask())
    with pytest.raises(InvalidRequest):
        await leader
    assert len(fake.requests) == 1  # the follower shared the leader's outcome


async def test_a_stream_filled_elsewhere_while_waiting_replays_it_and_releases_nothing() -> None:
    clock, store, observer = FakeClock(), Shared(), RecordingObserver()
    llm = CachingLLM(FakeLLM(), store, CacheConfig(lock_ttl=5.0, lock_poll=0.5),  # type: ignore[arg-type]
                     observer=observer, clock=clock)
    plan = llm.plan(ask())
    assert plan is not None
    answer = Completion((TextPart("from another replica"),), StopReason("end_turn"), Usage(2, 3))
    sleep, waits = clock.sleep, []

    async def fill_while_waiting(seconds: float) -> None:  # the other replica fills at the second poll
        waits.append(seconds)
        if len(waits) == 2:
            await store.put(plan.key, answer, 60)
        await sleep(seconds)
        await asyncio.sleep(0)

    clock.sleep = fill_while_waiting  # type: ignore[method-assign]
    follower = asyncio.create_task(llm.complete(ask()))
    async with llm.stream(ask()) as events:
        replayed = [e async for e in events]
        assert events.route == "cache"
    assert "".join(getattr(e, "text", "") for e in replayed) == "from another replica"
    assert (await follower).text == "from another replica"
    assert store.released == []  # the claim was never this process's
    assert [e.detail for e in observer.attempts] == ["filled elsewhere", "in flight"]  # the follower: this flight
    assert waits == [0.5, 0.5]


async def test_a_stream_that_fails_to_open_frees_its_flight_and_claim() -> None:
    store = Shared(claimable=True)
    llm = CachingLLM(OpenFails(FakeLLM(default="fine")), store)  # type: ignore[arg-type]
    with pytest.raises(ProviderUnavailable, match="open a stream"):
        async with llm.stream(ask()):
            pass
    assert store.released == store.acquired == [llm.plan(ask()).key]  # type: ignore[union-attr]
    assert (await llm.complete(ask())).text == "fine"  # no flight left behind to wait for


async def test_a_stream_read_outside_async_with_is_refused() -> None:
    llm = CachingLLM(FakeLLM(), MemoryResponseCache())
    with pytest.raises(RuntimeError, match="async with"):
        await llm.stream(ask()).__anext__()


async def test_the_memory_cache_marks_an_answer_cached_once_at_its_first_hit() -> None:
    store = MemoryResponseCache()
    given = Completion((TextPart("x"),), StopReason("end_turn"), cost=Decimal("0.5"), request_cost=Decimal("1"))
    await store.put("k", given, 60)
    first = await store.get("k")
    assert first is not None and (first.cached, first.cost, first.request_cost) == (True, 0, 0)
    assert store.get_now("k") is first  # the marked copy is kept: later hits copy nothing
    assert store.bytes > 0 and len(store) == 1
