"""FailoverPolicy overhead: the policy over an adapter against the bare adapter, same client, same
emulator, same run; plus the policy over ``FakeLLM`` (no network: its absolute cost per call) and
the time to fail fast when every route's breaker is open. The baseline is the bare adapter (or the
breaker's own ``allow()``), llmport's side is the policy. Timing and emulator: see
``benchmarks.harness``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anthropic

from benchmarks.harness import LONG_TEXT, SHORT_TEXT, Case, complete_text, request, run_suite, stream_text
from llmport.adapters.anthropic import AnthropicAdapter
from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import AllProvidersFailed, ProviderUnavailable
from llmport.ports import BreakerConfig, FailoverPolicy, LLMPort, PolicyConfig, RetryPolicy, Route, Router, RouteSet

SHORT, LONG = "claude-bench-short", "claude-bench-stream"
ALIAS = "smart"


def _policy(adapter: LLMPort, provider: str, model: str, **config: object) -> FailoverPolicy:
    """A policy whose alias ``smart`` routes to ``model`` on ``adapter`` alone."""
    route = Route(provider, model, adapter)
    return FailoverPolicy(Router([route], {ALIAS: RouteSet(ALIAS, (route,))}),
                          config=PolicyConfig(**config))  # type: ignore[arg-type]


@asynccontextmanager
async def cases(url: str) -> AsyncIterator[list[Case]]:
    adapter = AnthropicAdapter(anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=url, max_retries=0),
                               provider="anthropic")
    over_short, over_long = _policy(adapter, "anthropic", SHORT), _policy(adapter, "anthropic", LONG)

    # No network: the policy's absolute cost per call over an in-memory adapter.
    fake_text = "Hamlet avenges his father."
    fake = FakeLLM(default=fake_text, name="fake")
    over_fake = _policy(fake, "fake", SHORT)
    fake_direct, fake_alias = request(SHORT, max_tokens=None), request(ALIAS, max_tokens=None)

    # Fail fast: the only route's breaker is open, so the call raises without any network.
    down = FakeLLM(default=ProviderUnavailable("down", status=503), name="down")
    open_policy = _policy(down, "down", SHORT, retry=RetryPolicy(1, 0, 0), breaker=BreakerConfig(1, cooldown=3600))
    breaker_req = request(ALIAS, max_tokens=None)

    async def fail_fast() -> object:
        try:
            await open_policy.complete(breaker_req)
        except AllProvidersFailed as exc:
            return exc
        raise AssertionError("the breaker let a call through")

    await fail_fast()  # opens the breaker
    sent = len(down.requests)
    breaker = open_policy.breakers[f"down/{SHORT}"]

    async def allow_only() -> object:
        return breaker.allow(time.monotonic())

    yield [
        Case("emulator complete", complete_text(adapter, request(SHORT)), complete_text(over_short, request(ALIAS)),
             40, SHORT_TEXT),
        Case("emulator stream 200 chunks", stream_text(adapter, request(LONG)), stream_text(over_long, request(ALIAS)),
             6, LONG_TEXT),
        Case("FakeLLM complete (no network)", complete_text(fake, fake_direct), complete_text(over_fake, fake_alias),
             2000, fake_text),
        Case("FakeLLM stream (no network)", stream_text(fake, fake_direct), stream_text(over_fake, fake_alias),
             500, fake_text),
        Case("open breaker: allow() vs fail fast", allow_only, fail_fast, 2000),
    ]
    await adapter.aclose()
    if len(down.requests) != sent:
        raise AssertionError("the open breaker let a call through")


def run() -> list[tuple[str, float, float]]:
    return run_suite("failover", "anthropic", SHORT, LONG, cases)


if __name__ == "__main__":
    run()
