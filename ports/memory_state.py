"""``MemoryPolicyState``: the policy's state in this process (the default ``PolicyState``)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Mapping

from llmport.domain import InvalidRequest

from .backoff import RetryBudget
from .breaker import BreakerConfig, CircuitBreaker
from .observer import BreakerState, BreakerTransition
from .routing import RouteStats
from .state import BreakerView, Permit


class _Route:
    """One route's state: its breaker, statistics, Retry-After cooldown and probe owner."""

    __slots__ = ("breaker", "cool_until", "permit", "probe_token", "stats")

    def __init__(self, name: str, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self.stats = RouteStats()
        self.cool_until = 0.0
        self.permit = Permit(name)  # every non-probe admission shares it
        self.probe_token: str | None = None

    def retry_in(self, now: float) -> float:
        """Seconds until this route may be tried again (0.0: now)."""
        return max(self.breaker.retry_in(now), self.cool_until - now, 0.0)

    def idle(self, now: float) -> bool:
        """Nothing here a decision depends on: forgetting it loses only statistics."""
        b = self.breaker
        return (b.state == "closed" and self.stats.in_flight == 0 and self.cool_until <= now
                and self.probe_token is None)


class MemoryPolicyState:
    """Breakers, Retry-After cooldowns, retry budget, in-flight counts and latency for one
    process. At most ``max_routes`` routes are remembered: when a new one arrives beyond that,
    the oldest idle route (closed breaker, nothing in flight, no cooldown) is forgotten, so
    callers sending ever new model names cannot grow memory without bound."""

    SCAN = 64  # routes examined for an idle one before the oldest is evicted regardless

    def __init__(self, breaker: BreakerConfig | None = None, budget: RetryBudget | None = None, *,
                 max_routes: int = 1024) -> None:
        if max_routes < 1:
            raise InvalidRequest("max_routes must be at least 1", field="max_routes")
        self.config = breaker or BreakerConfig()
        self.budget = budget or RetryBudget()
        self.max_routes = max_routes
        self._routes: dict[str, _Route] = {}
        self._stats: dict[str, RouteStats] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._listeners: list[Callable[[BreakerTransition], None]] = []
        self._tokens = itertools.count()  # probe tokens: only compared for equality
        self._now = 0.0  # the latest instant seen, for eviction

    # -- routes -----------------------------------------------------------------------------------

    def _get(self, route: str) -> _Route:
        r = self._routes.get(route)
        if r is None:
            r = self._add(route)
        return r

    def _add(self, route: str) -> _Route:
        if len(self._routes) >= self.max_routes:
            self._evict()
        r = _Route(route, CircuitBreaker(route, self.config, self._emit))
        self._routes[route] = r
        self._stats[route] = r.stats
        self._breakers[route] = r.breaker
        return r

    def _evict(self) -> None:
        now = self._now
        victim = None
        for name, r in itertools.islice(self._routes.items(), self.SCAN):
            if victim is None:
                victim = name  # the oldest, if none is idle
            if r.idle(now):
                victim = name
                break
        assert victim is not None
        del self._routes[victim], self._stats[victim], self._breakers[victim]

    def _emit(self, transition: BreakerTransition) -> None:
        for listener in self._listeners:
            with contextlib.suppress(Exception):  # a listener's bug must not change a decision
                listener(transition)

    # -- may this route be tried now -------------------------------------------------------------

    async def admit(self, route: str, now: float) -> Permit | None:
        return self.admit_now(route, now)

    def admit_now(self, route: str, now: float) -> Permit | None:
        """Always decided here (the in-memory state has nothing remote to ask)."""
        r = self._routes.get(route)
        if r is None:
            self._now = now
            r = self._add(route)
        if r.cool_until > now:
            return None
        b = r.breaker
        if b.state == "closed":
            return r.permit
        if not b.allow(now):
            return None
        token = str(next(self._tokens))
        r.probe_token = token
        return Permit(route, True, token)

    def retry_in(self, route: str, now: float) -> float:
        r = self._routes.get(route)
        return 0.0 if r is None else r.retry_in(now)

    def breaker_state(self, route: str, now: float) -> BreakerState:
        r = self._routes.get(route)
        return "closed" if r is None else r.breaker.state

    def refusal(self, route: str, now: float) -> tuple[BreakerState, float]:
        r = self._routes.get(route)
        return ("closed", 0.0) if r is None else (r.breaker.state, r.retry_in(now))

    # -- record this outcome ------------------------------------------------------------------------

    def _probe(self, r: _Route, permit: Permit) -> bool:
        """Whether ``permit`` is ``r``'s current probe; if so, it is consumed."""
        if permit.probe and permit.token is not None and permit.token == r.probe_token:
            r.probe_token = None
            return True
        return False

    def record_success(self, permit: Permit, now: float) -> None:
        r = self._get(permit.route)
        r.breaker.success(now, probe=self._probe(r, permit))

    def record_failure(self, permit: Permit, now: float) -> None:
        r = self._get(permit.route)
        r.breaker.failure(now, probe=self._probe(r, permit))

    def record_lockout(self, permit: Permit, now: float, cooldown: float, error: str) -> None:
        r = self._get(permit.route)
        r.breaker.trip(now, f"credentials rejected ({error})", cooldown, probe=self._probe(r, permit), error=error)

    def release(self, permit: Permit) -> None:
        r = self._routes.get(permit.route)
        if r is not None and self._probe(r, permit):
            r.breaker.release()

    def note_retry_after(self, route: str, now: float, seconds: float) -> None:
        if seconds > 0:
            r = self._get(route)
            r.cool_until = max(r.cool_until, now + seconds)

    # -- reserve a retry --------------------------------------------------------------------------

    def note_request(self, now: float) -> None:
        self.budget.deposit(now)

    def reserve_retry(self, now: float) -> bool:
        return self.budget.try_withdraw(now)

    # -- in-flight counts and latency ---------------------------------------------------------------

    def in_flight_up(self, route: str) -> None:
        self._get(route).stats.in_flight += 1

    def in_flight_down(self, route: str) -> None:
        r = self._routes.get(route)
        if r is not None and r.stats.in_flight > 0:
            r.stats.in_flight -= 1

    def observe_latency(self, route: str, now: float, total: float | None, ttft: float | None) -> None:
        self._get(route).stats.observe(now, total, ttft)

    def stats(self) -> Mapping[str, RouteStats]:
        return self._stats

    # -- observing and lifecycle ------------------------------------------------------------------

    def listen(self, listener: Callable[[BreakerTransition], None]) -> None:
        self._listeners.append(listener)

    def breakers(self) -> Mapping[str, BreakerView]:
        return self._breakers

    async def aclose(self) -> None:
        pass
