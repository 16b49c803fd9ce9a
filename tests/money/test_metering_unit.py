"""MeteredLLM over a FakeLLM route (no network): thresholds re-arm, unknown prices, budgets off."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import BudgetExceeded, Completion, CompletionRequest, Message, StopReason, TextPart, Usage
from llmport.domain.budget import BudgetPeriod, BudgetSpec, BudgetThreshold
from llmport.domain.catalog import ModelInfo
from llmport.domain.pricing import ModelPrice
from llmport.ports import FailoverPolicy, Route, Router, RouteSet
from llmport.ports.budgets import InMemoryBudgetStore
from llmport.ports.catalog import LayeredCatalog
from llmport.ports.ledger import InMemoryUsageLedger
from llmport.ports.metering import MeteredLLM, MeteringObserver

ANSWER = Completion((TextPart("ok"),), StopReason("end_turn"), Usage(1, 99))
PRICE = ModelPrice.per_mtok(1000, 1000)  # $0.001 a token


def build(*, price: ModelPrice | None = PRICE, **kw: object) -> tuple[MeteredLLM, list[str]]:
    unpriced: list[str] = []
    catalog = LayeredCatalog(None, {"fake/*": ModelInfo("fake", "*", price=price)})
    metering = MeteringObserver(catalog, on_unpriced=lambda p, m: unpriced.append(f"{p}/{m}"))
    route = Route("fake", "m", FakeLLM(default=ANSWER, name="fake"))
    policy = FailoverPolicy(Router([route], {"a": RouteSet("a", (route,))}), observer=metering)
    return MeteredLLM(policy, metering, routes=lambda m: policy.router.resolve(m).routes,
                      ledger=InMemoryUsageLedger(), **kw), unpriced  # type: ignore[arg-type]


def ask() -> CompletionRequest:
    return CompletionRequest(model="a", messages=[Message.user("hi")], max_tokens=99)


async def test_rolling_threshold_rearms_once_spend_leaves_the_window() -> None:
    now = [1_000_000.0]
    events: list[BudgetThreshold] = []

    class Recorder:
        def on_budget(self, event: BudgetThreshold) -> None:
            events.append(event)

    spec = BudgetSpec("hourly", "global", BudgetPeriod.parse("1h"), limit_tokens=1000, soft_threshold=0.5)
    llm, _ = build(budgets=[spec], store=InMemoryBudgetStore(), observer=Recorder(), clock=lambda: now[0])
    for _ in range(6):
        await llm.complete(ask())
    assert len(events) == 1 and events[0].spent_tokens == 500
    now[0] += 7200
    for _ in range(5):
        await llm.complete(ask())
    assert len(events) == 2 and events[1].spent_tokens == 500
    assert (await llm.budget_status("hourly")).spent_tokens == 500
    with pytest.raises(KeyError):
        await llm.budget_status("nope")


async def test_unknown_price_gives_none_reserves_nothing_and_warns_once() -> None:
    spec = BudgetSpec("usd", "global", BudgetPeriod.parse("day"), limit_usd=Decimal(0))
    llm, unpriced = build(price=None, budgets=[spec], store=InMemoryBudgetStore())
    for _ in range(3):
        completion = await llm.complete(ask())
        assert completion.cost is None and completion.request_cost is None
    assert unpriced == ["fake/m"]


async def test_zero_usd_budget_refuses_priced_requests() -> None:
    spec = BudgetSpec("usd", "global", BudgetPeriod.parse("day"), limit_usd=Decimal(0))
    llm, _ = build(budgets=[spec], store=InMemoryBudgetStore())
    with pytest.raises(BudgetExceeded):
        await llm.complete(ask())


async def test_without_budgets_cost_is_still_set() -> None:
    llm, _ = build()
    completion = await llm.complete(ask())
    assert completion.cost == Decimal("0.1") == completion.request_cost
    with pytest.raises(ValueError, match="budget store"):
        build(budgets=[BudgetSpec("x", "global", BudgetPeriod.parse("day"), limit_tokens=1)])
