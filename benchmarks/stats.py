"""Timing rules every suite shares: interleaved repeats, medians with their spread, one result row.

Each round runs every side once (a batch of operations each), in an order that rotates per round,
so drift on a shared machine (another process waking up, CPU frequency) lands on every side alike.
A side's figure is the median of its per-round figures, shown with the min-max range; a ratio is
the median of the per-round ratios (each round's sides ran back to back), again with its range.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

QUICK = os.environ.get("BENCHMARKS_QUICK") == "1"  # not LLMPORT_*: those are settings


def rounds(full: int, quick: int) -> int:
    """How many interleaved rounds: ``quick`` under ``--quick``, else ``full``."""
    return quick if QUICK else full


@dataclass(frozen=True, slots=True)
class Stat:
    """A median with its min-max range over rounds."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stat:
        return cls(statistics.median(samples), min(samples), max(samples))

    def show(self, scale: float = 1.0, fmt: str = "{:.1f}") -> str:
        return f"{fmt.format(self.median * scale)} [{fmt.format(self.low * scale)}-{fmt.format(self.high * scale)}]"


@dataclass(frozen=True, slots=True)
class Result:
    """One printed row. ``base`` is the raw SDK (None for absolute rows); ``ratio`` is the median
    per-round ratio ours/base. ``target`` is a ratio ceiling (or, for an absolute row, a ceiling in SI units:
    seconds or bytes)."""

    suite: str
    case: str
    unit: str  # "us", "us/chunk", "ms", "MiB"
    ours: Stat
    base: Stat | None = None
    ratio: Stat | None = None
    target: float | None = None

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        value = self.ratio.median if self.ratio is not None else self.ours.median
        return value <= self.target


def ratios(base: Sequence[float], ours: Sequence[float]) -> Stat:
    return Stat.of([o / b for b, o in zip(base, ours, strict=True)])


async def interleave(sides: Sequence[Callable[[], Awaitable[float]]], n_rounds: int) -> list[list[float]]:
    """Per-round figures of each side; each call of a side runs one timed batch and returns its
    figure. The order of the sides rotates per round."""
    samples: list[list[float]] = [[] for _ in sides]
    for r in range(n_rounds):
        order = list(range(len(sides)))
        order = order[r % len(order):] + order[:r % len(order)]
        if r % 2:
            order.reverse()
        for i in order:
            samples[i].append(await sides[i]())
    return samples


def wall_batch(op: Callable[[], Awaitable[object]], n: int) -> Callable[[], Awaitable[float]]:
    """A side timing ``n`` calls of ``op`` on the wall clock: seconds per call."""
    async def side() -> float:
        start = time.perf_counter()
        for _ in range(n):
            await op()
        return (time.perf_counter() - start) / n
    return side


def cpu_batch(op: Callable[[], Awaitable[object]], n: int, per: int) -> Callable[[], Awaitable[float]]:
    """A side timing ``n`` calls of ``op`` in process CPU time (every thread of this process, so
    worker threads count): seconds per unit, ``per`` units per call."""
    async def side() -> float:
        start = time.process_time()
        for _ in range(n):
            await op()
        return (time.process_time() - start) / (n * per)
    return side
