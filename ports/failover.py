"""``FailoverPolicy``: ``LLMPort`` over an ordered set of routes, with retries, circuit breakers,
deadlines, hedging and failover decided by the error taxonomy."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, fields
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
    LLMError,
    ProviderUnavailable,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    Timeout,
    Usage,
    UsageUpdate,
)
from llmport.domain.pricing import estimate_output_tokens

from .backoff import RetryBudget, RetryPolicy
from .breaker import BreakerConfig, CircuitBreaker
from .clock import SYSTEM_CLOCK, Clock
from .hedging import HedgeConfig
from .observer import AttemptEvent, BreakerTransition, NullObserver, Outcome, PolicyObserver
from .routing import Route, Router, RouteSet, RouteStats
from .strategies import Priority, Strategy
from .streams import PrimedStream, prime

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Policy-wide settings. ``timeout`` is the default overall deadline of a request and
    ``attempt_timeout`` the default per-attempt limit (a request's own values win when given)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    timeout: float | None = None
    attempt_timeout: float | None = None
    failover_on_content_filter: bool = False
    hedge: HedgeConfig | None = None


class FailoverPolicy:
    """Implements ``LLMPort`` over routes: resolves the request's model to a route set, orders it
    with the set's strategy, and tries routes until one answers.

    Same-route retries only for retryable errors, with backoff, within the retry budget and the
    deadline; failover to the next route for errors another provider may not share; a circuit
    breaker per route; optional hedging per route set. Every attempt is reported to ``observer``.
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
    ) -> None:
        self.router = router
        self.config = config or PolicyConfig()
        self.strategy: Strategy = strategy or Priority()
        self.budget = budget or RetryBudget()
        self.clock = clock
        self.observer: PolicyObserver = observer or NullObserver()
        self.rng = rng or random.Random()
        self.breakers: dict[str, CircuitBreaker] = {}
        self.stats: dict[str, RouteStats] = {}
        self._closed = False

    @classmethod
    def of(cls, *routes: Route, aliases: dict[str, Sequence[Route] | RouteSet] | None = None,
           **kwargs: object) -> FailoverPolicy:
        """A policy over ``routes`` (and aliases of them): a shorthand for scripts and tests."""
        sets = {name: v if isinstance(v, RouteSet) else RouteSet(name, tuple(v)) for name, v in (aliases or {}).items()}
        return cls(Router(routes, sets), **kwargs)  # type: ignore[arg-type]

    # -- LLMPort -------------------------------------------------------------------------------

    async def complete(self, request: CompletionRequest) -> Completion:
        run = _Run(self, self.router.resolve(request.model), request)
        value, slot = await run.execute(_call_complete)
        now = self.clock.monotonic()
        latency = now - slot.start
        self._stats(slot.route).observe(now, latency, None)
        run.report(slot, "ok", None, latency, None, usage=value.usage)
        return value

    def stream(self, request: CompletionRequest) -> PolicyStream:
        return PolicyStream(_Run(self, self.router.resolve(request.model), request))

    async def count_tokens(self, request: CompletionRequest) -> int:
        route_set = self.router.resolve(request.model)
        now = self.clock.monotonic()
        last: LLMError | None = None
        attempts: list[Attempt] = []
        for route in route_set.routes:
            if self._breaker(route).retry_in(now) > 0:
                attempts.append(Attempt(route.name, "CircuitOpen", None, 0.0, 0, "circuit breaker open"))
                continue
            start = self.clock.monotonic()
            try:
                return await route.adapter.count_tokens(_for_route(request, route))
            except LLMError as exc:
                if not (exc.failover or exc.retryable):
                    raise
                last = exc
                attempts.append(Attempt(route.name, type(exc).__name__, exc.status, self.clock.monotonic() - start,
                                        1, exc.message[:200]))
        raise AllProvidersFailed(f"no route for {request.model!r} could count tokens", attempts=attempts,
                                 status=last.status if last is not None else None) from last

    async def aclose(self) -> None:
        """Close every adapter the policy routes to (each once)."""
        if self._closed:
            return
        self._closed = True
        seen: set[int] = set()
        for adapter in [*self.router.adapters.values(), *(r.adapter for r in self.router.all_routes())]:
            if id(adapter) not in seen:
                seen.add(id(adapter))
                await adapter.aclose()

    # -- state readable by the CLI and metrics ---------------------------------------------------

    def breaker_states(self) -> list[dict[str, object]]:
        now = self.clock.monotonic()
        return [b.snapshot(now) for b in self.breakers.values()]

    def _breaker(self, route: Route) -> CircuitBreaker:
        b = self.breakers.get(route.name)
        if b is None:
            b = self.breakers[route.name] = CircuitBreaker(route.name, self.config.breaker, self._on_transition)
        return b

    def _stats(self, route: Route) -> RouteStats:
        s = self.stats.get(route.name)
        if s is None:
            s = self.stats[route.name] = RouteStats()
        return s

    def _on_transition(self, transition: BreakerTransition) -> None:
        with contextlib.suppress(Exception):  # an observer's bug must not change a request's outcome
            self.observer.on_breaker(transition)


