"""``FailoverPolicy``: ``LLMPort`` over an ordered set of routes, with retries, circuit breakers,
deadlines, hedging and failover decided by the error taxonomy."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from operator import attrgetter
from types import TracebackType
from typing import NoReturn, TypeVar

from llmport.domain import (
    Accumulator,
    AllProvidersFailed,
    Attempt,
    AuthenticationFailed,
    Completion,
    CompletionRequest,
    ContentFiltered,
    ContextLengthExceeded,
    InvalidRequest,
    LLMError,
    Overloaded,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    Timeout,
    Usage,
    UsageUpdate,
)
from llmport.domain.frozen import builder, unchecked
from llmport.domain.pricing import estimate_output_tokens

from .alarms import Alarms
from .backoff import RetryBudget, RetryPolicy
from .breaker import BreakerConfig
from .capability import restricts, servable
from .clock import SYSTEM_CLOCK, Clock, SystemClock
from .correlation import request_id_of
from .hedging import HedgeConfig
from .memory_state import MemoryPolicyState
from .observer import (
    AttemptEvent,
    BreakerState,
    BreakerTransition,
    NullObserver,
    Outcome,
    PolicyObserver,
    SkippedRoute,
    SkippedRoutes,
    skipped_to,
)
from .routing import Route, Router, RouteSet, RouteStats
from .state import ASK, BreakerView, Permit, PolicyState
from .strategies import Priority, Strategy
from .streams import PrimedStream, prime
from .watchdog import Watchdog

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Policy-wide settings. ``timeout`` is the default overall deadline of a request and
    ``attempt_timeout`` the default per-attempt limit (a request's own values win when given).

    ``deadline_share``: with a deadline but no ``attempt_timeout``, an attempt may use at most this
    share of the time left while another route could still serve, so a hanging route cannot eat
    the whole deadline. ``lockout_cooldown``: how long a route whose credentials were rejected
    (``AuthenticationFailed``, ``PermissionDenied``) stays out before one probe tries it again.
    ``stall_timeout``: a stream that receives nothing for this long after its first content ends
    at once as ``StreamInterrupted`` with the partial answer (a request's own value wins).
    """

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    timeout: float | None = None
    attempt_timeout: float | None = None
    failover_on_content_filter: bool = False
    hedge: HedgeConfig | None = None
    deadline_share: float = 0.5
    lockout_cooldown: float = 300.0
    stall_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.stall_timeout is not None and not self.stall_timeout > 0:
            raise InvalidRequest("stall_timeout must be positive", field="stall_timeout")
        if not 0.0 < self.deadline_share <= 1.0:
            raise InvalidRequest("deadline_share must be in (0, 1]", field="deadline_share")
        if not self.lockout_cooldown >= 0:
            raise InvalidRequest("lockout_cooldown must not be negative", field="lockout_cooldown")


