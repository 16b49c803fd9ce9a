"""Per call, wall clock, over loopback to the emulator (a child process): each family's raw SDK
against llmport's adapter over the same client and against the full stack as the container builds
it from environment variables (logging at its default level, a policy deadline), all three in the
same run, interleaved. One short completion per call; one 200-chunk stream read to the end."""

from __future__ import annotations

import asyncio

from benchmarks.harness import (
    FAMILIES,
    LONG,
    LONG_TEXT,
    SHORT,
    SHORT_TEXT,
    complete_text,
    container_stack,
    emulator,
    raw_sdk,
    request,
    stack_env,
    stream_text,
)
from benchmarks.stats import Result, Stat, interleave, ratios, rounds, wall_batch

CALLS, STREAMS = 30, 3
TARGET_CALL = 1.02  # full stack per non-streaming call, x raw SDK


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
                b, a, s = await interleave([wall_batch(base, n), wall_batch(adapter, n), wall_batch(full, n)],
                                           rounds(5, 3))
                target = TARGET_CALL if case == "complete" else None
                results.append(Result("calls", f"{name} {case}: adapter", "us", Stat.of(a), Stat.of(b), ratios(b, a)))
                results.append(Result("calls", f"{name} {case}: full stack", "us", Stat.of(s), Stat.of(b),
                                      ratios(b, s), target))
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
