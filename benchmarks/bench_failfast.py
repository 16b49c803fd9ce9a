"""Failing fast on open breakers, with the container's logging on: the stack as the container
builds it (default logging level, a deadline), every route of the alias down (its server refuses
connections) and its breaker open, so each call raises ``AllProvidersFailed`` without any network.
Microseconds per call, with one and with three open routes."""

from __future__ import annotations

import asyncio
import contextlib
import time

from benchmarks.harness import container_stack, request
from benchmarks.stats import Result, Stat, interleave, rounds
from llmport.domain import AllProvidersFailed
from llmport.ports import LLMPort

CALLS = 2000
TARGET = 15e-6  # seconds per call
DOWN_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing listens on loopback


def _env(routes: int) -> dict[str, str]:
    env = {
        "LLMPORT_POLICY__TIMEOUT": "60",
        "LLMPORT_POLICY__RETRY__MAX_ATTEMPTS": "1",
        "LLMPORT_POLICY__BREAKER__FAILURE_THRESHOLD": "1",
        "LLMPORT_POLICY__BREAKER__COOLDOWN": "3600",
        "LLMPORT_ALIASES__DOWN": ",".join(f"p{i}/bench-down" for i in range(routes)),
    }
    for i in range(routes):
        env |= {f"LLMPORT_PROVIDERS__P{i}__KIND": "openai", f"LLMPORT_PROVIDERS__P{i}__API_KEY": "sk-bench-key",
                f"LLMPORT_PROVIDERS__P{i}__BASE_URL": DOWN_URL}
    return env


def fail_fast_batch(llm: LLMPort, calls: int = CALLS) -> object:
    """A timed side: ``calls`` requests to the alias ``down``, each failing fast; seconds per call."""
    req = request("down", max_tokens=None)

    async def side() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            try:
                await llm.complete(req)
            except AllProvidersFailed:
                pass
            else:
                raise AssertionError("a call got through")
        return (time.perf_counter() - start) / calls
    return side


async def _measure() -> list[Result]:
    async with container_stack(_env(1)) as one, container_stack(_env(3)) as three:
        for llm in (one, three):  # the first call fails on the network and opens every breaker
            with contextlib.suppress(AllProvidersFailed):
                await llm.complete(request("down", max_tokens=None))
        s1, s3 = await interleave([fail_fast_batch(one), fail_fast_batch(three)], rounds(9, 3))  # type: ignore[list-item]
    return [Result("failfast", f"open breakers, {n} route{'s' if n > 1 else ''}", "us", Stat.of(s), target=TARGET)
            for n, s in ((1, s1), (3, s3))]


def run() -> list[Result]:
    return asyncio.run(_measure())
