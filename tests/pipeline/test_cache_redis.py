"""The Redis response cache against a real redis-server: shared by replicas, bad data and outages
are misses, never errors."""

from __future__ import annotations

import asyncio

import pytest

from llmport.adapters.cache_redis import RedisResponseCache
from llmport.adapters.redis import RedisConnection
from llmport.adapters.redis.server import RedisServer
from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Reply
from llmport.domain import Completion, StopReason, TextPart, ToolResultPart, Usage
from llmport.ports import FailoverPolicy
from llmport.ports.cache_codec import encode
from llmport.ports.response_cache import CacheConfig, CachingLLM

from .conftest import ask, upstream_calls


def answer(text: str = "cached in redis") -> Completion:
    return Completion((TextPart(text),), StopReason("end_turn"), Usage(5, 6), "primary", "gpt-test", "resp-1")


@pytest.fixture
def cache(redis_connection: RedisConnection) -> RedisResponseCache:
    return RedisResponseCache(redis_connection)


async def test_round_trip_with_ttl(cache: RedisResponseCache, redis_connection: RedisConnection) -> None:
    await cache.put("k1", answer(), 30)
    got = await cache.get("k1")
    assert got == answer() and got is not None and got.cached
    raw = redis_connection.client()
    name = redis_connection.keys.key("cache:k1", "answer")
    assert 0 < await raw.pttl(name) <= 30_000
    assert name.startswith(f"{redis_connection.namespace}:{{cache:k1}}")
    assert await cache.get("absent") is None


async def test_an_answer_the_cache_cannot_store_is_skipped(cache: RedisResponseCache) -> None:
    odd = Completion((ToolResultPart("c", "r"),), StopReason("end_turn"))  # a request-only part: never an answer
    await cache.put("odd", odd, 30)
    assert await cache.get("odd") is None


async def test_corrupted_and_foreign_entries_are_misses(cache: RedisResponseCache,
                                                        redis_connection: RedisConnection) -> None:
    raw = redis_connection.client()
    await raw.set(redis_connection.keys.key("cache:bad", "answer"), b"\x00not json", px=10_000)
    await raw.set(redis_connection.keys.key("cache:foreign", "answer"), encode("other", answer()), px=10_000)
    await raw.set(redis_connection.keys.key("cache:truncated", "answer"), encode("truncated", answer())[:-7],
                  px=10_000)
    for key in ("bad", "foreign", "truncated"):
        assert await cache.get(key) is None


async def test_the_fill_claim_is_exclusive_and_released_by_its_owner(redis_connection: RedisConnection) -> None:
    one, two = RedisResponseCache(redis_connection), RedisResponseCache(redis_connection)
    assert await one.acquire("k", 5.0)
    assert not await two.acquire("k", 5.0)
    await two.release("k")  # not the owner: the claim stays
    assert not await two.acquire("k", 5.0)
    await one.release("k")
    assert await two.acquire("k", 5.0)


async def test_a_corrupted_entry_through_the_step_is_a_miss(policy: FailoverPolicy, emu: VendorEmulator,
                                                           redis_connection: RedisConnection) -> None:
    llm = CachingLLM(policy, RedisResponseCache(redis_connection))
    first = await llm.complete(ask())
    raw = redis_connection.client()
    names = [n async for n in raw.scan_iter(match=f"{redis_connection.namespace}:*:answer")]
    assert len(names) == 1
    await raw.set(names[0], b'{"f":"llmport.cache/1","k":"garbage"}', px=10_000)
    again = await llm.complete(ask())
    assert not again.cached and again.text == first.text
    assert upstream_calls(emu) == 2
    assert (await llm.complete(ask())).cached  # the miss wrote a good entry back


async def test_two_replicas_share_answers(policy: FailoverPolicy, emu: VendorEmulator, redis_url: str) -> None:
    replicas = [RedisConnection(redis_url, namespace="shared", timeout=2.0) for _ in range(2)]
    try:
        a, b = (CachingLLM(policy, RedisResponseCache(c)) for c in replicas)
        await a.complete(ask(tenant_id="acme"))
        assert (await b.complete(ask(tenant_id="acme"))).cached
        assert not (await b.complete(ask(tenant_id="globex"))).cached
        assert upstream_calls(emu) == 2
    finally:
        for c in replicas:
            await c.aclose()


async def test_replicas_filling_at_once_make_one_upstream_call(policy: FailoverPolicy, emu: VendorEmulator,
                                                               redis_url: str) -> None:
    emu.script(then=Reply("filled once", latency=0.3))
    replicas = [RedisConnection(redis_url, namespace="fleet", timeout=2.0) for _ in range(3)]
    try:
        config = CacheConfig(lock_ttl=5.0, lock_poll=0.02)
        steps = [CachingLLM(policy, RedisResponseCache(c), config) for c in replicas]
        answers = await asyncio.gather(*(s.complete(ask()) for s in steps for _ in range(5)))
        assert {x.text for x in answers} == {"filled once"}
        assert upstream_calls(emu) == 1
    finally:
        for c in replicas:
            await c.aclose()


async def test_redis_stopped_means_misses_and_answers(policy: FailoverPolicy, emu: VendorEmulator,
                                                     own_redis: RedisServer) -> None:
    connection = RedisConnection(own_redis.url, namespace="outage", timeout=0.2, retry_interval=0.0)
    try:
        llm = CachingLLM(policy, RedisResponseCache(connection))
        await llm.complete(ask())
        assert (await llm.complete(ask())).cached
        own_redis.kill()
        during = [await llm.complete(ask()) for _ in range(3)]
        assert all(not c.cached and c.text for c in during)
        own_redis.start()
        await llm.complete(ask())
        assert (await llm.complete(ask())).cached
        assert upstream_calls(emu) == 5
    finally:
        await connection.aclose()