class FailoverPolicy:
    """Implements ``LLMPort`` over routes: resolves the request's model to a route set, orders it
    with the set's strategy, and tries routes until one answers.

    Same-route retries only for retryable errors, with backoff, within the retry budget and the
    deadline; failover to the next route for errors another provider may not share; a circuit
    breaker per route; optional hedging per route set. Every attempt is reported to ``observer``.

    What it raises (one rule): an error that is the request's own (``InvalidRequest``,
    ``ContentFiltered`` unless ``failover_on_content_filter``, ``ContextLengthExceeded`` when no
    route has a larger window, ``BudgetExceeded``) is raised as is; every provider failure ends,
    after retries and failover, in ``AllProvidersFailed`` listing every attempt, even with one
    route; a stream failing after output reached the caller raises ``StreamInterrupted``.
    Nothing but ``LLMError`` and ``CancelledError`` leaves it.

    Its state (breakers, cooldowns, retry budget, in-flight counts, latency) lives behind
    ``state`` (a ``PolicyState``; in memory by default, ``budget`` then its retry budget).
    """

    def __init__(
        self,
        router: Router,
        *,
        config: PolicyConfig | None = None,
        strategy: Strategy | None = None,
        budget: RetryBudget | None = None,
        clock: Clock = SYSTEM_CLOCK,
        observer: PolicyObserver | None = None,
        rng: random.Random | None = None,
        state: PolicyState | None = None,
    ) -> None:
        self.router = router
        self.config = config or PolicyConfig()
        self.strategy: Strategy = strategy or Priority()
        self.clock = clock  # (also sets ``monotonic``)
        self.observer: PolicyObserver = observer or NullObserver()
        self.rng = rng or random.Random()
        self._owns_state = state is None
        self.state: PolicyState = state or MemoryPolicyState(self.config.breaker, budget)
        self.state.listen(self._on_transition)
        self._closed = False
        self._alarm_set: Alarms | None = None
        # Route sets none of whose routes' known facts can refuse a request (by name, with the set
        # itself: the router hands out the same object for a name): capability checks skipped.
        self._open_sets: dict[str, RouteSet] = {}
        # How the observer is told of skipped routes, for the observer it was looked up for.
        self._skip_owner: object = self.observer
        self._skip_sink: Callable[[SkippedRoutes], None] = skipped_to(self.observer)

    @property
    def clock(self) -> Clock:
        """The policy's time source; ``monotonic`` is its reading function (``time.monotonic``
        itself for the system clock: read several times per call)."""
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self._clock = clock
        self.monotonic: Callable[[], float] = time.monotonic if type(clock) is SystemClock else clock.monotonic

    @classmethod
    def of(cls, *routes: Route, aliases: dict[str, Sequence[Route] | RouteSet] | None = None,
           **kwargs: object) -> FailoverPolicy:
        """A policy over ``routes`` (and aliases of them): a shorthand for scripts and tests."""
        sets = {name: v if isinstance(v, RouteSet) else RouteSet(name, tuple(v)) for name, v in (aliases or {}).items()}
        return cls(Router(routes, sets), **kwargs)  # type: ignore[arg-type]

    # -- LLMPort -------------------------------------------------------------------------------

    async def complete(self, request: CompletionRequest) -> Completion:
        run = _Run(self, self._servable(request), request)
        value, slot = await run.execute(_call_complete)
        now = slot.end  # read once by the attempt, for the state and for this report
        latency = now - slot.start
        self.state.observe_latency(slot.route.name, now, latency, None)
        usage, estimated = _billed_usage(value, "ok")
        run.report(slot, "ok", None, latency, None, usage=usage, estimated=estimated, now=now)
        return value

    def stream(self, request: CompletionRequest) -> PolicyStream:
        return PolicyStream(_Run(self, self._servable(request), request))

    def _servable(self, request: CompletionRequest) -> RouteSet:
        """The request's routes without those that cannot serve it (each skip reported);
        ``InvalidRequest`` when none can."""
        route_set = self.router.resolve(request.model)
        if self._open_sets.get(route_set.name) is route_set:
            return route_set
        kept, skipped = servable(route_set.routes, request, route_set.name)
        if not skipped:
            if not any(restricts(route) for route in route_set.routes) and len(self._open_sets) < 4096:
                self._open_sets[route_set.name] = route_set
            return route_set
        if type(self.observer) is not NullObserver:
            now = self.monotonic()
            for route, reason in skipped:
                event = AttemptEvent(route.name, 0, "skipped", "unservable", None, 0.0, None,
                                     self.state.breaker_state(route.name, now), route_set.name,
                                     detail=reason, provider=route.provider, model=route.model)
                with contextlib.suppress(Exception):
                    self.observer.on_attempt(event)
        return replace(route_set, routes=kept)

    async def count_tokens(self, request: CompletionRequest) -> int:
        route_set = self.router.resolve(request.model)
        now = self.monotonic()
        last: LLMError | None = None
        attempts: list[Attempt] = []
        for route in route_set.routes:
            if self.state.retry_in(route.name, now) > 0:
                attempts.append(Attempt(route.name, "CircuitOpen", None, 0.0, 0, "circuit breaker open"))
                continue
            start = self.monotonic()
            try:
                return await route.adapter.count_tokens(_for_route(request, route, None))
            except LLMError as exc:
                if not (exc.failover or exc.retryable):
                    raise
                last = exc
            except Exception as exc:  # an adapter's bug: still only the taxonomy leaves
                last = _unexpected(exc, route)
            attempts.append(Attempt(route.name, type(last).__name__, last.status, self.monotonic() - start,
                                    1, last.message[:200]))
        raise AllProvidersFailed(f"no route for {request.model!r} could count tokens", attempts=attempts,
                                 status=last.status if last is not None else None) from last

    async def aclose(self) -> None:
        """Close every adapter the policy routes to (each once), and the state it created."""
        if self._closed:
            return
        self._closed = True
        seen: set[int] = set()
        try:
            for adapter in [*self.router.adapters.values(), *(r.adapter for r in self.router.all_routes())]:
                if id(adapter) not in seen:
                    seen.add(id(adapter))
                    await adapter.aclose()
        finally:
            if self._owns_state:
                await self.state.aclose()

    # -- state readable by the CLI and metrics ---------------------------------------------------

    @property
    def breakers(self) -> Mapping[str, BreakerView]:
        """Every route's breaker the state holds, by route name."""
        return self.state.breakers()

    @property
    def stats(self) -> Mapping[str, RouteStats]:
        """Every route's statistics the state holds, by route name."""
        return self.state.stats()

    def breaker_states(self) -> list[dict[str, object]]:
        now = self.monotonic()
        return [b.snapshot(now) for b in self.state.breakers().values()]

    def _alarms(self) -> Alarms:
        """The attempts' time limits on the running loop (one loop timer for all of them)."""
        loop = asyncio.get_running_loop()
        alarms = self._alarm_set
        if alarms is None or alarms.loop is not loop:
            alarms = self._alarm_set = Alarms(loop)
        return alarms

    def _skips_to(self) -> Callable[[SkippedRoutes], None]:
        """How the observer is told of skipped routes (looked up once per observer)."""
        observer = self.observer
        if self._skip_owner is not observer:
            self._skip_owner, self._skip_sink = observer, skipped_to(observer)
        return self._skip_sink

    def _on_transition(self, transition: BreakerTransition) -> None:
        with contextlib.suppress(Exception):  # an observer's bug must not change a request's outcome
            self.observer.on_breaker(transition)


@dataclass(slots=True, eq=False)
class _Slot:
    """One attempt in flight, with the state's permit for it."""

    route: Route
    attempt: int
    start: float
    permit: Permit
    hedge: bool = False
    lost: bool = False
    end: float = 0.0  # policy clock: when the attempt succeeded