@dataclass(slots=True, eq=False)
class _Slot:
    """One attempt in flight."""

    route: Route
    attempt: int
    start: float
    hedge: bool = False
    lost: bool = False
    probe: bool = False  # admitted by a half-open breaker: only its abandonment frees the probe


def _is_probe(breaker: CircuitBreaker) -> bool:
    """Whether the call ``breaker.allow`` just admitted is its half-open probe."""
    return breaker.state == "half_open"


async def _call_complete(route: Route, request: CompletionRequest) -> Completion:
    return await route.adapter.complete(request)


_REQUEST_FIELDS = tuple(f.name for f in fields(CompletionRequest))


def _for_route(request: CompletionRequest, route: Route) -> CompletionRequest:
    """The request with the route's model. A validated request stays valid with another model
    name, so the copy skips ``__post_init__`` (``dataclasses.replace`` would validate it again)."""
    if request.model == route.model:
        return request
    clone = object.__new__(CompletionRequest)
    for name in _REQUEST_FIELDS:
        object.__setattr__(clone, name, getattr(request, name))
    object.__setattr__(clone, "model", route.model)
    return clone


class _Run:
    """The state of one request through the policy: the ordered routes, what was tried, the
    deadline, and the decisions after each failure."""

    __slots__ = ("attempts", "bad_providers", "context_floor", "deadline", "hedge", "idx", "last_error",
                 "last_seen", "last_slot", "order", "policy", "request", "retry", "route_set", "started")

    def __init__(self, policy: FailoverPolicy, route_set: RouteSet, request: CompletionRequest) -> None:
        self.policy = policy
        self.route_set = route_set
        self.request = request
        self.retry = route_set.retry or policy.config.retry
        self.hedge = route_set.hedge or policy.config.hedge
        self.order: Sequence[Route] = ()
        self.idx = 0
        self.attempts: list[Attempt] = []
        self.last_error: LLMError | None = None
        self.last_slot: _Slot | None = None
        self.last_seen: LLMError | None = None
        self.context_floor: int | None = None
        self.bad_providers: set[str] | None = None
        self.started: set[str] = set()
        self.deadline: float | None = None

    # -- the loop ---------------------------------------------------------------------------------

    def _begin(self) -> None:
        policy, request = self.policy, self.request
        now = policy.clock.monotonic()
        policy.budget.deposit(now)
        deadline = request.deadline
        for timeout in (request.timeout, policy.config.timeout):
            if timeout is not None and (deadline is None or now + timeout < deadline):
                deadline = now + timeout
        self.deadline = deadline
        strategy = self.route_set.strategy or policy.strategy
        self.order = strategy.order(self.route_set.routes, request, policy.stats, now)

    async def execute(self, call: Callable[[Route, CompletionRequest], Awaitable[T]]) -> tuple[T, _Slot]:
        """Try routes until one succeeds; return its value and attempt, or raise."""
        self._begin()
        if self.hedge is not None and len(self.order) > 1:
            return await self._execute_hedged(call, self.hedge)
        while True:
            slot = await self.next_slot()
            try:
                return await self.attempt(slot, call), slot
            except LLMError as exc:
                self.decide(slot, exc)

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
                    observed = self.policy._stats(newest.route).percentile(hedge.percentile)
                    elapsed = self.policy.clock.monotonic() - newest.start
                    timeout = max(0.0, hedge.delay_for(observed) - elapsed)
                done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    slot = self.hedge_slot()
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
                self.report(slot, "lost", None, self.policy.clock.monotonic() - slot.start, None, usage=usage)

    async def attempt(self, slot: _Slot, call: Callable[[Route, CompletionRequest], Awaitable[T]]) -> T:
        """Run one attempt, reporting failures and cancellation; success is reported by the caller."""
        policy, route = self.policy, slot.route
        stats = policy._stats(route)
        breaker = policy._breaker(route)
        request = _for_route(self.request, route)
        limit = self.request.attempt_timeout or policy.config.attempt_timeout
        by_deadline = False
        if self.deadline is not None:
            remaining = self.deadline - policy.clock.monotonic()
            if limit is None or remaining < limit:
                limit, by_deadline = max(0.0, remaining), True
        stats.in_flight += 1
        try:
            if limit is None:
                value = await call(route, request)
            else:
                try:
                    async with asyncio.timeout(limit):
                        value = await call(route, request)
                except TimeoutError:
                    raise Timeout(f"no answer within {limit:.3g}s" + (" (request deadline)" if by_deadline else ""),
                                  provider=route.provider, model=route.model) from None
        except LLMError as exc:
            now = policy.clock.monotonic()
            if by_deadline and isinstance(exc, Timeout):
                if slot.probe:
                    breaker.release()  # the caller's deadline, not the provider's health
            elif exc.retryable:
                breaker.failure(now, probe=slot.probe)
            else:
                breaker.success(now)  # the provider answered; the request was the problem
            self.record(slot, exc, now - slot.start)
            raise
        except BaseException:
            if slot.probe:
                breaker.release()
            duration = policy.clock.monotonic() - slot.start
            self.report(slot, "lost" if slot.lost else "cancelled", None, duration, None)
            raise
        finally:
            stats.in_flight -= 1
        breaker.success(policy.clock.monotonic())
        return value

    # -- decisions --------------------------------------------------------------------------------

    def decide(self, slot: _Slot, exc: LLMError) -> None:
        """After a failed attempt: raise at once when no retry or failover can help."""
        self.last_error, self.last_slot = exc, slot
        if isinstance(exc, ContextLengthExceeded):
            window = slot.route.context_window or 0
            self.context_floor = max(self.context_floor or 0, window)
            return
        if isinstance(exc, AuthenticationFailed):
            self.bad_providers = (self.bad_providers or set()) | {slot.route.provider}
        if exc.failover or exc.retryable:
            return
        if isinstance(exc, ContentFiltered) and self.policy.config.failover_on_content_filter:
            return
        raise exc

    async def next_slot(self) -> _Slot:
        """The next attempt: a retry of the route that just failed (after its backoff) or the next
        eligible route. Raises when nothing is left or the deadline has passed."""
        policy, clock = self.policy, self.policy.clock
        exc, slot = self.last_error, self.last_slot
        if exc is not None and slot is not None and exc.retryable and slot.attempt < self.retry.max_attempts:
            breaker = policy._breaker(slot.route)
            delay = self.retry.delay(slot.attempt, exc.retry_after, policy.rng)
            now = clock.monotonic()
            fits = self.deadline is None or now + delay < self.deadline
            honoured = exc.retry_after is None or exc.retry_after <= self.retry.max_retry_after
            if (fits and honoured and breaker.state == "closed" and policy.budget.try_withdraw(now)):
                if delay > 0:
                    await clock.sleep(delay)
                if breaker.allow(clock.monotonic()):
                    self.last_error = None
                    return _Slot(slot.route, slot.attempt + 1, clock.monotonic(),
                                 probe=_is_probe(breaker))
        self.last_error = None
        nxt = self._next_route()
        if nxt is None:
            self.exhausted()
        return nxt

    def hedge_slot(self) -> _Slot | None:
        """A hedge: the next eligible route, if the budget allows one more attempt."""
        slot = self._next_route()
        if slot is None:
            return None  # nothing to hedge with: spend no budget
        if not self.policy.budget.try_withdraw(self.policy.clock.monotonic()):
            # Give the route back: it stays available for an ordinary failover.
            self.idx -= 1
            self.started.discard(slot.route.name)
            if slot.probe:
                self.policy._breaker(slot.route).release()
            return None
        slot.hedge = True
        return slot

    def _next_route(self) -> _Slot | None:
        policy, clock = self.policy, self.policy.clock
        order = self.order
        while self.idx < len(order):
            route = order[self.idx]
            self.idx += 1
            if route.name in self.started or not self._eligible(route):
                continue
            now = clock.monotonic()
            if self.deadline is not None and now >= self.deadline:
                return None
            breaker = policy._breaker(route)
            if not breaker.allow(now):
                self.attempts.append(Attempt(route.name, "CircuitOpen", None, 0.0, 0, "circuit breaker open"))
                self.report(_Slot(route, 0, now), "skipped", "CircuitOpen", 0.0, None)
                continue
            self.started.add(route.name)
            return _Slot(route, 1, now, probe=_is_probe(breaker))
        return None

    def _eligible(self, route: Route) -> bool:
        if self.bad_providers is not None and route.provider in self.bad_providers:
            return False
        if self.context_floor is not None:
            return route.context_window is not None and route.context_window > self.context_floor
        return True

    def exhausted(self) -> NoReturn:
        last = self.last_seen
        if isinstance(last, ContextLengthExceeded):
            raise last
        now = self.policy.clock.monotonic()
        late = self.deadline is not None and now >= self.deadline
        tried = sum(1 for a in self.attempts if a.attempt)
        reason = "the request deadline passed" if late else "every route failed or is unavailable"
        retry_after = None
        if not tried:  # every breaker open: say when the first one lets a probe through
            waits = [self.policy._breaker(r).retry_in(now) for r in self.order]
            retry_after = min(waits) if waits else None
        raise AllProvidersFailed(
            f"{self.route_set.name!r}: {reason} ({tried} attempts on {len(self.order)} routes)",
            attempts=self.attempts,
            status=last.status if last is not None else None,
            retry_after=retry_after if retry_after is not None or last is None else last.retry_after,
        ) from last

    # -- reporting --------------------------------------------------------------------------------

    def record(self, slot: _Slot, exc: LLMError, duration: float) -> None:
        self.last_seen = exc
        self.attempts.append(Attempt(slot.route.name, type(exc).__name__, exc.status, duration, slot.attempt,
                                     exc.message[:200]))
        self.report(slot, "error", type(exc).__name__, duration, None, exc.status)

    def report(self, slot: _Slot, outcome: Outcome, error: str | None, latency: float, ttft: float | None,
               status: int | None = None, *, usage: Usage | None = None, estimated: bool = False) -> None:
        if type(self.policy.observer) is NullObserver:
            return
        route = slot.route
        event = AttemptEvent(
            route.name, slot.attempt, outcome, error, status, latency, ttft,
            self.policy._breaker(route).state, self.route_set.name, slot.hedge,
            provider=route.provider, model=route.model, usage=usage, estimated=estimated,
        )
        with contextlib.suppress(Exception):  # an observer's bug must not change a request's outcome
            self.policy.observer.on_attempt(event)


