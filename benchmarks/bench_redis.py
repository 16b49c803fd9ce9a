"""Shared state through Redis (a real ``redis-server`` on loopback, started here), in the same run as
in-memory state:

- per call: the container-built stack (default logging, a deadline) against the emulator with
  ``LLMPORT_STATE__URL`` set, against the same stack with in-memory state; what Redis adds per call;
- fail fast: every route of the alias down with its breaker open, with Redis state (answered from
  the local view, no network), against in-memory state;
- propagation: one replica opens a breaker, another (its own connection) skips the route: the time
  between, median and p99 over many breakers.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time

from benchmarks.bench_failfast import fail_fast_batch
from benchmarks.harness import FAMILIES, SHORT_TEXT, complete_text, container_stack, emulator, request, stack_env
from benchmarks.stats import QUICK, Result, Stat, interleave, ratios, rounds, wall_batch
from llmport.adapters.redis import RedisConnection, RedisPolicyState
from llmport.adapters.redis.server import RedisServer
from llmport.domain import AllProvidersFailed
from llmport.ports import BreakerConfig

CALLS, FAILS = 30, 2000
PROPAGATIONS = 30 if QUICK else 200
TARGET_OVERHEAD = 150e-6  # seconds Redis state may add to a call
TARGET_FAILFAST = 20e-6  # seconds per fail-fast call with Redis state
TARGET_PROPAGATION = 0.1  # seconds from one replica opening a breaker to another skipping it


def _state(redis_url: str) -> dict[str, str]:
    return {"LLMPORT_STATE__URL": redis_url, "LLMPORT_STATE__NAMESPACE": "bench"}


async def _per_call(url: str, redis_url: str) -> list[Result]:
    env = stack_env(next(f for f in FAMILIES if f.name == "openai-chat"), url)
    async with container_stack(env) as memory, container_stack({**env, **_state(redis_url)}) as shared:
        base, ours = complete_text(memory, request("short")), complete_text(shared, request("short"))
        if (await base(), await ours()) != (SHORT_TEXT, SHORT_TEXT):
            raise RuntimeError("redis: the stacks disagree on the answer")
        b, o = await interleave([wall_batch(base, CALLS), wall_batch(ours, CALLS)], rounds(9, 3))
    return [
        Result("redis", "complete: Redis state vs in-memory", "us", Stat.of(o), Stat.of(b), ratios(b, o)),
        Result("redis", "complete: added by Redis state", "us", Stat.of([y - x for x, y in zip(b, o, strict=True)]),
               target=TARGET_OVERHEAD),
    ]


def _down_env(redis_url: str | None) -> dict[str, str]:
    env = {
        "LLMPORT_POLICY__TIMEOUT": "60",
        "LLMPORT_POLICY__RETRY__MAX_ATTEMPTS": "1",
        "LLMPORT_POLICY__BREAKER__FAILURE_THRESHOLD": "1",
        "LLMPORT_POLICY__BREAKER__COOLDOWN": "3600",
        "LLMPORT_ALIASES__DOWN": "p0/bench-down",
        "LLMPORT_PROVIDERS__P0__KIND": "openai",
        "LLMPORT_PROVIDERS__P0__API_KEY": "sk-bench-key",
        "LLMPORT_PROVIDERS__P0__BASE_URL": "http://127.0.0.1:9/v1",  # nothing listens there
    }
    return {**env, **_state(redis_url)} if redis_url else env


async def _failfast(redis_url: str) -> list[Result]:
    async with container_stack(_down_env(None)) as memory, container_stack(_down_env(redis_url)) as shared:
        for llm in (memory, shared):  # the first call fails on the network and opens the breaker
            with contextlib.suppress(AllProvidersFailed):
                await llm.complete(request("down", max_tokens=None))
        await asyncio.sleep(0.2)
        b, o = await interleave([fail_fast_batch(memory, FAILS), fail_fast_batch(shared, FAILS)], rounds(9, 3))  # type: ignore[list-item]
    return [Result("redis", "fail fast, open breaker: Redis vs memory", "us", Stat.of(o), Stat.of(b), ratios(b, o)),
            Result("redis", "fail fast, open breaker, Redis state", "us", Stat.of(o), target=TARGET_FAILFAST)]


async def _propagation(redis_url: str) -> list[Result]:
    config = BreakerConfig(failure_threshold=1, cooldown=3600.0)
    a = RedisPolicyState(RedisConnection(redis_url, namespace="bench-propagation"), config, owns_connection=True)
    b = RedisPolicyState(RedisConnection(redis_url, namespace="bench-propagation"), config, owns_connection=True)
    await a.start()
    await b.start()
    samples = []
    try:
        for i in range(PROPAGATIONS):
            route = f"p/propagation-{i}"
            now = time.monotonic()
            permit = await a.admit(route, now)
            assert permit is not None and await b.admit(route, now) is not None
            start = time.perf_counter()
            a.record_failure(permit, now)  # opens the breaker (threshold 1)
            while await b.admit(route, time.monotonic()) is not None:  # noqa: ASYNC110 - the skip is polled
                await asyncio.sleep(0.0002)
            samples.append(time.perf_counter() - start)
            await asyncio.sleep(0.005)
    finally:
        await a.aclose()
        await b.aclose()
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    median = statistics.median(samples)
    return [Result("redis", "propagation: median", "ms", Stat.of([median]), target=TARGET_PROPAGATION),
            Result("redis", "propagation: p99", "ms", Stat(p99, ordered[0], ordered[-1]), target=TARGET_PROPAGATION)]


async def _measure(url: str, redis_url: str) -> list[Result]:
    return [*await _per_call(url, redis_url), *await _failfast(redis_url), *await _propagation(redis_url)]


def run() -> list[Result]:
    with RedisServer() as server, emulator() as url:
        return asyncio.run(_measure(url, server.url))
