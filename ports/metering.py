"""Money as an ``LLMPort`` step: cost on every answer, every attempt in the usage ledger, and
budgets reserved before the network and settled after.

``MeteredLLM`` wraps the failover policy. The policy reports each attempt (with its usage) to its
observer; ``MeteringObserver`` (wired into that observer) prices the attempt and adds it to the
``RequestMeter`` of the request in progress, found through a context variable that ``MeteredLLM``
sets around every call into the policy (hedged attempts run in tasks that inherit it).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import replace
from decimal import Decimal
from types import TracebackType

from llmport.domain import Completion, CompletionRequest, LLMError, StreamEnd, StreamEvent, Usage, UsageUpdate
from llmport.domain.budget import BudgetSpec, BudgetStatus, BudgetThreshold, Charge
from llmport.domain.frozen import builder
from llmport.domain.pricing import DEFAULT_OUTPUT_ESTIMATE, ModelPrice, estimate_input_tokens
from llmport.domain.usage_record import UsageRecord

from .budgets import BudgetObserver, BudgetStore
from .catalog import ModelCatalog
from .correlation import bind, request_id_of, unbind
from .ledger import UsageLedger
from .llm import LLMPort
from .observer import AttemptEvent, BreakerTransition, SkippedRoutes
from .routing import Route

_usage_record = builder(UsageRecord)  # one per attempt: the fast frozen constructor
_CURRENT: ContextVar[RequestMeter | None] = ContextVar("llmport_request_meter", default=None)
_ZERO = Decimal(0)
_NETWORK_OUTCOMES = frozenset({"ok", "error", "cancelled", "lost", "interrupted"})


class RequestMeter:
    """The attempts of one request so far, priced."""

    __slots__ = ("answer_cost", "records", "request", "request_id", "reservation", "unpriced")

    def __init__(self, request: CompletionRequest, request_id: str) -> None:
        self.request = request
        self.request_id = request_id
        self.reservation = ""  # the budget store's id of this request's reservation
        self.records: list[UsageRecord] = []
        self.answer_cost: Decimal | None = None
        self.unpriced = False

    @property
    def total_cost(self) -> Decimal | None:
        """The cost of every attempt; ``None`` when one that used tokens has no known price."""
        if self.unpriced:
            return None
        records = self.records
        return sum((r.cost or _ZERO for r in records), _ZERO) if records else _ZERO

    def add(self, event: AttemptEvent, price: ModelPrice | None, now: float) -> UsageRecord:
        usage, estimated = event.usage, event.estimated
        if usage is None:
            # No usage report. An HTTP error answer was not billed; a timeout, a lost connection,
            # a cancelled or out-raced attempt may have been: its input is estimated.
            if event.outcome == "error" and event.status is not None:
                usage = Usage()
            else:
                usage, estimated = Usage(estimate_input_tokens(self.request)), True
        elif usage.input_tokens == 0 and (event.outcome != "ok" or estimated):
            usage = replace(usage, input_tokens=estimate_input_tokens(self.request))
            estimated = True
        if price is not None:
            cost: Decimal | None = price.usage_cost(usage)
        elif usage.input_tokens or usage.output_tokens:
            cost, self.unpriced = None, True
        else:
            cost = _ZERO
        request = self.request
        record = _usage_record(
            now, self.request_id, event.provider, event.model, event.target, usage, cost,
            event.outcome, request.tenant_id, request.metadata,  # type: ignore[arg-type]
            estimated, event.attempt, event.hedge,
        )
        self.records.append(record)
        if event.outcome == "ok":
            self.answer_cost = cost
        return record


class MeteringObserver:
    """A ``PolicyObserver`` that prices each attempt into the current request's meter.
    ``on_unpriced(provider, model)`` is called once per model without a known price."""

    def __init__(self, catalog: ModelCatalog, *, on_unpriced: Callable[[str, str], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.catalog = catalog
        self.on_unpriced = on_unpriced
        self.clock = clock
        self._warned: set[tuple[str, str]] = set()

    def price(self, provider: str, model: str) -> ModelPrice | None:
        price = self.catalog.lookup(provider, model).price
        if price is None and (provider, model) not in self._warned and len(self._warned) < 4096:
            self._warned.add((provider, model))
            if self.on_unpriced is not None:
                self.on_unpriced(provider, model)
        return price

    def on_attempt(self, event: AttemptEvent) -> None:
        if event.outcome not in _NETWORK_OUTCOMES:
            return  # skipped (open breaker), or a step that made no vendor call (cache, enrichment)
        meter = _CURRENT.get()
        if meter is None:
            return
        meter.add(event, self.price(event.provider, event.model), self.clock())

    def on_skipped(self, skipped: SkippedRoutes) -> None:
        pass  # no vendor call, nothing to price

    def on_breaker(self, transition: BreakerTransition) -> None:
        pass


class MeteredLLM:
    """``LLMPort`` over ``inner`` (the failover policy) that adds cost, ledger records and budgets.

    ``routes(model)`` names the routes a request for ``model`` may use (for the worst-case
    reservation and provider budgets). A budget error is raised before ``inner`` is called.
    """

    def __init__(self, inner: LLMPort, metering: MeteringObserver, *, routes: Callable[[str], Sequence[Route]],
                 ledger: UsageLedger | None = None, budgets: Sequence[BudgetSpec] = (),
                 store: BudgetStore | None = None, observer: BudgetObserver | None = None,
                 warn: Callable[[str], None] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.inner = inner
        self.metering = metering
        self.routes = routes
        self.ledger = ledger
        self.budgets = tuple(budgets)
        self.store = store
        self.observer = observer
        self.warn = warn
        self.clock = clock
        self._alerted: set[tuple[str, str, str]] = set()
        if self.budgets and store is None:
            raise ValueError("budgets need a budget store")

    # -- LLMPort -----------------------------------------------------------------------------------

    async def complete(self, request: CompletionRequest) -> Completion:
        meter = RequestMeter(request, request_id_of(request))
        reserved = await self._reserve(meter) if self.budgets else []
        token = _CURRENT.set(meter)
        bound = bind(meter.request_id)
        try:
            completion = await self.inner.complete(request)
        except LLMError as exc:
            exc.request_cost = meter.total_cost
            raise
        finally:
            unbind(bound)
            _CURRENT.reset(token)
            if reserved:
                await self._close(meter, reserved)
            elif meter.records:  # ``_close`` without budgets to settle
                await self._record(meter)
        cost, total = meter.answer_cost, meter.total_cost
        if cost is None and total is None and completion.cost is None and completion.request_cost is None:
            return completion  # unpriced: the answer as it came (no copy)
        return completion.with_cost(cost, total)

    def stream(self, request: CompletionRequest) -> MeteredStream:
        return MeteredStream(self, request)

    async def count_tokens(self, request: CompletionRequest) -> int:
        return await self.inner.count_tokens(request)

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            if self.ledger is not None:
                await self.ledger.aclose()

    # -- budgets -----------------------------------------------------------------------------------

    async def budget_status(self, name: str, key: str = "*") -> BudgetStatus:
        """Where budget ``name`` stands for ``key`` (a tenant, provider or tag value; ``*`` for a
        global budget)."""
        for spec in self.budgets:
            if spec.name == name:
                assert self.store is not None
                return await self.store.status(spec, key, self.clock())
        raise KeyError(name)

    def _charges(self, request: CompletionRequest, routes: Sequence[Route], usd: Decimal,
                 tokens: int) -> list[Charge]:
        charges: list[Charge] = []
        for spec in self.budgets:
            if spec.scope == "provider":
                keys = {r.provider for r in routes}
            else:
                key = spec.key(request.tenant_id, request.metadata)
                keys = {key} if key is not None else set()
            charges.extend(Charge(spec, k, usd, tokens) for k in sorted(keys))
        return charges

    async def _reserve(self, meter: RequestMeter) -> list[Charge]:
        """Hold the request's worst case against every budget it falls under, or raise."""
        if not self.budgets:
            return []
        request = meter.request
        routes = self.routes(request.model)
        tokens_in = estimate_input_tokens(request)
        worst_usd, worst_tokens = _ZERO, 0
        for route in routes:
            info = self.metering.catalog.lookup(route.provider, route.model)
            tokens_out = request.max_tokens or info.max_output_tokens or DEFAULT_OUTPUT_ESTIMATE
            worst_tokens = max(worst_tokens, tokens_in + tokens_out)
            price = self.metering.price(route.provider, route.model)
            if price is not None:
                worst_usd = max(worst_usd, price.worst_case(tokens_in, tokens_out))
        charges = self._charges(request, routes, worst_usd, worst_tokens)
        if charges:
            assert self.store is not None
            meter.reservation = await self.store.reserve(charges, self.clock())
        return charges

    async def _close(self, meter: RequestMeter, reserved: list[Charge]) -> None:
        """Record the request's attempts and settle its reservations; never changes its outcome."""
        if meter.records:
            await self._record(meter)
        if not reserved:
            return
        spent: list[Charge] = []
        for charge in reserved:
            mine = [r for r in meter.records if charge.spec.scope != "provider" or r.provider == charge.key]
            usd = sum((r.cost or _ZERO for r in mine), _ZERO)
            tokens = sum(r.usage.input_tokens + r.usage.output_tokens for r in mine)
            if usd or tokens:
                spent.append(Charge(charge.spec, charge.key, usd, tokens))
        assert self.store is not None
        try:
            statuses = await self.store.settle(meter.reservation, reserved, spent, self.clock())
        except Exception as exc:
            self._warn(f"budgets: could not settle a reservation: {type(exc).__name__}")
            return
        self._alert(statuses)

    async def _record(self, meter: RequestMeter) -> None:
        """Put the request's attempts in the ledger, if there is one; never changes its outcome."""
        if self.ledger is None:
            return
        try:
            await self.ledger.record(meter.records)
        except Exception as exc:  # the answer stands even when the ledger is unreachable
            self._warn(f"usage ledger: could not record {len(meter.records)} attempts: {type(exc).__name__}")

    def _alert(self, statuses: list[BudgetStatus]) -> None:
        specs = {s.name: s for s in self.budgets}
        for status in statuses:
            spec = specs[status.name]
            if spec.soft_threshold is None or self.observer is None:
                continue
            fractions = []
            if status.limit_usd:
                fractions.append(float(status.spent_usd / status.limit_usd))
            if status.limit_tokens:
                fractions.append(status.spent_tokens / status.limit_tokens)
            fraction = max(fractions, default=0.0)
            window, _ = spec.period.window(self.clock())
            mark = (status.name, status.key, window if spec.period.kind != "rolling" else "rolling")
            if fraction < spec.soft_threshold:
                self._alerted.discard(mark)  # below again (a rolling window moved on): re-armed
                continue
            if mark in self._alerted:
                continue
            if len(self._alerted) > 65536:
                self._alerted.clear()
            self._alerted.add(mark)
            with contextlib.suppress(Exception):
                self.observer.on_budget(BudgetThreshold(
                    status.name, status.key, fraction, status.spent_usd, status.spent_tokens,
                    status.limit_usd, status.limit_tokens, status.resets_at))

    def _warn(self, message: str) -> None:
        if self.warn is not None:
            with contextlib.suppress(Exception):
                self.warn(message)


