"""Per streamed chunk, CPU time, on recorded streams replayed in-process (see
``benchmarks.replay``): for every family, the raw SDK reading the stream, llmport's adapter over
the same client, and the full stack as the container builds it with a policy deadline. No network
and no server process: other processes on the machine cannot inflate the figures."""

from __future__ import annotations

import asyncio

from benchmarks.harness import (
    CHUNKS,
    FAMILIES,
    LONG,
    LONG_TEXT,
    container_stack,
    emulator,
    raw_sdk,
    request,
    stack_env,
    stream_text,
)
from benchmarks.replay import REPLAY_URL, Tape, recording, replaying
from benchmarks.stats import Result, Stat, cpu_batch, interleave, ratios, rounds

STREAMS = 4  # per timed batch
# Full stack with a deadline, x raw SDK, per chunk.
TARGETS = {"openai-chat": 0.5, "openai-responses": 0.5, "google": 0.5, "anthropic": 1.0, "bedrock": 1.0}
# Why a family's row cannot meet its target (see the README): printed with the row.
NOTES = {"google": " (SDK decoding: no public raw stream)"}


async def _record(tape: Tape) -> None:
    with emulator() as url:
        for family in FAMILIES:
            raw = raw_sdk(family.name, url)
            try:
                with recording(tape):
                    if await raw.stream() != LONG_TEXT:
                        raise RuntimeError(f"recording {family.name}: unexpected stream")
            finally:
                await raw.adapter.aclose()
                await raw.close()


async def _family(name: str) -> list[Result]:
    family = next(f for f in FAMILIES if f.name == name)
    raw = raw_sdk(name, REPLAY_URL)
    try:
        async with container_stack(stack_env(family, REPLAY_URL)) as stack:
            sides = [raw.stream, stream_text(raw.adapter, request(LONG)), stream_text(stack, request("long"))]
            for op in sides:
                for _ in range(2):  # warm-up, and every side reads the same text
                    if await op() != LONG_TEXT:
                        raise RuntimeError(f"chunks {name}: a side read a different stream")
            b, a, s = await interleave([cpu_batch(op, STREAMS, CHUNKS) for op in sides], rounds(9, 3))
    finally:
        await raw.adapter.aclose()
        await raw.close()
    return [
        Result("chunks", f"{name}: adapter", "us/chunk", Stat.of(a), Stat.of(b), ratios(b, a)),
        Result("chunks", f"{name}: full stack + deadline{NOTES.get(name, '')}", "us/chunk", Stat.of(s), Stat.of(b),
               ratios(b, s), TARGETS[name]),
    ]


def run() -> list[Result]:
    tape = Tape()
    asyncio.run(_record(tape))
    out: list[Result] = []
    with replaying(tape):
        for family in FAMILIES:
            out.extend(asyncio.run(_family(family.name)))
    return out
