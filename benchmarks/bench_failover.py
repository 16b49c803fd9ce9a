"""FailoverPolicy overhead: the policy over an adapter against the bare adapter, same client, same
emulator, same run; plus the policy over ``FakeLLM`` (no network: its absolute cost per call) and
the time to fail fast when every route's breaker is open.

Batches are interleaved, their order alternating per round, after a warm-up; each side's figure is
the minimum over rounds of the median time of one operation in a batch.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import anthropic

from llmport.adapters.anthropic import AnthropicAdapter
from llmport.adapters.testing.emulator import Reply, ScriptedUsage, VendorEmulator
from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import AllProvidersFailed, CompletionRequest, Message, ProviderUnavailable, TextDelta
from llmport.ports import BreakerConfig, FailoverPolicy, LLMPort, PolicyConfig, RetryPolicy, Route, Router, RouteSet

MODEL = "claude-bench"
PROMPT = "Summarise the plot of Hamlet in one sentence."
ROUNDS = 9
Op = Callable[[], Awaitable[object]]


async def _batch(op: Op, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await op()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def _compare(raw: Op, ours: Op, n: int) -> tuple[float, float]:
    for _ in range(3):
        await raw()
        await ours()
    raw_best = ours_best = float("inf")
    for i in range(ROUNDS):
        pair = (raw, ours) if i % 2 == 0 else (ours, raw)
        first = await _batch(pair[0], n)
        second = await _batch(pair[1], n)
        r, o = (first, second) if i % 2 == 0 else (second, first)
        raw_best, ours_best = min(raw_best, r), min(ours_best, o)
    return raw_best, ours_best


def _policy(adapter: LLMPort, provider: str, **config: object) -> FailoverPolicy:
    route = Route(provider, MODEL, adapter)
    return FailoverPolicy(Router([route], {"smart": RouteSet("smart", (route,))}),
                          config=PolicyConfig(**config))  # type: ignore[arg-type]


def _ops(port: LLMPort, request: CompletionRequest) -> tuple[Op, Op]:
    async def complete() -> object:
        return (await port.complete(request)).text

    async def stream() -> object:
        parts = []
        async with port.stream(request) as events:
            async for event in events:
                if type(event) is TextDelta:
                    parts.append(event.text)
        return "".join(parts)

    return complete, stream


async def _run(emu: VendorEmulator) -> list[tuple[str, float, float]]:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=emu.url, max_retries=0)
    adapter = AnthropicAdapter(client, provider="anthropic")
    policy = _policy(adapter, "anthropic")
    direct = CompletionRequest(model=MODEL, messages=[Message.user(PROMPT)], max_tokens=256)
    via_alias = CompletionRequest(model="smart", messages=[Message.user(PROMPT)], max_tokens=256)
    bare_complete, bare_stream = _ops(adapter, direct)
    pol_complete, pol_stream = _ops(policy, via_alias)
    results = []
    emu.reset()
    emu.script(then=Reply(text="Hamlet avenges his father and everyone dies.", usage=ScriptedUsage(12, 9)),
               vendor="anthropic")
    results.append(("emulator complete", *await _compare(bare_complete, pol_complete, 40)))
    emu.reset()
    emu.script(then=Reply(text="word " * 200, chunk_size=5, usage=ScriptedUsage(12, 200)), vendor="anthropic")
    assert await pol_stream() == "word " * 200
    results.append(("emulator stream 200 chunks", *await _compare(bare_stream, pol_stream, 6)))
    await adapter.aclose()

    # No network: the policy's absolute cost per call over an in-memory adapter.
    fake = FakeLLM(default="Hamlet avenges his father.", name="fake")
    fake_policy = _policy(fake, "fake")
    fake_direct = CompletionRequest(model=MODEL, messages=[Message.user(PROMPT)])
    fake_alias = CompletionRequest(model="smart", messages=[Message.user(PROMPT)])
    fc, fs = _ops(fake, fake_direct)
    pc, ps = _ops(fake_policy, fake_alias)
    results.append(("FakeLLM complete (no network)", *await _compare(fc, pc, 2000)))
    results.append(("FakeLLM stream (no network)", *await _compare(fs, ps, 500)))
    fake.requests.clear()

    # Fail fast: the only route's breaker is open, so the call raises without any network.
    down = FakeLLM(default=ProviderUnavailable("down", status=503), name="down")
    open_policy = _policy(down, "down", retry=RetryPolicy(1, 0, 0), breaker=BreakerConfig(1, cooldown=3600))
    breaker_req = CompletionRequest(model="smart", messages=[Message.user(PROMPT)])

    async def fail_fast() -> object:
        try:
            await open_policy.complete(breaker_req)
        except AllProvidersFailed as exc:
            return exc
        raise AssertionError("the breaker let a call through")

    await fail_fast()  # opens the breaker
    sent = len(down.requests)
    breaker = open_policy.breakers[f"down/{MODEL}"]

    async def allow_only() -> object:
        return breaker.allow(time.monotonic())

    results.append(("open breaker: allow() vs fail fast", *await _compare(allow_only, fail_fast, 2000)))
    assert len(down.requests) == sent
    return results


def run() -> list[tuple[str, float, float]]:
    with VendorEmulator() as emu:
        rows = asyncio.run(_run(emu))
    for case, raw, ours in rows:
        print(f"failover {case:<36} bare {raw * 1e6:9.1f} us  policy {ours * 1e6:9.1f} us  "
              f"ratio {ours / raw:.3f}x  overhead {(ours - raw) * 1e6:+.1f} us")
    return rows


if __name__ == "__main__":
    run()