@dataclass(slots=True, eq=False)
class _Deferred:
    """A route to come back to once the others had their turn: it timed out, asked for time
    (Retry-After), or was cooling down when reached."""

    slot: _Slot
    error: LLMError | None
    ready_at: float  # policy clock: when it may be tried again


def _call_complete(route: Route, request: CompletionRequest) -> Awaitable[Completion]:
    return route.adapter.complete(request)  # awaited by the attempt (no coroutine of its own)


_REQUEST_FIELDS = tuple(f.name for f in fields(CompletionRequest))
_request_fields = attrgetter(*_REQUEST_FIELDS)
_request_copy = unchecked(CompletionRequest)
_MODEL, _ATTEMPT_TIMEOUT = _REQUEST_FIELDS.index("model"), _REQUEST_FIELDS.index("attempt_timeout")
_LOCKOUT = (AuthenticationFailed, PermissionDenied)
_THROTTLED = (RateLimited, Overloaded)


# Built on every attempt (and every skipped route of a fail-fast): the fast frozen constructor.
_attempt_event = builder(AttemptEvent)
_skipped_routes = builder(SkippedRoutes)
_SKIP_MESSAGES = {"CircuitOpen": "circuit breaker open", "CoolingDown": "cooling down after Retry-After"}
# A skipped route as ``AllProvidersFailed.attempts`` lists it and as observers learn of it: the same
# frozen values for every request that skips it, so an outage builds none per request.
_SKIPPED: dict[tuple[str, str, BreakerState], tuple[Attempt, SkippedRoute]] = {}


def _skipped(route: Route, error: str, breaker: BreakerState) -> tuple[Attempt, SkippedRoute]:
    key = (route.name, error, breaker)
    found = _SKIPPED.get(key)
    if found is None or found[1].provider != route.provider:  # one name, two routes: "a/b"+"c", "a"+"b/c"
        if len(_SKIPPED) >= 4096:  # bounded: route names can come from callers
            _SKIPPED.clear()
        found = _SKIPPED[key] = (Attempt(route.name, error, None, 0.0, 0, _SKIP_MESSAGES[error]),
                                 SkippedRoute(route.name, route.provider, route.model, error, breaker))
    return found


# What a request whose routes were all refused raises, by (route set, routes, late, retryable): built
# once through the constructor (message redacted), then copied per request with its own attempts.
_REFUSED: dict[tuple[str, int, bool, bool], AllProvidersFailed] = {}


def _refused(name: str, routes: int, late: bool, retryable: bool, attempts: Sequence[Attempt],
             retry_after: float | None) -> AllProvidersFailed:
    """The error of a request whose every route was refused before any attempt."""
    key = (name, routes, late, retryable)
    proto = _REFUSED.get(key)
    if proto is None:
        if len(_REFUSED) >= 4096:  # bounded: route set names can come from callers
            _REFUSED.clear()
        proto = _REFUSED[key] = AllProvidersFailed(_exhausted_message(name, late, 0, routes), attempts=(),
                                                   status=_unavailable_status(late), retryable=retryable)
    error = AllProvidersFailed.__new__(AllProvidersFailed, *proto.args)
    error.__dict__.update(proto.__dict__)
    error.attempts = tuple(attempts)
    error.retry_after = retry_after
    return error


def _exhausted_message(name: str, late: bool, tried: int, routes: int) -> str:
    reason = "the request deadline passed" if late else "every route failed or is unavailable"
    return f"{name!r}: {reason} ({tried} attempts on {routes} routes)"


def _unavailable_status(late: bool) -> int:
    """The status of a request no route could try: unavailable for now, or out of time."""
    return 504 if late else 503


def _unexpected(exc: Exception, route: Route) -> LLMError:
    """A non-taxonomy exception from an adapter, as a failover-eligible error (its type only: the
    raw message may hold what the adapter failed to scrub)."""
    return ProviderUnavailable(f"the {route.provider} adapter raised {type(exc).__name__}",
                               provider=route.provider, model=route.model)


def _for_route(request: CompletionRequest, route: Route, limit: float | None) -> CompletionRequest:
    """The request with the route's model and the attempt's time limit (``attempt_timeout``, which
    the adapter hands to its SDK call). A validated request stays valid with another model name
    and a limit the policy computed, so the copy skips ``__post_init__``."""
    if request.model == route.model and (limit is None or limit == request.attempt_timeout):
        return request
    values = list(_request_fields(request))
    values[_MODEL] = route.model
    if limit is not None:
        values[_ATTEMPT_TIMEOUT] = limit
    return _request_copy(*values)


