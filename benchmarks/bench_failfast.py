"""Failing fast on open breakers, with the container's logging on: the stack as the container
builds it (default logging level, a deadline), every route of the alias down (its server refuses
connections) and its breaker open, so each call raises ``AllProvidersFailed`` without any network.
Microseconds per call, with one and with three open routes: CPU time of this process (the figure
with the target: nothing else on a shared machine inflates it), and wall time for reference."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

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


def fail_fast_batch(llm: LLMPort, calls: int = CALLS, clock: Callable[[], float] = time.process_time,
                    walls: list[float] | None = None) -> object:
    """A timed side: ``calls`` requests to the alias ``down``, each failing fast; seconds per call
    on ``clock`` (CPU time by default). ``walls``, when given, receives each batch's wall time."""
    req = request("down", max_tokens=None)

    async def side() -> float:
        wall = time.perf_counter()
        start = clock()
        for _ in range(calls):
            try:
                await llm.complete(req)
            except AllProvidersFailed:
                pass
            else:
                raise AssertionError("a call got through")
        spent = (clock() - start) / calls
        if walls is not None:
            walls.append((time.perf_counter() - wall) / calls)
        return spent
    return side


async def _measure() -> list[Result]:
    async with container_stack(_env(1)) as one, container_stack(_env(3)) as three:
        for llm in (one, three):  # the first call fails on the network and opens every breaker
            with contextlib.suppress(AllProvidersFailed):
                await llm.complete(request("down", max_tokens=None))
        w1: list[float] = []
        w3: list[float] = []
        s1, s3 = await interleave([fail_fast_batch(one, walls=w1), fail_fast_batch(three, walls=w3)],  # type: ignore[list-item]
                                  rounds(9, 3))
    rows = []
    for n, cpu, wall in ((1, s1, w1), (3, s3, w3)):
        case = f"open breakers, {n} route{'s' if n > 1 else ''}"
        rows += [Result("failfast", f"{case} (CPU)", "us", Stat.of(cpu), target=TARGET),
                 Result("failfast", f"{case} (wall)", "us", Stat.of(wall))]
    return rows


def run() -> list[Result]:
    return asyncio.run(_measure())