def _buffered_usage(primed: PrimedStream) -> Usage | None:
    """The last usage a primed (unread) stream reported, if any."""
    found = [e.usage for e in primed.buffered if type(e) is UsageUpdate]
    return found[-1] if found else None


def _stream_usage(partial: Completion, outcome: Outcome) -> tuple[Usage, bool]:
    """A stream attempt's usage: what the vendor reported, with the output estimated from the text
    received when a stream that did not finish reported none."""
    usage = partial.usage
    if outcome != "ok" and usage.output_tokens == 0 and partial.parts:
        out = estimate_output_tokens(partial)
        return Usage(usage.input_tokens, out, usage.cached_input_tokens, usage.cache_write_tokens,
                     usage.reasoning_tokens), True
    return usage, False


async def _call_stream(route: Route, request: CompletionRequest) -> PrimedStream:
    return await prime(route.adapter, request, route.provider)


class PolicyStream:
    """The value of ``FailoverPolicy.stream``: an async context manager and iterator in one.

    The first iteration runs the policy up to a route's first content event (failing over and
    retrying as needed); from then on events pass straight through, and a failure surfaces as
    ``StreamInterrupted`` with the partial completion. Leaving the context closes the upstream.
    """

    __slots__ = ("_acc", "_buf", "_done", "_events", "_i", "_loop_deadline", "_primed", "_run", "_slot", "_source")

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
        self._loop_deadline: float | None = None

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
        if primed.ttft is not None:
            policy._stats(slot.route).observe(policy.clock.monotonic(), None, primed.ttft)
        if run.deadline is not None:
            loop = asyncio.get_running_loop()
            self._loop_deadline = loop.time() + (run.deadline - policy.clock.monotonic())

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
            try:
                if self._loop_deadline is None:
                    event = await events.__anext__()
                else:
                    async with asyncio.timeout_at(self._loop_deadline):
                        event = await events.__anext__()
            except StopAsyncIteration:
                await self._fail(ProviderUnavailable("stream ended without a final event"))
            except TimeoutError:
                await self._fail(Timeout("the request deadline passed while streaming"), health=False)
            except LLMError as exc:
                await self._fail(exc)
            except BaseException:
                await self._finish("cancelled", None)
                raise
        if self._acc is not None:
            self._acc.add(event)
        if type(event) is StreamEnd:
            await self._finish("ok", None)
        return event

    async def _fail(self, exc: LLMError, *, health: bool = True) -> NoReturn:
        """``health`` False: the failure is the caller's (its deadline), not the provider's."""
        slot = self._slot
        assert slot is not None
        if health and exc.retryable:
            # probe=False: this call's verdict was given when its stream opened
            self._run.policy._breaker(slot.route).failure(self._run.policy.clock.monotonic(), probe=False)
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
        primed, slot = self._primed, self._slot
        if primed is None or slot is None:
            return
        run = self._run
        now = run.policy.clock.monotonic()
        latency = now - slot.start
        if outcome == "ok":
            run.policy._stats(slot.route).observe(now, latency, None)
        error = type(exc).__name__ if exc is not None else None
        usage, estimated = _stream_usage(self.partial(), outcome)
        run.report(slot, outcome, error, latency, primed.ttft, exc.status if exc is not None else None,
                   usage=usage, estimated=estimated)
        self._events = None
        await primed.close()

    async def aclose(self) -> None:
        """Close the upstream stream (idempotent)."""
        if self._done:
            return
        if self._primed is None:
            self._done = True
            return
        await self._finish("cancelled", None)