class _Run:
    """The state of one request through the policy: the ordered routes, what was tried, the
    deadline, and the decisions after each failure."""

    __slots__ = ("attempts", "bad_providers", "context_floor", "deadline", "deferred", "errors", "hedge", "idx",
                 "last_error", "last_seen", "last_slot", "order", "policy", "request", "request_id", "retry",
                 "route_set", "skipped", "skips", "soonest", "started")

    def __init__(self, policy: FailoverPolicy, route_set: RouteSet, request: CompletionRequest) -> None:
        self.policy = policy
        self.route_set = route_set
        self.request = request
        # Taken now, while the calling step's id is bound (a stream reports from later iterations).
        observed = type(policy.observer) is not NullObserver
        self.request_id = request_id_of(request) if observed else ""
        # Skipped routes not reported yet (reported together: before the next attempt's event, or at the end).
        self.skips: list[SkippedRoute] | None = [] if observed else None
        self.retry = route_set.retry or policy.config.retry
        self.hedge = route_set.hedge or policy.config.hedge
        self.order: Sequence[Route] = ()
        self.idx = 0
        self.attempts: list[Attempt] = []
        self.errors: list[LLMError] = []
        self.skipped = False  # a route was refused: the request may succeed later
        self.soonest = 0.0  # the shortest positive wait of the routes refused (0.0: none)
        self.last_error: LLMError | None = None
        self.last_slot: _Slot | None = None
        self.last_seen: LLMError | None = None
        self.context_floor: int | None = None
        self.bad_providers: set[str] | None = None
        self.started: set[str] = set()
        self.deferred: list[_Deferred] | None = None
        self.deadline: float | None = None

    # -- the loop ---------------------------------------------------------------------------------

    def _begin(self) -> None:
        policy, request = self.policy, self.request
        now = policy.monotonic()
        policy.state.note_request(now)
        deadline = request.deadline
        for timeout in (request.timeout, policy.config.timeout):
            if timeout is not None and (deadline is None or now + timeout < deadline):
                deadline = now + timeout
        self.deadline = deadline
        strategy = self.route_set.strategy or policy.strategy
        self.order = strategy.order(self.route_set.routes, request, policy.state.stats(), now)

    async def execute(self, call: Callable[[Route, CompletionRequest], Awaitable[T]]) -> tuple[T, _Slot]:
        """Try routes until one succeeds; return its value and attempt, or raise."""
        self._begin()
        try:
            if self.hedge is not None and len(self.order) > 1:
                return await self._execute_hedged(call, self.hedge)
            found = self._scan()  # the first route without an await when the state can tell at once
            if isinstance(found, _Slot):
                slot = found
            elif found is None and not self.deferred:
                # Every route refused (an outage's fail-fast path) or no time left.
                self.exhausted(all_refused=len(self.attempts) == len(self.order))
            else:
                if found is not None:
                    self.idx -= 1  # only the state's ``admit`` can decide this route (``next_slot``)
                slot = await self.next_slot()
            while True:
                try:
                    return await self.attempt(slot, call), slot
                except LLMError as exc:
                    self.decide(slot, exc)
                slot = await self.next_slot()
        finally:
            if self.skips:
                self._report_skips()

    async def _execute_hedged(self, call: Callable[[Route, CompletionRequest], Awaitable[T]],
                              hedge: HedgeConfig) -> tuple[T, _Slot]:
        tasks: dict[asyncio.Task[T], _Slot] = {}
        hedges_left = hedge.max_hedges
        newest: _Slot | None = None
        winner: asyncio.Task[T] | None = None
        try:
            while True:
                if not tasks:
                    newest = await self.next_slot()
                    tasks[asyncio.ensure_future(self.attempt(newest, call))] = newest
                timeout = None
                if hedges_left and newest is not None:
                    stats = self.policy.state.stats().get(newest.route.name)
                    observed = stats.percentile(hedge.percentile) if stats is not None else None
                    elapsed = self.policy.monotonic() - newest.start
                    timeout = max(0.0, hedge.delay_for(observed) - elapsed)
                done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    slot = await self.hedge_slot()
                    if slot is None:
                        hedges_left = 0  # no route or no budget left: just wait
                    else:
                        hedges_left -= 1
                        newest = slot
                        tasks[asyncio.ensure_future(self.attempt(slot, call))] = slot
                    continue
                # Successes first: an error finishing in the same instant must not hide an answer.
                # Other successes stay in ``tasks`` so that ``_cancel_all`` closes what they opened.
                for task in sorted(done, key=lambda t: t.cancelled() or t.exception() is not None):
                    if task.cancelled():
                        raise asyncio.CancelledError
                    exc = task.exception()
                    if exc is None:
                        winner = task
                        return task.result(), tasks[task]
                    slot = tasks.pop(task)
                    if isinstance(exc, LLMError):
                        self.decide(slot, exc)
                    else:
                        raise exc
        finally:
            await self._cancel_all(tasks, winner)

    async def _cancel_all(self, tasks: dict[asyncio.Task[T], _Slot], winner: asyncio.Task[T] | None) -> None:
        """Cancel every attempt but the winner and wait until each has closed its connection."""
        pending = [t for t in tasks if t is not winner]
        for t in pending:
            tasks[t].lost = winner is not None
            t.cancel()
        if not pending:
            return
        await asyncio.wait(pending)
        for t in pending:
            if not t.cancelled() and t.exception() is None:
                # Finished in the same instant as the winner: the value (an open stream) is unused.
                value = t.result()
                usage = value.usage if isinstance(value, Completion) else None
                if isinstance(value, PrimedStream):
                    usage = _buffered_usage(value)
                    await value.close()
                slot = tasks[t]
                self.report(slot, "lost", None, self.policy.monotonic() - slot.start, None, usage=usage)

    def stall_timeout(self) -> float | None:
        """The stream's stall limit after its first content: the request's, else the policy's."""
        own = self.request.stall_timeout
        return own if own is not None else self.policy.config.stall_timeout

    def _limit(self, now: float) -> tuple[float | None, bool]:
        """The attempt's time limit, computed once, and whether it is the request's deadline."""
        limit = self.request.attempt_timeout or self.policy.config.attempt_timeout
        if self.deadline is None:
            return limit, False
        remaining = max(0.0, self.deadline - now)
        share = self.policy.config.deadline_share
        if limit is None and share < 1.0 and self._spare(now):
            return remaining * share, False
        if limit is None or remaining < limit:
            return remaining, True
        return limit, False

    def _spare(self, now: float) -> bool:
        """Whether a route not tried yet could serve if this attempt fails."""
        state = self.policy.state
        for route in self.order[self.idx:]:
            if route.name not in self.started and self._eligible(route) and state.retry_in(route.name, now) <= 0:
                return True
        return False

    async def attempt(self, slot: _Slot, call: Callable[[Route, CompletionRequest], Awaitable[T]]) -> T:
        """Run one attempt, reporting failures and cancellation; success is reported by the caller."""
        policy, route = self.policy, slot.route
        state = policy.state
        limit, by_deadline = self._limit(policy.monotonic())
        request = _for_route(self.request, route, limit)
        state.in_flight_up(route.name)
        unexpected: LLMError | None = None
        try:
            if limit is None:
                value = await call(route, request)
            else:
                alarm = policy._alarms().set(limit, asyncio.current_task())  # type: ignore[arg-type]
                try:
                    value = await call(route, request)
                except asyncio.CancelledError:
                    if not alarm.expired():
                        raise
                    raise Timeout(f"no answer within {limit:.3g}s" + (" (request deadline)" if by_deadline else ""),
                                  provider=route.provider, model=route.model) from None
                finally:
                    alarm.clear()
        except LLMError as exc:
            self._failed(slot, exc, by_deadline)
            raise
        except Exception as exc:  # an adapter's bug: still only the taxonomy leaves the policy
            unexpected = _unexpected(exc, route)
        except BaseException:
            state.release(slot.permit)
            duration = policy.monotonic() - slot.start
            self.report(slot, "lost" if slot.lost else "cancelled", None, duration, None)
            raise
        finally:
            state.in_flight_down(route.name)
        if unexpected is not None:  # raised outside the handler: the raw exception is not its context
            self._failed(slot, unexpected, by_deadline)
            raise unexpected
        slot.end = now = policy.monotonic()
        state.record_success(slot.permit, now)
        return value

    def _failed(self, slot: _Slot, exc: LLMError, by_deadline: bool) -> None:
        """Tell the state what a failed attempt says about its route, and record the attempt."""
        policy, state = self.policy, self.policy.state
        now = policy.monotonic()
        if by_deadline and isinstance(exc, Timeout):
            state.release(slot.permit)  # the caller's deadline, not the provider's health
        elif exc.retryable:
            state.record_failure(slot.permit, now)
            if exc.retry_after is not None and exc.retry_after > 0:
                state.note_retry_after(slot.route.name, now, exc.retry_after)
        elif isinstance(exc, _LOCKOUT):
            state.record_lockout(slot.permit, now, policy.config.lockout_cooldown, type(exc).__name__)
        else:
            state.record_success(slot.permit, now)  # the provider answered; the request was the problem
        self.record(slot, exc, now - slot.start)

    # -- decisions --------------------------------------------------------------------------------

    def decide(self, slot: _Slot, exc: LLMError) -> None:
        """After a failed attempt: raise at once when no retry or failover can help."""
        self.last_error, self.last_slot = exc, slot
        if isinstance(exc, ContextLengthExceeded):  # failover: only routes with a larger window are left
            window = slot.route.context_window or 0
            self.context_floor = max(self.context_floor or 0, window)
        elif isinstance(exc, AuthenticationFailed):
            self.bad_providers = (self.bad_providers or set()) | {slot.route.provider}
        if exc.failover or exc.retryable:
            return
        if isinstance(exc, ContentFiltered) and self.policy.config.failover_on_content_filter:
            return
        raise exc

    async def next_slot(self) -> _Slot:
        """The next attempt: a retry of the route that just failed (after its backoff), the next
        eligible route, or a deferred route once no other is left. A route that timed out or asked
        for time (Retry-After) is deferred: the other routes go first, and it is waited for only
        when nothing else can serve. Raises when nothing is left or the deadline has passed."""
        exc, slot = self.last_error, self.last_slot
        self.last_error = None
        if exc is not None and slot is not None and exc.retryable and slot.attempt < self.retry.max_attempts:
            now = self.policy.monotonic()
            if isinstance(exc, Timeout) or exc.retry_after is not None:
                delay = self.retry.delay(slot.attempt, exc.retry_after, self.policy.rng)
                self._defer(_Deferred(slot, exc, now + delay))
            else:
                retry = await self._retry(slot, exc, now + self.retry.delay(slot.attempt, None, self.policy.rng))
                if retry is not None:
                    return retry
        nxt = await self._next_route()
        while nxt is None and self.deferred:
            waiting = min(self.deferred, key=lambda d: d.ready_at)
            self.deferred.remove(waiting)
            nxt = await self._retry(waiting.slot, waiting.error, waiting.ready_at)
        if nxt is None:
            self.exhausted()
        return nxt

    def _defer(self, deferred: _Deferred) -> None:
        if self.deferred is None:
            self.deferred = []
        self.deferred.append(deferred)

    async def _retry(self, slot: _Slot, exc: LLMError | None, ready_at: float) -> _Slot | None:
        """Try ``slot``'s route again once it is ready (``exc`` None: it was cooling down when
        reached), if the wait fits the deadline and the retry budget allows."""
        clock, state = self.policy.clock, self.policy.state
        route = slot.route
        now = clock.monotonic()
        wait = max(ready_at - now, state.retry_in(route.name, now))
        if self.deadline is not None and now + wait >= self.deadline:
            return None
        if exc is not None and exc.retry_after is not None and exc.retry_after > self.retry.max_retry_after:
            return None
        if exc is None and wait > self.retry.max_retry_after:
            return None
        if state.breaker_state(route.name, now) != "closed":
            return None
        if slot.attempt and not state.reserve_retry(now):
            return None
        if wait > 0:
            await clock.sleep(wait)
        now = clock.monotonic()
        permit = state.admit_now(route.name, now)
        if permit is ASK:
            permit = await state.admit(route.name, now)
        if permit is None:
            return None
        self.started.add(route.name)
        return _Slot(route, slot.attempt + 1, clock.monotonic(), permit)

    async def hedge_slot(self) -> _Slot | None:
        """A hedge: the next eligible route, if the budget allows one more attempt."""
        slot = await self._next_route()
        if slot is None:
            return None  # nothing to hedge with: spend no budget
        state = self.policy.state
        if not state.reserve_retry(self.policy.monotonic()):
            # Give the route back: it stays available for an ordinary failover.
            self.idx -= 1
            self.started.discard(slot.route.name)
            state.release(slot.permit)
            return None
        slot.hedge = True
        return slot

    async def _next_route(self) -> _Slot | None:
        state = self.policy.state
        while True:
            found = self._scan()
            if not isinstance(found, Route):
                return found
            # Only a shared state's half-open probe needs the round trip.
            now = self.policy.monotonic()
            permit = await state.admit(found.name, now)
            if permit is not None:
                self.started.add(found.name)
                return _Slot(found, 1, now, permit)
            self._skip(found, now)

    def _scan(self) -> _Slot | Route | None:
        """The next eligible route the state admits from its local view, as a slot (every route it
        refuses on the way skipped); the route itself when only ``admit`` can decide; None when no
        route is left or the deadline has passed. Never awaits: the first attempt of a request and
        an outage's fail-fast path run without a single await."""
        state = self.policy.state
        order, started, deadline = self.order, self.started, self.deadline
        now = self.policy.monotonic()  # one instant: nothing here awaits
        if deadline is not None and now >= deadline:
            return None
        # Set only by ``decide``, never while this loop runs.
        filtered = self.bad_providers is not None or self.context_floor is not None
        while self.idx < len(order):
            route = order[self.idx]
            self.idx += 1
            if route.name in started or (filtered and not self._eligible(route)):
                continue
            permit = state.admit_now(route.name, now)
            if permit is None:
                self._skip(route, now)
                continue
            if permit is ASK:
                return route
            started.add(route.name)
            return _Slot(route, 1, now, permit)
        return None

    def _skip(self, route: Route, now: float) -> None:
        """A route the state would not admit: an open breaker, or cooling after a Retry-After.
        The fail-fast path during an outage, so the state is read once and the attempt shared."""
        policy = self.policy
        state = policy.state
        self.skipped = True
        breaker, wait = state.refusal(route.name, now)
        if wait > 0 and (not self.soonest or wait < self.soonest):
            self.soonest = wait
        if breaker == "closed" and wait > 0:
            # Cooling after a Retry-After: come back to it if nothing else can serve.
            self._defer(_Deferred(_Slot(route, 0, now, Permit(route.name)), None, now))
            error = "CoolingDown"
        else:
            error = "CircuitOpen"
        attempt, skipped = _skipped(route, error, breaker)
        self.attempts.append(attempt)
        if self.skips is not None:
            self.skips.append(skipped)

    def _report_skips(self) -> None:
        """Tell the observer which routes were skipped since the last report (one event for all)."""
        skips = self.skips
        assert skips
        request = self.request
        self.skips = []
        event = _skipped_routes(tuple(skips), self.route_set.name, self.request_id or request_id_of(request),
                              request.tenant_id, request.metadata)
        try:  # noqa: SIM105 - cheaper than contextlib.suppress on the fail-fast path
            self.policy._skips_to()(event)
        except Exception:  # an observer's bug must not change a request's outcome
            pass

    def _eligible(self, route: Route) -> bool:
        if self.bad_providers is not None and route.provider in self.bad_providers:
            return False
        if self.context_floor is not None:
            return route.context_window is not None and route.context_window > self.context_floor
        return True

    def exhausted(self, *, all_refused: bool = False) -> NoReturn:
        """Raise what the request ends with. ``all_refused``: every route was refused by one scan,
        which read the waits ``retry_after`` needs (no need to read them again)."""
        last = self.last_seen
        if isinstance(last, ContextLengthExceeded):
            raise last
        now = self.policy.monotonic()
        late = self.deadline is not None and now >= self.deadline
        errors = self.errors
        if all_refused and not errors:  # an outage's fail-fast path: the error from its prototype
            raise _refused(self.route_set.name, len(self.order), late, late or self.skipped, self.attempts,
                           self.soonest or None) from last
        raise AllProvidersFailed(
            _exhausted_message(self.route_set.name, late, len(errors), len(self.order)),
            attempts=self.attempts,
            status=self._status(late),
            retry_after=(self.soonest or None) if all_refused else self._retry_after(now),
            retryable=late or self.skipped or any(e.retryable for e in errors),
        ) from last

    def _status(self, late: bool) -> int | None:
        """One status for the whole request: the attempts' own when they agree, else 429 when every
        attempt was throttled, 504 when the deadline passed, 503 when every failure was transient."""
        errors = self.errors
        if not errors:  # every route skipped
            return _unavailable_status(late)
        statuses = {e.status for e in errors}
        if len(statuses) == 1 and None not in statuses:
            return statuses.pop()
        if errors and all(isinstance(e, RateLimited) for e in errors):
            return 429
        if late:
            return 504
        if all(e.retryable for e in errors):
            return 503
        return self.last_seen.status if self.last_seen is not None else None

    def _retry_after(self, now: float) -> float | None:
        """When every attempt was throttled or overloaded (or skipped as unavailable): seconds until
        the first route can serve again, where that is known."""
        errors = self.errors
        hinted: set[str] = set()
        if errors:  # none when every route was skipped (an outage's fail-fast path)
            if not all(isinstance(e, _THROTTLED) for e in errors):
                return None
            tried = [a.route for a in self.attempts if a.attempt]
            hinted = {route for route, e in zip(tried, errors, strict=True) if e.retry_after is not None}
        retry_in = self.policy.state.retry_in
        waits = []
        for route in self.order:
            wait = retry_in(route.name, now)
            if wait > 0 or route.name in hinted:
                waits.append(wait)
        return min(waits) if waits else None

    # -- reporting --------------------------------------------------------------------------------

    def record(self, slot: _Slot, exc: LLMError, duration: float) -> None:
        self.last_seen = exc
        self.errors.append(exc)
        self.attempts.append(Attempt(slot.route.name, type(exc).__name__, exc.status, duration, slot.attempt,
                                     exc.message[:200]))
        self.report(slot, "error", type(exc).__name__, duration, None, exc.status)

    def report(self, slot: _Slot, outcome: Outcome, error: str | None, latency: float, ttft: float | None,
               status: int | None = None, *, usage: Usage | None = None, estimated: bool = False,
               now: float | None = None) -> None:
        """Tell the observer of an attempt's outcome (``now``: the policy clock, when just read)."""
        policy = self.policy
        if type(policy.observer) is NullObserver:
            return
        route = slot.route
        self._emit(route, slot.attempt, outcome, error, status, latency, ttft,
                   policy.state.breaker_state(route.name, policy.monotonic() if now is None else now),
                   slot.hedge, usage, estimated)

    def _emit(self, route: Route, attempt: int, outcome: Outcome, error: str | None, status: int | None,
              latency: float, ttft: float | None, breaker: BreakerState, hedge: bool = False,
              usage: Usage | None = None, estimated: bool = False) -> None:
        if self.skips:  # the routes skipped before this attempt are reported before it
            self._report_skips()
        request = self.request
        event = _attempt_event(
            route.name, attempt, outcome, error, status, latency, ttft, breaker, self.route_set.name, hedge,
            None, route.provider, route.model, usage, estimated, self.request_id or request_id_of(request),
            request.tenant_id, request.metadata,
        )
        try:  # noqa: SIM105 - cheaper than contextlib.suppress on the fail-fast path
            self.policy.observer.on_attempt(event)
        except Exception:  # an observer's bug must not change a request's outcome
            pass


