"""MeteredLLM edges a mutation run found untested: what an attempt without a usage report costs,
unpriced models, skipped routes, failures carrying the request's cost, closing, a ledger or budget
store that fails, thresholds switched off, and the stream path (costs on events, closing early,
context variables left as they were)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.domain import (
    AllProvidersFailed,
    Completion,
    CompletionRequest,
    InvalidRequest,
    Message,
    ProviderUnavailable,
    StopReason,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    TextPart,
    Usage,
    UsageUpdate,
)
from llmport.domain.budget import BudgetPeriod, BudgetSpec, BudgetStatus, BudgetThreshold, Charge
from llmport.domain.catalog import ModelInfo
from llmport.domain.pricing import ModelPrice
from llmport.domain.usage_record import UsageRecord
from llmport.ports import BreakerConfig, FailoverPolicy, PolicyConfig, RetryPolicy, Route, Router, RouteSet
from llmport.ports.budgets import InMemoryBudgetStore
from llmport.ports.catalog import LayeredCatalog
from llmport.ports.correlation import request_id_of
from llmport.ports.ledger import InMemoryUsageLedger
from llmport.ports.metering import MeteredLLM, MeteringObserver

ANSWER = Completion((TextPart("ok"),), StopReason("end_turn"), Usage(1, 99))
PRICE = ModelPrice.per_mtok(1000, 1000)  # $0.001 a token
ONE_TOKEN = Decimal("0.001")


class Ledger(InMemoryUsageLedger):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class Thresholds:
    def __init__(self) -> None:
        self.events: list[BudgetThreshold] = []

    def on_budget(self, event: BudgetThreshold) -> None:
        self.events.append(event)


def metered(*adapters: FakeLLM, price: ModelPrice | None = PRICE, threshold: int = 5,
            **kw: object) -> tuple[MeteredLLM, FailoverPolicy, Ledger]:
    """MeteredLLM over a policy whose alias "a" lists one route ``<name>/m`` per adapter."""
    catalog = LayeredCatalog(None, {f"{a.name}/*": ModelInfo(a.name, "*", price=price) for a in adapters})
    metering = MeteringObserver(catalog)
    routes = [Route(a.name, "m", a) for a in adapters]
    config = PolicyConfig(retry=RetryPolicy(1, 0, 0), breaker=BreakerConfig(failure_threshold=threshold))
    policy = FailoverPolicy(Router(routes, {"a": RouteSet("a", tuple(routes))}), config=config, observer=metering)
    ledger = Ledger()
    llm = MeteredLLM(policy, metering, routes=lambda m: policy.router.resolve(m).routes, ledger=ledger,
                     **kw)  # type: ignore[arg-type]
    return llm, policy, ledger


def ask() -> CompletionRequest:
    return CompletionRequest(model="a", messages=[Message.user("hi")], max_tokens=99)


def day_budget(**kw: object) -> BudgetSpec:
    return BudgetSpec("day", "global", BudgetPeriod.parse("day"), **kw)  # type: ignore[arg-type]


def _outcomes(records: Sequence[UsageRecord]) -> list[tuple[str, str, Usage, Decimal | None, bool]]:
    return [(r.provider, r.outcome, r.usage, r.cost, r.estimated) for r in records]


# -- what an attempt costs ----------------------------------------------------------------------------


async def test_an_attempt_without_usage_is_billed_its_estimated_input_unless_an_http_error() -> None:
    primary = FakeLLM(ProviderUnavailable("connection reset"), ProviderUnavailable("503", status=503), name="p")
    llm, _, ledger = metered(primary, FakeLLM(default=ANSWER, name="b"))
    first = await llm.complete(ask())  # a lost connection may have been billed: its input is estimated
    second = await llm.complete(ask())  # an HTTP error answer was not billed
    records = await ledger.records()
    assert _outcomes(records) == [
        ("p", "error", Usage(1), ONE_TOKEN, True), ("b", "ok", Usage(1, 99), Decimal("0.1"), False),
        ("p", "error", Usage(), Decimal(0), False), ("b", "ok", Usage(1, 99), Decimal("0.1"), False)]
    assert first.request_cost == Decimal("0.101") and second.request_cost == Decimal("0.1")


async def test_an_unpriced_model_costs_nothing_only_when_it_used_no_tokens() -> None:
    output_only = Completion((TextPart("ok"),), StopReason("end_turn"), Usage(0, 5))
    llm, _, ledger = metered(FakeLLM(ProviderUnavailable("503", status=503), name="p"),
                             FakeLLM(default=output_only, name="b"), price=None)
    completion = await llm.complete(ask())
    assert completion.cost is None and completion.request_cost is None  # output tokens of unknown price
    assert [r.cost for r in await ledger.records()] == [Decimal(0), None]


async def test_a_skipped_route_is_not_in_the_ledger() -> None:
    llm, _, ledger = metered(FakeLLM(ProviderUnavailable("503", status=503), name="p"),
                             FakeLLM(default=ANSWER, name="b"), threshold=1)
    await llm.complete(ask())  # opens p's breaker
    await llm.complete(ask())  # p skipped: no vendor call, nothing billed
    assert [(r.provider, r.outcome) for r in await ledger.records()] == [("p", "error"), ("b", "ok"), ("b", "ok")]


async def test_a_failed_request_carries_what_its_attempts_cost() -> None:
    llm, _, ledger = metered(FakeLLM(ProviderUnavailable("connection reset"), name="p"))
    with pytest.raises(AllProvidersFailed) as info:
        await llm.complete(ask())
    assert info.value.request_cost == ONE_TOKEN
    assert [r.cost for r in await ledger.records()] == [ONE_TOKEN]


async def test_aclose_closes_the_policy_and_the_ledger() -> None:
    fake = FakeLLM(name="p")
    llm, _, ledger = metered(fake)
    await llm.aclose()
    assert fake.closed and ledger.closed


# -- failing ledgers and stores, thresholds off -------------------------------------------------------


class _DownLedger(InMemoryUsageLedger):
    async def record(self, records: Sequence[UsageRecord]) -> None:
        raise ConnectionError("ledger down")


class _DownStore(InMemoryBudgetStore):
    async def settle(self, reservation: str, reserved: Sequence[Charge], spent: Sequence[Charge],
                     now: float) -> list[BudgetStatus]:
        raise ConnectionError("store down")


async def test_a_ledger_that_fails_leaves_the_answer_and_warns() -> None:
    warnings: list[str] = []
    llm, _, _ = metered(FakeLLM(default=ANSWER, name="p"), warn=warnings.append)
    llm.ledger = _DownLedger()
    assert (await llm.complete(ask())).text == "ok"
    assert warnings == ["usage ledger: could not record 1 attempts: ConnectionError"]


async def test_a_store_that_cannot_settle_leaves_the_answer_warns_and_alerts_nothing() -> None:
    warnings: list[str] = []
    observer = Thresholds()
    llm, _, _ = metered(FakeLLM(default=ANSWER, name="p"), budgets=[day_budget(limit_tokens=100)],
                        store=_DownStore(), observer=observer, warn=warnings.append)
    assert (await llm.complete(ask())).text == "ok"
    assert warnings == ["budgets: could not settle a reservation: ConnectionError"] and not observer.events


async def test_a_budget_without_soft_threshold_never_alerts() -> None:
    observer = Thresholds()
    llm, _, _ = metered(FakeLLM(default=ANSWER, name="p"), store=InMemoryBudgetStore(), observer=observer,
                        budgets=[day_budget(limit_tokens=1000, soft_threshold=None)])
    for _ in range(5):
        await llm.complete(ask())
    assert (await llm.budget_status("day")).spent_tokens == 500 and not observer.events


async def test_remembered_alerts_stay_bounded() -> None:
    observer = Thresholds()
    spec = BudgetSpec("t", "tenant", BudgetPeriod.parse("day"), limit_tokens=10)
    llm, _, _ = metered(FakeLLM(name="p"), budgets=[spec], store=InMemoryBudgetStore(), observer=observer)
    at = datetime.now(UTC)
    statuses = [BudgetStatus("t", f"tenant-{i}", Decimal(0), 10, Decimal(0), 0, None, 10, at) for i in range(70_000)]
    llm._alert(statuses)
    assert len(observer.events) == 70_000  # every tenant crossed once: one event each
    assert len(llm._alerted) <= 65_537


# -- streams -------------------------------------------------------------------------------------------


class _UsageThenCut(FakeLLM):
    """Reports output usage (no input), sends text, then the connection drops."""

    async def _events(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        self.requests.append(request)
        yield UsageUpdate(Usage(0, 5))
        yield TextDelta("partial")
        raise ProviderUnavailable("connection reset")


async def _drain(llm: MeteredLLM) -> list[StreamEvent]:
    async with llm.stream(ask()) as events:
        return [e async for e in events]


async def test_stream_events_carry_costs_and_the_answering_route() -> None:
    llm, _, _ = metered(FakeLLM(default=ANSWER, name="p"))
    async with llm.stream(ask()) as stream:
        assert stream.route is None  # not started yet
        events = [e async for e in stream]
        assert stream.route == "p/m"
    usage = [e for e in events if isinstance(e, UsageUpdate)]
    end = events[-1]
    assert [u.cost for u in usage] == [Decimal("0.1")]
    assert isinstance(end, StreamEnd) and end.cost == end.request_cost == Decimal("0.1")


async def test_a_model_name_with_a_slash_is_priced_on_stream_events() -> None:
    fake = FakeLLM(default=ANSWER, name="p")
    catalog = LayeredCatalog(None, {"p/org/model": ModelInfo("p", "org/model", price=PRICE)})
    metering = MeteringObserver(catalog)
    route = Route("p", "org/model", fake)
    policy = FailoverPolicy(Router([route], {"a": RouteSet("a", (route,))}), observer=metering)
    llm = MeteredLLM(policy, metering, routes=lambda m: policy.router.resolve(m).routes)
    usage = [e for e in await _drain(llm) if isinstance(e, UsageUpdate)]
    assert [u.cost for u in usage] == [Decimal("0.1")]


async def test_an_inner_stream_that_names_no_route_leaves_event_costs_unknown() -> None:
    fake = FakeLLM(default=ANSWER, name="p")
    catalog = LayeredCatalog(None, {"p/*": ModelInfo("p", "*", price=PRICE)})
    llm = MeteredLLM(fake, MeteringObserver(catalog), routes=lambda m: ())
    events = await _drain(llm)
    assert [e.cost for e in events if isinstance(e, UsageUpdate)] == [None]
    assert isinstance(events[-1], StreamEnd)


async def test_an_interrupted_stream_carries_its_cost_and_bills_its_estimated_input() -> None:
    llm, _, ledger = metered(_UsageThenCut(name="p"))
    with pytest.raises(StreamInterrupted) as info:
        await _drain(llm)
    assert _outcomes(await ledger.records()) == [("p", "interrupted", Usage(1, 5), Decimal("0.006"), True)]
    assert info.value.request_cost == Decimal("0.006")


async def test_a_stream_read_to_its_end_is_recorded_and_settled_before_its_context_is_left() -> None:
    llm, _, ledger = metered(FakeLLM(default=ANSWER, name="p"), budgets=[day_budget(limit_tokens=1000)],
                             store=InMemoryBudgetStore())
    async with llm.stream(ask()) as events:
        async for _ in events:
            pass
        assert len(await ledger.records()) == 1
        status = await llm.budget_status("day")
        assert (status.spent_tokens, status.reserved_tokens) == (100, 0)
        assert [e async for e in events] == []  # iterating again: nothing more, nothing sent
    assert len(await ledger.records()) == 1


async def test_leaving_a_stream_early_closes_upstream_records_and_settles_once() -> None:
    long = Completion((TextPart("a long answer"),), StopReason("end_turn"), Usage(1, 99))
    fake = FakeLLM(default=FakeReply(long, chunk_size=1), name="p")
    llm, _, ledger = metered(fake, budgets=[day_budget(limit_tokens=1000)], store=InMemoryBudgetStore())
    async with llm.stream(ask()) as events:
        async for _ in events:
            break
        assert fake.open_streams == 1
    assert fake.open_streams == 0
    assert [r.outcome for r in await ledger.records()] == ["cancelled"]
    assert (await llm.budget_status("day")).reserved_tokens == 0
    await events.aclose()  # idempotent
    assert len(await ledger.records()) == 1


async def test_a_stream_closed_before_it_started_sends_nothing() -> None:
    fake = FakeLLM(default=ANSWER, name="p")
    llm, _, ledger = metered(fake)
    stream = llm.stream(ask())
    await stream.aclose()
    assert [e async for e in stream] == []
    assert not fake.requests and not await ledger.records()


class _RefusingPort(FakeLLM):
    def stream(self, request: CompletionRequest) -> Any:
        raise InvalidRequest("refused before sending", field="model")


async def test_an_inner_stream_that_fails_to_open_releases_the_reservation() -> None:
    catalog = LayeredCatalog(None, {"p/*": ModelInfo("p", "*", price=PRICE)})
    route = Route("p", "m", FakeLLM(name="p"))
    llm = MeteredLLM(_RefusingPort(name="p"), MeteringObserver(catalog), routes=lambda m: (route,),
                     budgets=[day_budget(limit_tokens=1000)], store=InMemoryBudgetStore())
    with pytest.raises(InvalidRequest):
        async with llm.stream(ask()):
            pass
    assert (await llm.budget_status("day")).reserved_tokens == 0


async def test_a_stream_leaves_the_callers_context_as_it_was() -> None:
    llm, policy, ledger = metered(FakeLLM(default=FakeReply(ANSWER, chunk_size=1), name="p"))
    async with llm.stream(ask()) as events:
        first = await events.__anext__()
        assert first is not None
        # The caller's own id and meter are not the stream's: a direct policy call is not metered.
        assert request_id_of(ask()) != request_id_of(ask())
        await policy.complete(ask())
        async for _ in events:
            pass
    assert [r.outcome for r in await ledger.records()] == ["ok"]


async def test_an_interrupted_stream_is_recorded_before_its_context_is_left() -> None:
    llm, _, ledger = metered(_UsageThenCut(name="p"))
    async with llm.stream(ask()) as events:
        with pytest.raises(StreamInterrupted):
            async for _ in events:
                pass
        assert [r.outcome for r in await ledger.records()] == ["interrupted"]
