"""Routing strategies: small pure objects that order a route set's routes for one request.

The policy tries routes in the returned order; every strategy keeps all routes (the later ones
are the failover order), only the ranking differs.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Protocol

from llmport.domain import CompletionRequest, InvalidRequest
from llmport.domain.pricing import estimate_cost, estimate_input_tokens

from .routing import Route, RouteStats


class Strategy(Protocol):
    """Orders routes for a request, given what the policy has observed of each route."""

    name: str

    def order(self, routes: Sequence[Route], request: CompletionRequest,
              stats: Mapping[str, RouteStats], now: float) -> Sequence[Route]: ...


class Priority:
    """The configured order."""

    name = "priority"

    def order(self, routes: Sequence[Route], request: CompletionRequest,
              stats: Mapping[str, RouteStats], now: float) -> Sequence[Route]:
        return routes


class Weighted:
    """Smooth weighted round robin (as in nginx): over any run of requests each route comes first
    in proportion to its weight, evenly interleaved. The others follow in configured order."""

    name = "weighted"

    def __init__(self) -> None:
        self._current: defaultdict[str, int] = defaultdict(int)

    def order(self, routes: Sequence[Route], request: CompletionRequest,
              stats: Mapping[str, RouteStats], now: float) -> Sequence[Route]:
        if not routes:
            return routes
        current = self._current
        for r in routes:
            current[r.name] += r.weight
        best = max(routes, key=lambda r: current[r.name])  # the first of equals
        current[best.name] -= sum(r.weight for r in routes)
        return [best, *(r for r in routes if r is not best)]


class LowestLatency:
    """Fastest first by EWMA of time to first token (total time for non-streaming calls). Routes
    never measured come first; with probability ``explore`` (or when a route's measurement is
    older than ``stale_after`` seconds) another route is tried first, so a recovered route gets
    measured again."""

    name = "lowest_latency"

    def __init__(self, explore: float = 0.05, stale_after: float = 60.0, rng: random.Random | None = None) -> None:
        if not 0.0 <= explore <= 1.0:
            raise InvalidRequest("lowest_latency explore must be in [0, 1]", field="strategy")
        self.explore = explore
        self.stale_after = stale_after
        self._rng = rng or random.Random()

    def order(self, routes: Sequence[Route], request: CompletionRequest,
              stats: Mapping[str, RouteStats], now: float) -> Sequence[Route]:
        if len(routes) < 2:
            return routes

        def key(r: Route) -> float:
            s = stats.get(r.name)
            latency = s.latency if s is not None else None
            return -math.inf if latency is None else latency

        ranked = sorted(routes, key=key)
        stale = [r for r in ranked[1:] if _stale(stats.get(r.name), now, self.stale_after)]
        if stale:
            pick = stale[0]
        elif self.explore and self._rng.random() < self.explore:
            pick = self._rng.choice(ranked[1:])
        else:
            return ranked
        return [pick, *(r for r in ranked if r is not pick)]


def _stale(stats: RouteStats | None, now: float, after: float) -> bool:
    return stats is not None and stats.last_measured is not None and now - stats.last_measured > after


class Cheapest:
    """Cheapest estimated cost for this request first (input estimate plus ``max_tokens`` of
    output at the route's price); routes without a price come last, in configured order."""

    name = "cost"

    def order(self, routes: Sequence[Route], request: CompletionRequest,
              stats: Mapping[str, RouteStats], now: float) -> Sequence[Route]:
        tokens = estimate_input_tokens(request)
        inf = float("inf")
        return sorted(routes, key=lambda r: inf if r.price is None else estimate_cost(r.price, request, tokens))


class LeastBusy:
    """Fewest in-flight requests first (ties in configured order)."""

    name = "least_busy"

    def order(self, routes: Sequence[Route], request: CompletionRequest,
              stats: Mapping[str, RouteStats], now: float) -> Sequence[Route]:
        def busy(r: Route) -> int:
            s = stats.get(r.name)
            return s.in_flight if s is not None else 0

        return sorted(routes, key=busy)


STRATEGIES: dict[str, type[Priority | Weighted | LowestLatency | Cheapest | LeastBusy]] = {
    "priority": Priority, "weighted": Weighted, "lowest_latency": LowestLatency, "cost": Cheapest,
    "least_busy": LeastBusy,
}


def strategy(name: str) -> Strategy:
    """A new strategy object by its configured name."""
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise InvalidRequest(f"unknown routing strategy {name!r}; strategies: {', '.join(STRATEGIES)}",
                             field="strategy") from None
