"""Nothing regresses under load: the full stack as the container builds it (openai chat, a
deadline, default logging) over recorded responses replayed in-process. Waves of 1,000 concurrent
10-chunk streams, then 20,000 sequential calls; resident memory after each wave / block must stay
flat (growth from the first checkpoint to the last, MiB).

Bounded stores are measured at their bound: the in-memory usage ledger keeps the newest
``LLMPORT_LEDGER__CAPACITY`` records (100,000 by default, one per attempt), so it starts full of
distinct records, as after a long run (its size is printed), and the blocks measure growth beyond
it. Each call is followed by one pass of the event loop, as between a server's requests: a call
over the in-process replay never suspends, and a loop that never runs never prunes its cancelled
timers (asyncio does it lazily, in its run loop), which would keep every call's context alive."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from typing import Any

from benchmarks.harness import (
    FAMILIES,
    MID,
    MID_TEXT,
    SHORT_TEXT,
    container_stack,
    emulator,
    raw_sdk,
    request,
    stack_env,
    stream_text,
)
from benchmarks.replay import REPLAY_URL, Tape, recording, replaying
from benchmarks.stats import QUICK, Result, Stat
from llmport.domain import Usage
from llmport.domain.usage_record import UsageRecord

CONCURRENT, WAVES = (300, 3) if QUICK else (1000, 3)
SEQUENTIAL, BLOCKS = (4000, 4) if QUICK else (20000, 5)
TARGET_GROWTH = 8 * 2**20  # bytes


def _rss() -> float:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _record(family_name: str) -> tuple[Tape, Tape]:
    streams, calls = Tape(), Tape()
    with emulator() as url:
        raw = raw_sdk(family_name, url)
        try:
            with recording(streams):
                assert await stream_text(raw.adapter, request(MID))() == MID_TEXT
            with recording(calls):
                assert await raw.complete() == SHORT_TEXT
        finally:
            await raw.adapter.aclose()
            await raw.close()
    return streams, calls


async def _fill_ledger(container: Any) -> None:
    """The in-memory ledger at its capacity, with distinct records like the calls' own."""
    capacity = container.settings().ledger.capacity
    before, now = _rss(), time.time()
    tags: dict[str, str] = {}
    await container.ledger().record([
        UsageRecord(now, f"{i:016x}", "p", "bench-short", "short", Usage(12, 34), None, "ok", None, tags)
        for i in range(capacity)])
    print(f"soak: the usage ledger holds its capacity, {capacity} records: {_rss() - before:.1f} MiB")


async def _soak(streams: Tape, calls: Tape) -> list[Result]:
    family = FAMILIES[0]
    async with container_stack(stack_env(family, REPLAY_URL), started=_fill_ledger) as stack:
        stream, call = stream_text(stack, request("mid")), stack.complete
        req = request("short")
        wave_rss = []
        with replaying(streams):
            for _ in range(WAVES):
                texts = await asyncio.gather(*(stream() for _ in range(CONCURRENT)))
                if any(t != MID_TEXT for t in texts):
                    raise RuntimeError("soak: a concurrent stream failed")
                wave_rss.append(_rss())
        block_rss = []
        with replaying(calls):
            for _ in range(BLOCKS):
                for _ in range(SEQUENTIAL // BLOCKS):
                    if (await call(req)).text != SHORT_TEXT:
                        raise RuntimeError("soak: a call failed")
                    await asyncio.sleep(0)
                block_rss.append(_rss())
    print(f"soak: RSS after each wave of {CONCURRENT} streams (MiB): {[round(r, 1) for r in wave_rss]}")
    print(f"soak: RSS every {SEQUENTIAL // BLOCKS} calls (MiB): {[round(r, 1) for r in block_rss]}")
    return [
        Result("soak", f"{CONCURRENT} concurrent streams x{WAVES}: RSS growth", "MiB",
               Stat.of([(wave_rss[-1] - wave_rss[0]) * 2**20]), target=TARGET_GROWTH),
        Result("soak", f"{SEQUENTIAL} sequential calls: RSS growth", "MiB",
               Stat.of([(block_rss[-1] - block_rss[0]) * 2**20]), target=TARGET_GROWTH),
    ]


def run() -> list[Result]:
    streams, calls = asyncio.run(_record(FAMILIES[0].name))
    return asyncio.run(_soak(streams, calls))
