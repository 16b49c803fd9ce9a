"""Skipped-route events, counted instead of logged one line each.

During an outage every request skips every open route; a log line per skip would cost more than
the request itself. The attempt observer counts skips per route and writes one summary line per
interval: the first skip of an interval is reported at once, later ones are added to the next
summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol

#: Seconds between two summary lines while routes keep being skipped.
INTERVAL = 10.0


class Skip(Protocol):
    """A skipped route as ``SkippedRoutes.routes`` carries it."""

    @property
    def route(self) -> str: ...

    @property
    def reason(self) -> str: ...


class SkipSummary:
    """Counts skips per (route, reason); ``count``, ``count_all`` and ``add`` return the counts to
    log when a summary is due.

    During an outage consecutive requests skip the same routes (the policy hands out the same
    skipped-route values for each): ``add`` counts such a run of requests as one tuple and a count,
    so a request costs one comparison whatever the number of routes it skipped."""

    __slots__ = ("_clock", "_counts", "_interval", "_next", "_run", "_runs")

    def __init__(self, interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._counts: dict[tuple[str, str], int] = {}
        self._next = float("-inf")
        self._run: tuple[Skip, ...] = ()  # the skips of the latest requests, ``_runs`` of them in a row
        self._runs = 0

    def count(self, route: str, reason: str) -> dict[str, int] | None:
        """Count one skip of ``route``; returns ``{"route: reason": skips}`` since the last summary
        when one is due, else None."""
        return self.count_all(((route, reason),))

    def count_all(self, skips: Iterable[tuple[str, str]]) -> dict[str, int] | None:
        """``count`` for each ``(route, reason)`` of one request, with at most one summary."""
        counts = self._counts
        for key in skips:
            counts[key] = counts.get(key, 0) + 1
        return self._due()

    def add(self, skips: tuple[Skip, ...]) -> dict[str, int] | None:
        """``count_all`` for the skipped routes of one request."""
        if skips != self._run:  # (identical values compare without a call)
            self._flush()
            self._run = skips
        self._runs += 1
        return self._due()

    def _flush(self) -> None:
        n = self._runs
        if n:
            counts = self._counts
            for s in self._run:
                key = (s.route, s.reason)
                counts[key] = counts.get(key, 0) + n
            self._runs = 0

    def _due(self) -> dict[str, int] | None:
        now = self._clock()
        if now < self._next:
            return None
        self._next = now + self._interval
        return self.drain()

    def drain(self) -> dict[str, int] | None:
        """The counts not yet reported (None when there are none), and start counting afresh."""
        self._flush()
        if not self._counts:
            return None
        out = {f"{route}: {reason}": n for (route, reason), n in self._counts.items()}
        self._counts.clear()
        return out