class MeteredStream:
    """The value of ``MeteredLLM.stream``: the inner stream with costs on ``UsageUpdate`` and
    ``StreamEnd``; the budget is reserved on entry (or first iteration), before any network call."""

    __slots__ = ("_closed", "_ctx", "_events", "_meter", "_owner", "_request", "_reserved")

    def __init__(self, owner: MeteredLLM, request: CompletionRequest) -> None:
        self._owner = owner
        self._request = request
        self._meter: RequestMeter | None = None
        self._ctx: AbstractAsyncContextManager[AsyncIterator[StreamEvent]] | None = None
        self._events: AsyncIterator[StreamEvent] | None = None
        self._reserved: list[Charge] = []
        self._closed = False

    async def __aenter__(self) -> MeteredStream:
        await self._start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    def __aiter__(self) -> MeteredStream:
        return self

    @property
    def route(self) -> str | None:
        """The route answering (once the stream has started), when the inner stream tells it."""
        route = getattr(self._events, "route", None)
        return route if isinstance(route, str) else None

    async def _start(self) -> AsyncIterator[StreamEvent]:
        if self._events is not None:
            return self._events
        meter = self._meter = RequestMeter(self._request, request_id_of(self._request))
        self._reserved = await self._owner._reserve(meter)
        token = _CURRENT.set(meter)
        bound = bind(meter.request_id)
        try:
            ctx = self._owner.inner.stream(self._request)
            self._ctx = ctx
            self._events = await ctx.__aenter__()
        except BaseException:
            await self._finish()
            raise
        finally:
            unbind(bound)
            _CURRENT.reset(token)
        return self._events

    async def __anext__(self) -> StreamEvent:
        if self._closed:
            raise StopAsyncIteration
        events = await self._start()
        meter = self._meter
        assert meter is not None
        token = _CURRENT.set(meter)
        try:
            event = await events.__anext__()
        except StopAsyncIteration:
            await self._finish()
            raise
        except LLMError as exc:
            exc.request_cost = meter.total_cost
            await self._finish()
            raise
        finally:
            _CURRENT.reset(token)
        if isinstance(event, UsageUpdate):
            price = self._price(events)
            return UsageUpdate(event.usage, event.cached,
                               price.usage_cost(event.usage) if price is not None else None)
        if isinstance(event, StreamEnd):
            return replace(event, cost=meter.answer_cost, request_cost=meter.total_cost)
        return event

    def _price(self, events: AsyncIterator[StreamEvent]) -> ModelPrice | None:
        route = getattr(events, "route", None)  # the failover policy's stream names its answering route
        if not isinstance(route, str) or "/" not in route:
            return None
        provider, model = route.split("/", 1)
        return self._owner.metering.price(provider, model)

    async def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._meter is not None:
            await self._owner._close(self._meter, self._reserved)

    async def aclose(self) -> None:
        """Close the inner stream (recording what its attempt used) and settle (idempotent)."""
        ctx = self._ctx
        self._ctx = None
        if ctx is not None:  # set only once started, the meter with it
            token = _CURRENT.set(self._meter)
            try:
                await ctx.__aexit__(None, None, None)
            finally:
                _CURRENT.reset(token)
        await self._finish()
