"""The response cache: a port (``ResponseCache``) and the pipeline step that uses it (``CachingLLM``).

Opt-in: a request with ``cache.response_ttl`` (seconds), or any request to an alias with a
``CacheRule``. Only complete, successful answers are stored (a stream only once it ended with
``StreamEnd``). A hit on ``complete`` returns the completion marked ``cached``; a hit on ``stream``
replays it as the events a live stream produces, with the usage marked cached. Identical requests
in flight at once make one upstream call (per process; across processes through the cache's
best-effort fill lock). A cache that fails or holds bad data is a miss, never an error.

A cache kept in this process (``LocalResponseCache``, e.g. the in-memory one) is used through its
synchronous twins of ``get`` and ``put``, without the fill claim: a miss then adds no await of
its own to the upstream call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import field
from decimal import Decimal
from types import TracebackType
from typing import Protocol, runtime_checkable

from llmport.domain import (
    Accumulator,
    Completion,
    CompletionRequest,
    LLMError,
    StreamEnd,
    StreamEvent,
    Timeout,
    Usage,
    completion_events,
)
from llmport.domain.frozen import builder, valueclass
from llmport.domain.usage_record import UsageRecord

from .cache_codec import as_cached
from .cache_key import cache_key
from .clock import SYSTEM_CLOCK, Clock
from .correlation import request_id_of
from .ledger import UsageLedger
from .llm import LLMPort
from .observer import AttemptEvent, NullObserver, PolicyObserver
from .pipeline import LLMStep

_ZERO = Decimal(0)
_SHARED = None  # the tenant part of a key for an alias whose answers every tenant may share


class ResponseCache(Protocol):
    """Where answers are kept. Implementations never raise: bad data and an unavailable store are
    a miss (``get`` returns None) or a skipped write."""

    async def get(self, key: str) -> Completion | None:
        """The answer stored under ``key`` (marked ``cached``), or None."""
        ...

    async def put(self, key: str, completion: Completion, ttl: float) -> None:
        """Keep ``completion`` under ``key`` for ``ttl`` seconds."""
        ...

    async def acquire(self, key: str, ttl: float) -> bool:
        """Claim the right to fill ``key`` across processes for at most ``ttl`` seconds; True when
        this process should call upstream (always, for a cache no other process shares)."""
        ...

    async def release(self, key: str) -> None:
        """Give up a claim taken by ``acquire``."""
        ...


@runtime_checkable
class LocalResponseCache(ResponseCache, Protocol):
    """A ``ResponseCache`` in this process: no other process fills it (no fill claim to take),
    and it answers without waiting, through these synchronous twins of ``get`` and ``put``. The
    step calls only these two on such a cache (a subclass changes them, not ``get`` or ``acquire``)."""

    def get_now(self, key: str) -> Completion | None:
        """``get`` without an await."""
        ...

    def put_now(self, key: str, completion: Completion, ttl: float) -> None:
        """``put`` without an await."""
        ...


@valueclass
class CacheRule:
    """An alias's caching: its requests are cached for ``ttl`` seconds (the default TTL when None);
    ``shared`` lets every tenant be served the same answers."""

    ttl: float | None = None
    shared: bool = False


@valueclass
class CacheConfig:
    """``ttl``: the default for aliases opting in without one. ``lock_ttl``: how long another
    process's fill claim is waited for (polling every ``lock_poll``) before calling upstream anyway.
    ``chunk_size``: characters per replayed text or argument event."""

    ttl: float = 300.0
    aliases: Mapping[str, CacheRule] = field(default_factory=dict)
    lock_ttl: float = 5.0
    lock_poll: float = 0.05
    chunk_size: int = 32


@valueclass
class _Plan:
    key: str
    ttl: float
    read: bool
    write: bool


# Built per request: the fast frozen constructors (see ``llmport.domain.frozen``).
_new_plan = builder(_Plan)
_attempt_event = builder(AttemptEvent)

# What a follower of an identical request in flight receives: the answer, the error, or None when
# the leader gave up without one (the follower then tries itself).
_Outcome = Completion | LLMError | None


class _Flight:
    """A request in flight that identical requests follow: ``landed`` is created by its first
    follower (a request nobody follows pays for no future) and set once the leader is done."""

    __slots__ = ("landed",)

    def __init__(self) -> None:
        self.landed: asyncio.Future[_Outcome] | None = None


class CachingLLM(LLMStep):
    """The response cache step. ``route_set`` names what a request's ``model`` resolves to (so an
    alias re-pointed at other routes never serves the old routes' answers); by default the model."""

    def __init__(
        self,
        inner: LLMPort,
        cache: ResponseCache,
        config: CacheConfig | None = None,
        *,
        route_set: Callable[[str], str] | None = None,
        observer: PolicyObserver | None = None,
        ledger: UsageLedger | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(inner)
        self.cache = cache
        # The synchronous path (no awaits, no fill claim) for a cache in this process.
        self.local = cache if isinstance(cache, LocalResponseCache) else None
        self.config = config or CacheConfig()
        self.route_set = route_set or _same
        self.observer: PolicyObserver = observer or NullObserver()
        self.ledger = ledger
        self.clock = clock
        self._flights: dict[str, _Flight] = {}

    def plan(self, request: CompletionRequest) -> _Plan | None:
        """Whether and how ``request`` uses the cache (None: it passes straight through)."""
        policy = request.cache
        rule = self.config.aliases.get(request.model)
        if policy.response_ttl is not None:
            ttl = float(policy.response_ttl)
        elif rule is not None:
            ttl = self.config.ttl if rule.ttl is None else rule.ttl
        else:
            return None
        if not ttl > 0:
            return None
        tenant = _SHARED if rule is not None and rule.shared else request.tenant_id or ""
        key = cache_key(request, self.route_set(request.model), tenant)
        return _new_plan(key, ttl, not policy.refresh, policy.store)

    # -- LLMPort -------------------------------------------------------------------------------

    async def complete(self, request: CompletionRequest) -> Completion:
        plan = self.plan(request)
        if plan is None:
            return await self.inner.complete(request)
        key, local = plan.key, self.local
        start = self.clock.monotonic()
        if plan.read:
            hit = self._get_now(local, key) if local is not None else await self._get(key)
            if hit is not None:
                return await self._hit(request, start, "hit", hit)
            while (flight := self._flights.get(key)) is not None:
                outcome = await self._follow(flight, request)
                if isinstance(outcome, Completion):
                    return await self._hit(request, start, "in flight", as_cached(outcome))
                if outcome is not None:
                    raise outcome
        # This request leads: it calls upstream (unless another process filled the key meanwhile).
        flight = self._open_flight(key)
        outcome = None
        try:
            if local is None and (hit := await self._claim(plan)) is not None:
                outcome = hit
                return await self._hit(request, start, "filled elsewhere", hit)
            try:
                completion = await self.inner.complete(request)
            except LLMError as exc:
                outcome = exc
                raise
            if local is not None:
                self._put_now(local, plan, completion)
            else:
                await self._put(plan, completion)
            outcome = completion
            return completion
        finally:
            self._close_flight(key, flight, outcome)
            if local is None and not isinstance(outcome, Completion):
                await self._release(key)

    def stream(self, request: CompletionRequest) -> CachingStream:
        return CachingStream(self, request)

    # -- mechanics shared by complete and stream --------------------------------------------------

    def _open_flight(self, key: str) -> _Flight:
        flight = self._flights[key] = _Flight()
        return flight

    def _close_flight(self, key: str, flight: _Flight, outcome: _Outcome) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if flight.landed is not None:  # someone follows it
            flight.landed.set_result(outcome)

    async def _claim(self, plan: _Plan) -> Completion | None:
        """Take the cross-process fill claim; when another process holds it, wait (bounded) for its
        answer to appear. Returns that answer, or None when this process should call upstream."""
        try:
            if await self.cache.acquire(plan.key, self.config.lock_ttl):
                return None
        except Exception:  # a failing cache is a miss: fill it ourselves
            return None
        waited = 0.0
        while waited < self.config.lock_ttl:
            await self.clock.sleep(self.config.lock_poll)
            waited += self.config.lock_poll
            if plan.read and (hit := await self._get(plan.key)) is not None:
                return hit
        return None

    async def _follow(self, flight: _Flight, request: CompletionRequest) -> _Outcome:
        """Wait for the identical request in flight, within this request's own time limit."""
        if flight.landed is None:
            flight.landed = asyncio.get_running_loop().create_future()
        limit = request.timeout
        if request.deadline is not None:
            left = request.deadline - self.clock.monotonic()
            limit = left if limit is None else min(limit, left)
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(flight.landed)
        except TimeoutError:
            raise Timeout("timed out waiting for an identical request in flight") from None

    async def _get(self, key: str) -> Completion | None:
        try:
            return await self.cache.get(key)
        except Exception:  # the port promises not to raise; a broken implementation is still a miss
            return None

    async def _put(self, plan: _Plan, completion: Completion) -> None:
        if _storable(plan, completion):
            with contextlib.suppress(Exception):  # a failing cache only costs a future hit
                await self.cache.put(plan.key, completion, plan.ttl)
        await self._release(plan.key)

    @staticmethod
    def _get_now(local: LocalResponseCache, key: str) -> Completion | None:
        try:
            return local.get_now(key)
        except Exception:  # the port promises not to raise; a broken implementation is still a miss
            return None

    @staticmethod
    def _put_now(local: LocalResponseCache, plan: _Plan, completion: Completion) -> None:
        if _storable(plan, completion):
            try:  # noqa: SIM105 (on every miss: suppress() would cost a context manager each time)
                local.put_now(plan.key, completion, plan.ttl)
            except Exception:  # a failing cache only costs a future hit
                pass

    async def _release(self, key: str) -> None:
        with contextlib.suppress(Exception):
            await self.cache.release(key)

    async def _hit(self, request: CompletionRequest, start: float, how: str, answer: Completion) -> Completion:
        """Report a hit (observer, ledger) and return the answer as served."""
        rid = request_id_of(request)
        event = _attempt_event("cache", 0, "cached", None, None, self.clock.monotonic() - start, None, "closed",
                               target=request.model, detail=how, request_id=rid, tenant=request.tenant_id,
                               tags=request.metadata)
        try:  # noqa: SIM105 (on every hit: suppress() would cost a context manager each time)
            self.observer.on_attempt(event)
        except Exception:  # an observer's bug must not change a request's outcome
            pass
        if self.ledger is not None:
            record = UsageRecord(time.time(), rid, answer.provider or "cache", answer.model or "",
                                 request.model, Usage(), _ZERO, "cached", request.tenant_id, request.metadata)
            with contextlib.suppress(Exception):  # the ledger is bookkeeping: a hit is served regardless
                await self.ledger.record([record])
        return answer


class CachingStream:
    """The value of ``CachingLLM.stream``: an async context manager and iterator in one. A hit (or
    an identical stream finishing first) replays the cached answer; a miss passes the live events
    through, folding them, and stores the answer when the stream ends with ``StreamEnd``."""

    def __init__(self, step: CachingLLM, request: CompletionRequest) -> None:
        self._step = step
        self._request = request
        self._replay: AsyncIterator[StreamEvent] | None = None
        self._live: AsyncIterator[StreamEvent] | None = None
        self._ctx: contextlib.AbstractAsyncContextManager[AsyncIterator[StreamEvent]] | None = None
        self._plan: _Plan | None = None
        self._flight: _Flight | None = None
        self._acc: Accumulator | None = None
        self._outcome: _Outcome = None

    async def __aenter__(self) -> CachingStream:
        step, request = self._step, self._request
        plan = self._plan = step.plan(request)
        if plan is None:
            await self._open_live()
            return self
        key, local = plan.key, step.local
        start = step.clock.monotonic()
        if plan.read:
            hit = step._get_now(local, key) if local is not None else await step._get(key)
            if hit is not None:
                self._replay = _replay(await step._hit(request, start, "hit", hit), step.config.chunk_size)
                return self
            while (flight := step._flights.get(key)) is not None:
                outcome = await step._follow(flight, request)
                if isinstance(outcome, Completion):
                    self._replay = _replay(await step._hit(request, start, "in flight", as_cached(outcome)),
                                           step.config.chunk_size)
                    return self
                if outcome is not None:
                    raise outcome
        self._flight = step._open_flight(key)
        try:
            hit = None if local is not None else await step._claim(plan)
            if hit is not None:
                self._outcome = hit
                self._replay = _replay(await step._hit(request, start, "filled elsewhere", hit),
                                       step.config.chunk_size)
                return self
            self._acc = Accumulator()
            await self._open_live()
        except BaseException:
            await self._finish()
            raise
        return self

    async def _open_live(self) -> None:
        self._ctx = self._step.inner.stream(self._request)
        self._live = await self._ctx.__aenter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._ctx is not None:
                ctx, self._ctx = self._ctx, None
                await ctx.__aexit__(exc_type, exc, tb)
        finally:
            await self._finish()

    async def _finish(self) -> None:
        if self._flight is not None and self._plan is not None:
            flight, self._flight = self._flight, None
            self._step._close_flight(self._plan.key, flight, self._outcome)
            if self._outcome is None and self._step.local is None:  # cut or abandoned: free the fill claim
                await self._step._release(self._plan.key)

    def __aiter__(self) -> CachingStream:
        return self

    @property
    def route(self) -> str | None:
        """The route answering: ``"cache"`` for a replay, else the live stream's route when it names one."""
        if self._replay is not None:
            return "cache"
        route = getattr(self._live, "route", None)
        return route if isinstance(route, str) else None

    async def __anext__(self) -> StreamEvent:
        if self._replay is not None:
            return await self._replay.__anext__()
        if self._live is None:
            raise RuntimeError("use the stream inside 'async with'")
        event = await self._live.__anext__()
        if self._acc is not None:
            self._acc.add(event)
            if type(event) is StreamEnd:
                await self._store(self._acc.partial())
        return event

    async def _store(self, completion: Completion) -> None:
        step, plan = self._step, self._plan
        if plan is not None:
            if step.local is not None:
                step._put_now(step.local, plan, completion)
            else:
                await step._put(plan, completion)
            self._outcome = completion


async def _replay(completion: Completion, chunk_size: int) -> AsyncIterator[StreamEvent]:
    for event in completion_events(completion, chunk_size):
        yield event


def _same(model: str) -> str:
    return model


def _storable(plan: _Plan, completion: Completion) -> bool:
    # A filtered answer is the vendor declining, not an answer worth repeating for the TTL.
    return plan.write and completion.stop_reason.kind != "content_filter"
