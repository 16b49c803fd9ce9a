"""``MemoryKeyStates`` and ``RedisKeyStates`` (a real ``redis-server``) against the ``KeyStates``
contract, plus what only the Redis store promises: its background refresh, TTLs, no key material
stored, and riding out an outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from llmport.adapters.redis import RedisConnection
from llmport.adapters.redis.key_state import RedisKeyStates
from llmport.adapters.redis.server import RedisServer
from llmport.ports.keyring_state import KeyStates, KeyUsage, MemoryKeyStates

from .contract import RING, A, B, KeyStatesContract, Settle, SharedKeyStatesContract, StatesFactory


class TestMemoryKeyStates(KeyStatesContract):
    @pytest.fixture
    def make_states(self) -> StatesFactory:
        async def make() -> KeyStates:
            return MemoryKeyStates()

        return make


class TestRedisKeyStates(KeyStatesContract, SharedKeyStatesContract):
    @pytest.fixture
    async def make_states(self, redis_url: str) -> AsyncIterator[StatesFactory]:
        made: list[RedisKeyStates] = []

        async def make() -> KeyStates:
            # A generous timeout: a busy CI machine must not look like a Redis outage here.
            states = RedisKeyStates(RedisConnection(redis_url, namespace="keys", timeout=1.0), owns_connection=True)
            made.append(states)
            return states

        yield make
        for states in made:
            await states.aclose()

    @pytest.fixture
    def settle(self) -> Settle:
        async def settle(*stores: RedisKeyStates) -> None:
            for store in (*stores, *stores[:-1]):  # each sends; then the earlier ones learn the later
                await store.sync()

        return settle


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``check()`` holds (the background refresh runs on its own schedule)."""
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[RedisKeyStates, RedisKeyStates]]:
    a = RedisKeyStates(RedisConnection(redis_url, namespace="keys", timeout=1.0), interval=0.02,
                       owns_connection=True)
    b = RedisKeyStates(RedisConnection(redis_url, namespace="keys", timeout=1.0), interval=0.02,
                       owns_connection=True)
    yield a, b
    await a.aclose()
    await b.aclose()


async def test_the_background_task_shares_coolings_and_counts_unasked(
        pair: tuple[RedisKeyStates, RedisKeyStates]) -> None:
    a, b = pair
    now = time.monotonic()
    b.watch(RING)
    a.cool(RING, A, now, 30.0)
    a.record(RING, A, "served")
    await eventually(lambda: b.cooling_for(RING, A, now) > 29.0)
    await eventually(lambda: b.usage(RING, A) == KeyUsage(served=1))
    a.retire(RING, B)
    await eventually(lambda: b.retired(RING, B))


async def test_the_ring_hash_expires_and_holds_no_key(redis_url: str) -> None:
    states = RedisKeyStates(RedisConnection(redis_url, namespace="keys", timeout=1.0), ttl=100.0,
                            owns_connection=True)
    try:
        now = time.monotonic()
        states.cool(RING, A, now, 500.0)
        states.retire(RING, B)
        states.record(RING, A, "served")
        await states.sync()
    finally:
        await states.aclose()
    client = Redis.from_url(redis_url)
    try:
        keys = await client.keys("*")
        assert keys == [b"keys:{keys:openai}:state"]
        ttl = await client.pttl(keys[0])
        assert 500_000 < ttl <= 600_000  # the time to live plus the longest cooling
        fields = await client.hgetall(keys[0])
        assert set(fields) == {f"c:{A}".encode(), f"x:{B}".encode(), f"s:{A}".encode()}
        stored = b"".join(bytes(x) for pair in fields.items() for x in pair)  # type: ignore[arg-type]
        assert b"sk-key" not in stored
    finally:
        await client.aclose()


async def test_usage_counts_are_never_counted_twice_nor_lost_while_redis_is_down(own_redis: RedisServer) -> None:
    url = own_redis.url
    a = RedisKeyStates(RedisConnection(url, namespace="keys", timeout=0.2, retry_interval=0.0), owns_connection=True)
    b = RedisKeyStates(RedisConnection(url, namespace="keys", timeout=1.0), owns_connection=True)
    try:
        now = time.monotonic()
        a.record(RING, A, "served")
        own_redis.kill()  # a restarted server has lost what it held: only what is queued comes back
        await a.sync()
        a.record(RING, A, "served")
        a.cool(RING, A, now, 60.0)
        a.retire(RING, B)
        await a.sync()  # Redis is down: the local view decides, the writes stay queued
        await a.sync()
        assert a.cooling_for(RING, A, now) == pytest.approx(60.0)
        assert a.retired(RING, B)
        assert a.usage(RING, A) == KeyUsage(served=2)
        own_redis.start()
        await a.sync()
        b.watch(RING)
        await b.sync()
        assert b.retired(RING, B)
        assert b.cooling_for(RING, A, now) == pytest.approx(60.0, abs=0.01)
        assert b.usage(RING, A) == KeyUsage(served=2)
        assert a.usage(RING, A) == KeyUsage(served=2)
    finally:
        await a.aclose()
        await b.aclose()


async def test_closing_sends_what_is_queued(redis_url: str) -> None:
    a = RedisKeyStates(RedisConnection(redis_url, namespace="keys", timeout=1.0), interval=3600.0,
                       owns_connection=True)
    b = RedisKeyStates(RedisConnection(redis_url, namespace="keys", timeout=1.0), owns_connection=True)
    try:
        a.record(RING, A, "failed")
        await a.aclose()
        b.watch(RING)
        await b.sync()
        assert b.usage(RING, A) == KeyUsage(failed=1)
    finally:
        await b.aclose()


def test_interval_and_ttl_must_be_positive(redis_url: str) -> None:
    connection = RedisConnection(redis_url)
    for bad in ({"interval": 0.0}, {"ttl": -1.0}):
        with pytest.raises(ValueError, match="positive"):
            RedisKeyStates(connection, **bad)  # type: ignore[arg-type]
    assert "RedisKeyStates" in repr(RedisKeyStates(connection))


async def test_start_learns_the_watched_rings_before_returning(redis_url: str) -> None:
    a = RedisKeyStates(RedisConnection(redis_url, namespace="keys", timeout=1.0), owns_connection=True)
    b = RedisKeyStates(RedisConnection(redis_url, namespace="keys", timeout=1.0), interval=3600.0,
                       owns_connection=True)
    try:
        a.retire(RING, A)
        await a.sync()
        b.watch(RING)
        await b.start()  # no background refresh would come within the test: start itself learns
        assert b.retired(RING, A)
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_ring_idle_for_a_minute_is_no_longer_refreshed(redis_url: str) -> None:
    a = RedisKeyStates(RedisConnection(redis_url, namespace="keys", timeout=1.0), owns_connection=True)
    b = RedisKeyStates(RedisConnection(redis_url, namespace="keys", timeout=1.0), interval=3600.0,
                       owns_connection=True)
    try:
        b.watch(RING)
        b._rings[RING].used -= 61.0  # nothing asked about this ring for over a minute
        a.retire(RING, A)
        await a.sync()
        await b.sync()
        assert not b._rings[RING].retired  # idle rings cost Redis nothing; the next use refreshes it
        b.watch(RING)
        await b.sync()
        assert b.retired(RING, A)
    finally:
        await a.aclose()
        await b.aclose()