def _buffered_usage(primed: PrimedStream) -> Usage | None:
    """The last usage a primed (unread) stream reported, if any."""
    found = [e.usage for e in primed.buffered if type(e) is UsageUpdate]
    return found[-1] if found else None


def _billed_usage(answer: Completion, outcome: Outcome) -> tuple[Usage, bool]:
    """An attempt's usage: what the vendor reported, with the output estimated from the text
    received when it reported none (an unreported usage, or a stream that did not finish).
    The second value says whether anything was estimated (the input is estimated by whoever
    knows the request: the metering step)."""
    usage = answer.usage
    if usage.output_tokens == 0 and answer.parts and (outcome != "ok" or not usage.reported):
        return replace(usage, output_tokens=estimate_output_tokens(answer)), True
    return usage, not usage.reported


def _call_stream(route: Route, request: CompletionRequest) -> Awaitable[PrimedStream]:
    return prime(route.adapter, request, route.provider)


class PolicyStream:
    """The value of ``FailoverPolicy.stream``: an async context manager and iterator in one.

    The first iteration runs the policy up to a route's first content event (failing over and
    retrying as needed); from then on events pass straight through, and a failure surfaces as
    ``StreamInterrupted`` with the partial completion. Leaving the context closes the upstream.
    """

    __slots__ = ("_acc", "_buf", "_done", "_events", "_i", "_primed", "_run", "_slot", "_source", "_watchdog")

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._primed: PrimedStream | None = None
        self._events: AsyncIterator[StreamEvent] | None = None
        self._buf: list[StreamEvent] = []
        self._i = 0
        # Our own fold only when the route's stream cannot tell its partial itself (an SDKAdapter's can).
        self._acc: Accumulator | None = None
        self._source: Callable[[], Completion] | None = None
        self._done = False
        self._slot: _Slot | None = None
        self._watchdog: Watchdog | None = None

    async def __aenter__(self) -> PolicyStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> PolicyStream:
        return self

    @property
    def route(self) -> str | None:
        """The route that is answering (once the stream has started)."""
        return self._slot.route.name if self._slot is not None else None

    def partial(self) -> Completion:
        """Everything yielded so far, as a completion."""
        if self._source is not None:
            return self._source()
        return self._acc.partial() if self._acc is not None else Accumulator().partial()

    async def _open(self) -> None:
        run = self._run
        try:
            primed, slot = await run.execute(_call_stream)
        except BaseException:
            self._done = True
            raise
        self._primed, self._slot = primed, slot
        self._events, self._buf = primed.events, primed.buffered
        source = getattr(primed.events, "partial", None)
        if callable(source):
            self._source = source
        else:
            self._acc = Accumulator()
        policy = run.policy
        policy.state.in_flight_up(slot.route.name)  # until the stream ends, for least_busy
        if primed.ttft is not None:
            policy.state.observe_latency(slot.route.name, policy.monotonic(), None, primed.ttft)
        stall = run.stall_timeout()
        if run.deadline is not None or stall is not None:
            # One timer for the stream's life, on the loop's clock (the deadline is on the policy's).
            loop = asyncio.get_running_loop()
            deadline = None if run.deadline is None else loop.time() + (run.deadline - policy.monotonic())
            self._watchdog = Watchdog(loop, deadline, stall)

    async def __anext__(self) -> StreamEvent:
        if self._done:
            raise StopAsyncIteration
        events = self._events
        if events is None:
            await self._open()
            events = self._events
            assert events is not None
        if self._i < len(self._buf):
            event = self._buf[self._i]
            self._i += 1
        else:
            watchdog = self._watchdog
            unexpected: LLMError | None = None
            try:
                if watchdog is None:
                    event = await events.__anext__()
                else:
                    if watchdog.fired is not None:
                        raise TimeoutError  # expired between reads
                    watchdog.waiter = asyncio.current_task()
                    try:
                        event = await events.__anext__()
                    finally:
                        watchdog.waiter = None
                    if watchdog.stall is not None:
                        watchdog.received()
            except StopAsyncIteration:
                await self._fail(ProviderUnavailable("stream ended without a final event"))
            except LLMError as exc:
                await self._fail(exc)
            except asyncio.CancelledError:
                if watchdog is None or not watchdog.swallow(asyncio.current_task()):
                    await self._finish("cancelled", None)
                    raise
                await self._expired(watchdog)
            except TimeoutError:
                if watchdog is None or watchdog.fired is None:
                    unexpected = _unexpected(TimeoutError(), self._slot.route)  # type: ignore[union-attr]
                else:
                    await self._expired(watchdog)
            except Exception as exc:  # an adapter's bug: still only the taxonomy leaves
                unexpected = _unexpected(exc, self._slot.route)  # type: ignore[union-attr]
            except BaseException:
                await self._finish("cancelled", None)
                raise
            if unexpected is not None:  # outside the handler: the raw exception is not its context
                await self._fail(unexpected)
        if self._acc is not None:
            self._acc.add(event)
        if type(event) is StreamEnd:
            await self._finish("ok", None)
        return event

    async def _expired(self, watchdog: Watchdog) -> NoReturn:
        if watchdog.fired == "stall":
            await self._fail(Timeout(f"no event for {watchdog.stall:g}s (stall_timeout)"))
        await self._fail(Timeout("the request deadline passed while streaming"), health=False)

    async def _fail(self, exc: LLMError, *, health: bool = True) -> NoReturn:
        """``health`` False: the failure is the caller's (its deadline), not the provider's."""
        slot = self._slot
        assert slot is not None
        if health and exc.retryable:
            # Not a probe: this call's verdict was given when its stream opened.
            self._run.policy.state.record_failure(Permit(slot.route.name), self._run.policy.monotonic())
        await self._finish("interrupted", exc)
        if isinstance(exc, StreamInterrupted):
            raise exc
        if exc.provider is None:
            exc.provider, exc.model = slot.route.provider, slot.route.model
        raise StreamInterrupted(
            f"stream failed after output began: {exc.message}", partial=self.partial(), cause=exc,
            provider=exc.provider, model=exc.model, status=exc.status, request_id=exc.request_id,
        ) from None

    async def _finish(self, outcome: Outcome, exc: LLMError | None) -> None:
        """Record the answering attempt once, and close its upstream."""
        if self._done:
            return
        self._done = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        primed, slot = self._primed, self._slot
        if primed is None:  # closed before it opened
            return
        assert slot is not None  # set with ``primed``
        run = self._run
        run.policy.state.in_flight_down(slot.route.name)
        now = run.policy.monotonic()
        latency = now - slot.start
        if outcome == "ok":
            run.policy.state.observe_latency(slot.route.name, now, latency, None)
        error = type(exc).__name__ if exc is not None else None
        usage, estimated = _billed_usage(self.partial(), outcome)
        run.report(slot, outcome, error, latency, primed.ttft, exc.status if exc is not None else None,
                   usage=usage, estimated=estimated)
        self._events = None
        await primed.close()

    async def aclose(self) -> None:
        """Close the upstream stream (idempotent)."""
        await self._finish("cancelled", None)
