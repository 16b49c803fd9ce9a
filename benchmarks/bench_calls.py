"""Per call, wall clock, over loopback to the emulator (a child process): each family's raw SDK
against llmport's adapter over the same client and against the full stack as the container builds
it from environment variables (logging at its default level, a policy deadline), all three in the
same run, interleaved. One short completion per call; one 200-chunk stream read to the end.

Each batch also records this process's CPU time (the emulator child's is not counted): per call,
what the client side costs, which other processes on a shared machine inflate far less than the
wall clock. The target is on the wall-clock ratio; the CPU rows (adapter alone, full stack) show
where a miss comes from, and the ``layers`` suite splits the full stack's share layer by layer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from benchmarks.harness import (
    FAMILIES,
    LONG,
    LONG_TEXT,
    SHORT,
    SHORT_TEXT,
    Op,
    complete_text,
    container_stack,
    emulator,
    raw_sdk,
    request,
    stack_env,
    stream_text,
)
from benchmarks.stats import QUICK, Result, Stat, interleave, ratios, rounds

# Per side and round: 300 calls as in the measurement (30 under --quick); a batch of 30
# swung the per-call ratio by +-0.15 between rounds on the 2-core machine.
CALLS, STREAMS = (30, 3) if QUICK else (300, 10)
TARGET_CALL = 1.02  # full stack per non-streaming call, x raw SDK


def _timed(op: Op, n: int, cpu: list[float]) -> Callable[[], Awaitable[float]]:
    """A side timing ``n`` calls of ``op``: returns wall seconds per call, appends CPU seconds per call."""
    async def side() -> float:
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            await op()
        cpu.append((time.process_time() - start_cpu) / n)
        return (time.perf_counter() - start) / n
    return side


async def _family(name: str, url: str) -> list[Result]:
    family = next(f for f in FAMILIES if f.name == name)
    raw = raw_sdk(name, url)
    results = []
    try:
        async with container_stack(stack_env(family, url)) as stack:
            sides = {
                "complete": (raw.complete, complete_text(raw.adapter, request(SHORT)),
                             complete_text(stack, request("short")), SHORT_TEXT, CALLS),
                "stream 200 chunks": (raw.stream, stream_text(raw.adapter, request(LONG)),
                                      stream_text(stack, request("long")), LONG_TEXT, STREAMS),
            }
            for case, (base, adapter, full, expect, n) in sides.items():
                for op in (base, adapter, full):  # warm-up and the same answer on every side
                    if await op() != expect:
                        raise RuntimeError(f"calls {name} {case}: the sides disagree on the answer")
                cpu: list[list[float]] = [[], [], []]
                b, a, s = await interleave([_timed(base, n, cpu[0]), _timed(adapter, n, cpu[1]),
                                            _timed(full, n, cpu[2])], rounds(5, 3))
                target = TARGET_CALL if case == "complete" else None
                results.append(Result("calls", f"{name} {case}: adapter", "us", Stat.of(a), Stat.of(b), ratios(b, a)))
                results.append(Result("calls", f"{name} {case}: full stack", "us", Stat.of(s), Stat.of(b),
                                      ratios(b, s), target))
                results.append(Result("calls", f"{name} {case}: adapter (client CPU)", "us", Stat.of(cpu[1]),
                                      Stat.of(cpu[0]), ratios(cpu[0], cpu[1])))
                results.append(Result("calls", f"{name} {case}: full stack (client CPU)", "us", Stat.of(cpu[2]),
                                      Stat.of(cpu[0]), ratios(cpu[0], cpu[2])))
    finally:
        await raw.adapter.aclose()
        await raw.close()
    return results


def run() -> list[Result]:
    out: list[Result] = []
    with emulator() as url:
        for family in FAMILIES:
            out.extend(asyncio.run(_family(family.name, url)))
    return out
