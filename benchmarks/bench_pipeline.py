"""The request pipeline's cost: a response-cache hit (in memory and in Redis), a miss, and a request
that does not opt in (the enrichment and cache steps in front of the policy, with no guidance that
applies, then with one snippet added), each against the same call through the bare failover policy.

The upstream is ``FakeLLM`` (no network), so the figures are the pipeline's own CPU time: the
baseline is the policy alone, llmport's side the policy behind the steps. Targets: a memory hit
<= 50 us, a Redis hit on loopback <= 500 us (absolute, llmport's side), a miss <= 20 us more than
the uncached call, steps with nothing to do for a request <= 3 us more. Timing: interleaved
rounds, medians with ranges (``benchmarks.stats``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from benchmarks.harness import PROMPT, Case, Op, complete_text, measure_cases, request, stream_text
from llmport.adapters.cache_memory import MemoryResponseCache
from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import CachePolicy, CompletionRequest, Message
from llmport.ports import FailoverPolicy, LLMPort, PolicyConfig, Route, Router, RouteSet
from llmport.ports.context import CallableContextSource, ContextEnricher, Snippet
from llmport.ports.response_cache import CachingLLM, ResponseCache

MODEL, ALIAS = "fake-model", "smart"
TEXT = "Hamlet avenges his father and everyone dies."
HIT, REDIS_HIT, MISS = ("absolute", 50e-6), ("absolute", 500e-6), ("overhead", 20e-6)  # targets, seconds
UNUSED = ("overhead", 3e-6)


def _policy(adapter: LLMPort) -> FailoverPolicy:
    route = Route("fake", MODEL, adapter)
    return FailoverPolicy(Router([route], {ALIAS: RouteSet(ALIAS, (route,))}), config=PolicyConfig())


async def _redis_cache(stack: AsyncExitStack) -> ResponseCache | None:
    """A Redis cache on a redis-server of its own, when the redis extra and server are installed."""
    try:
        from llmport.adapters.cache_redis import RedisResponseCache
        from llmport.adapters.redis import RedisConnection
        from llmport.adapters.redis.server import RedisServer
    except ImportError:
        return None
    server = stack.enter_context(RedisServer())
    connection = RedisConnection(server.url, namespace="bench", timeout=1.0)
    stack.push_async_callback(connection.aclose)
    return RedisResponseCache(connection)


@asynccontextmanager
async def cases() -> AsyncIterator[list[Case]]:
    async with AsyncExitStack() as stack:
        policy = _policy(FakeLLM(default=TEXT, name="fake"))
        plain = request(ALIAS)
        cached_req = request(ALIAS, cache=CachePolicy(response_ttl=3600))
        memory = MemoryResponseCache()
        with_cache = CachingLLM(policy, memory)
        await with_cache.complete(cached_req)  # the entry every hit reads

        missing = CachingLLM(policy, MemoryResponseCache())
        miss_cache = missing.cache
        assert isinstance(miss_cache, MemoryResponseCache)

        def miss_of(req: CompletionRequest) -> Op:
            async def miss() -> object:
                text = (await missing.complete(req)).text
                miss_cache.clear()  # the next call misses again
                return text
            return miss

        # A conversation of 21 messages (10 turns and a question) under a 340-character system text:
        # the key's cost grows with what it hashes (about 0.4 us a message).
        turns = [m for i in range(10) for m in (Message.user(f"question {i} about the code and its tests"),
                                                 Message.assistant("an answer of moderate length " * 5))]
        talk: dict[str, Any] = {"model": ALIAS, "messages": [*turns, Message.user(PROMPT)], "max_tokens": 256,
                                "system": "You are helpful. " * 20}
        long_plain = CompletionRequest(**talk)
        long_cached = CompletionRequest(**talk, cache=CachePolicy(response_ttl=3600))

        nothing = CallableContextSource(lambda q: ())
        passing = ContextEnricher(CachingLLM(policy, MemoryResponseCache()), nothing)
        guidance = CallableContextSource(lambda q: [Snippet("Answer in one sentence.", "style.md")])
        full = ContextEnricher(CachingLLM(policy, MemoryResponseCache()), guidance)

        rows = [
            Case("memory hit complete", complete_text(policy, plain), complete_text(with_cache, cached_req), 2000,
                 TEXT, HIT),
            Case("memory hit stream (replay)", stream_text(policy, plain), stream_text(with_cache, cached_req), 1000,
                 TEXT, HIT),
            Case("memory miss complete", complete_text(policy, plain), miss_of(cached_req), 2000, TEXT, MISS),
            Case("memory miss complete, 21 messages", complete_text(policy, long_plain), miss_of(long_cached), 1000,
                 TEXT),
            Case("no opt-in, nothing applies: enrichment + cache steps", complete_text(policy, plain),
                 complete_text(passing, plain), 2000, TEXT, UNUSED),
            Case("no opt-in, one snippet added: enrichment + cache steps", complete_text(policy, plain),
                 complete_text(full, plain), 2000, TEXT),
        ]
        redis = await _redis_cache(stack)
        if redis is not None:
            over_redis = CachingLLM(policy, redis)
            await over_redis.complete(cached_req)
            rows.append(Case("redis hit complete", complete_text(policy, plain),
                             complete_text(over_redis, cached_req), 500, TEXT, REDIS_HIT, clock="wall"))
        yield rows


def run() -> list[Any]:
    return asyncio.run(measure_cases("pipeline", cases()))
