"""The pipeline over the real stack: an OpenAI-compatible adapter (real SDK, real HTTP) against the
emulator, behind a ``FailoverPolicy``; the cache's time is a ``FakeClock``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from llmport.adapters.cache_memory import MemoryResponseCache
from llmport.adapters.openai import OpenAIAdapter
from llmport.adapters.testing.emulator import VendorEmulator
from llmport.domain import CompletionRequest, Message
from llmport.ports import FailoverPolicy, RecordingObserver, RetryPolicy, Route, Router, RouteSet
from llmport.ports.failover import PolicyConfig
from llmport.ports.response_cache import CacheConfig, CacheRule, CachingLLM

from ..failover.conftest import FakeClock

MODEL = "gpt-test"


def ask(text: str = "What is our retry policy?", *, ttl: float | None = 60.0, model: str = "smart",
        **kw: object) -> CompletionRequest:
    from llmport.domain import CachePolicy

    cache = kw.pop("cache", None) or CachePolicy(response_ttl=ttl)
    return CompletionRequest(model=model, messages=[Message.user(text)], cache=cache, **kw)  # type: ignore[arg-type]


def upstream_calls(emu: VendorEmulator) -> int:
    """Chat calls the emulator received (what the cache must save)."""
    return len([e for e in emu.journal.entries(vendor="openai") if e.endpoint == "chat"])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def policy(emu: VendorEmulator) -> AsyncIterator[FailoverPolicy]:
    adapter = OpenAIAdapter(openai.AsyncOpenAI(api_key="sk-test-pipeline", base_url=f"{emu.url}/v1", max_retries=0),
                            provider="primary")
    route = Route("primary", MODEL, adapter)
    policy = FailoverPolicy(Router((route,), {"smart": RouteSet("smart", (route,)),
                                              "shared": RouteSet("shared", (route,))}),
                            config=PolicyConfig(retry=RetryPolicy(1)))
    yield policy
    await policy.aclose()


@pytest.fixture
def memory(clock: FakeClock) -> MemoryResponseCache:
    return MemoryResponseCache(clock=clock)


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
def cached(policy: FailoverPolicy, memory: MemoryResponseCache, clock: FakeClock,
           observer: RecordingObserver) -> CachingLLM:
    config = CacheConfig(ttl=30.0, aliases={"shared": CacheRule(shared=True)})
    return CachingLLM(policy, memory, config, observer=observer, clock=clock)
