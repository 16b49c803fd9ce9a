"""Budgets: reserved before the network, settled after; never overshoot by more than in flight."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Fault, Reply, ScriptedUsage
from llmport.composition.settings import SettingsError, load_settings
from llmport.domain import BudgetExceeded, CompletionRequest, Message
from llmport.domain.budget import BudgetPeriod, BudgetSpec, BudgetThreshold, Charge
from llmport.ports.budgets import InMemoryBudgetStore
from llmport.ports.metering import MeteredLLM

from .conftest import deployment, stack

ONE_ROUTE = {"smart": ["oai/gpt-4o"]}
# $1 per thousand tokens in and out: a request of "hi" (1 token estimated) with max_tokens=99 may cost $0.1.
PRICE = {"oai/gpt-4o": {"input": 1000, "output": 1000}}


def ask(tenant: str | None = "acme", max_tokens: int = 99) -> CompletionRequest:
    return CompletionRequest(model="smart", messages=[Message.user("hi")], max_tokens=max_tokens, tenant_id=tenant)


@pytest.mark.parametrize("limit", [{"limit_usd": 5}, {"limit_tokens": 5000}])
async def test_200_concurrent_requests_against_room_for_50(emu: VendorEmulator, limit: dict[str, int]) -> None:
    emu.script(then=Reply("ok", usage=ScriptedUsage(1, 99), latency=0.01), tag="oai")
    settings = deployment(emu, "oai", aliases=ONE_ROUTE, prices=PRICE,
                          budgets={"daily": {"scope": "global", "period": "day", **limit}})
    async with stack(settings) as c:
        llm = c.llm()
        results = await asyncio.gather(*(llm.complete(ask()) for _ in range(200)), return_exceptions=True)
        status = await llm.budget_status("daily")
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(done) + len(refused) == 200
    sent = len(emu.journal.entries(tag="oai"))
    assert sent == len(done) == 50  # reserve-then-settle: in flight never exceeds the room left
    assert all(e.budget == "daily" and e.resets_at is not None for e in refused)
    assert status.reserved_usd == 0 and status.reserved_tokens == 0
    if "limit_usd" in limit:
        assert status.spent_usd == Decimal(5) and status.remaining_usd == 0
    else:
        assert status.spent_tokens == 5000 and status.remaining_tokens == 0


async def test_exceeded_budget_raises_before_any_network_call(emu: VendorEmulator) -> None:
    emu.script(then=Reply("never sent"), tag="oai")
    settings = deployment(emu, "oai", aliases=ONE_ROUTE, prices=PRICE,
                          budgets={"tiny": {"scope": "tenant", "limit_usd": "0.05", "period": "1h"}})
    async with stack(settings) as c:
        with pytest.raises(BudgetExceeded) as caught:
            await c.llm().complete(ask())
        with pytest.raises(BudgetExceeded):
            async with c.llm().stream(ask()) as events:
                async for _ in events:
                    pass
        # A request without a tenant is not under a tenant budget.
        emu.script(Reply("no tenant", usage=ScriptedUsage(1, 1)), tag="oai")
        assert (await c.llm().complete(ask(tenant=None))).text == "no tenant"
    err = caught.value
    assert err.budget == "tiny" and err.limit == Decimal("0.05") and err.unit == "usd" and err.scope_key == "acme"
    assert "tiny" in str(err) and err.resets_at is not None
    assert len(emu.journal.entries(tag="oai")) == 1


async def test_settle_to_actual_frees_the_unused_reservation(emu: VendorEmulator) -> None:
    emu.script(then=Reply("short", usage=ScriptedUsage(1, 9)), tag="oai")
    settings = deployment(emu, "oai", aliases=ONE_ROUTE, prices=PRICE,
                          budgets={"b": {"limit_tokens": 250, "period": "month"}})
    async with stack(settings) as c:
        llm = c.llm()
        answered = 0
        with pytest.raises(BudgetExceeded):
            for _ in range(30):
                await llm.complete(ask())
                answered += 1
        status = await llm.budget_status("b")
    # each may use 100 tokens but uses 10: requests go on while spent + 100 <= 250
    assert answered == 16 and status.spent_tokens == 160 and status.remaining_tokens == 90
    assert len(emu.journal.entries(tag="oai")) == 16


def test_budgets_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPORT_BUDGETS__DAILY__SCOPE", "tenant")
    monkeypatch.setenv("LLMPORT_BUDGETS__DAILY__LIMIT_USD", "25")
    monkeypatch.setenv("LLMPORT_BUDGETS__DAILY__PERIOD", "day")
    from llmport.composition.money_factory import budget_specs

    [spec] = budget_specs(load_settings())
    assert (spec.name, spec.scope, spec.limit_usd, spec.period) == ("daily", "tenant", Decimal(25),
                                                                   BudgetPeriod("day"))
    monkeypatch.setenv("LLMPORT_BUDGETS__DAILY__PERIOD", "fortnightly")
    with pytest.raises(SettingsError, match="LLMPORT_BUDGETS__DAILY__PERIOD"):
        budget_specs(load_settings())
    monkeypatch.setenv("LLMPORT_BUDGETS__DAILY__PERIOD", "day")
    monkeypatch.setenv("LLMPORT_BUDGETS__DAILY__SCOPE", "planet")
    with pytest.raises(SettingsError, match="LLMPORT_BUDGETS__DAILY__SCOPE"):
        budget_specs(load_settings())


async def test_rolling_window_forgets_old_spend() -> None:
    store = InMemoryBudgetStore()
    spec = BudgetSpec("hourly", "global", BudgetPeriod.parse("1h"), limit_tokens=100)
    t0 = 1_000_000.0
    rid = await store.reserve([Charge(spec, "*", Decimal(0), 80)], t0)
    await store.settle(rid, [Charge(spec, "*", Decimal(0), 80)], [Charge(spec, "*", Decimal(0), 80)], t0)
    with pytest.raises(BudgetExceeded):
        await store.reserve([Charge(spec, "*", Decimal(0), 30)], t0 + 1800)
    status = await store.status(spec, "*", t0 + 1800)
    assert status.spent_tokens == 80 and status.resets_at.timestamp() <= t0 + 3600 + 60
    await store.reserve([Charge(spec, "*", Decimal(0), 30)], t0 + 3661)  # the old spend left the window
    assert (await store.status(spec, "*", t0 + 3661)).spent_tokens == 0


async def test_calendar_periods_reset_at_utc_boundaries() -> None:
    day = BudgetPeriod.parse("day")
    month = BudgetPeriod.parse("month")
    now = 1_764_158_400.0  # 2025-11-26T12:00:00Z
    assert day.window(now) == ("2025-11-26", 1_764_201_600.0)
    assert month.window(now)[0] == "2025-11" and month.window(now)[1] == 1_764_547_200.0  # 2025-12-01
    assert BudgetPeriod.parse("30m").seconds == 1800 and BudgetPeriod.parse("7d").seconds == 7 * 86400


async def test_soft_threshold_emits_one_event(emu: VendorEmulator) -> None:
    emu.script(then=Reply("ok", usage=ScriptedUsage(1, 99)), tag="oai")
    settings = deployment(emu, "oai", aliases=ONE_ROUTE, prices=PRICE,
                          budgets={"daily": {"limit_tokens": 1000, "soft_threshold": 0.5}})
    events: list[BudgetThreshold] = []

    class Recorder:
        def on_budget(self, event: BudgetThreshold) -> None:
            events.append(event)

    async with stack(settings) as c:
        llm = c.metered()  # the budgets step (container.llm is the pipeline in front of it)
        assert isinstance(llm, MeteredLLM)
        llm.observer = Recorder()
        for _ in range(4):
            await llm.complete(ask())
        assert not events
        for _ in range(4):
            await llm.complete(ask())
    assert len(events) == 1
    assert events[0].name == "daily" and events[0].fraction == 0.5 and events[0].spent_tokens == 500


async def test_provider_and_tag_budgets_settle_to_where_the_money_went(emu: VendorEmulator) -> None:
    emu.script(Fault.http(503), tag="oai")
    emu.script(then=Reply("from the backup", usage=ScriptedUsage(1, 9)), tag="ant")
    budgets = {"per_provider": {"scope": "provider", "limit_tokens": 1000, "period": "day"},
               "per_feature": {"scope": "tag:feature", "limit_tokens": 1000, "period": "day"}}
    settings = deployment(emu, "oai", "ant", aliases={"smart": ["oai/gpt-4o", "ant/claude-haiku-4-5"]},
                          budgets=budgets, policy={"retry": {"preset": "balanced", "max_attempts": 1}})
    async with stack(settings) as c:
        llm = c.llm()
        await llm.complete(CompletionRequest(model="smart", messages=[Message.user("hi")], max_tokens=99,
                                             metadata={"feature": "search"}))
        oai, ant = await llm.budget_status("per_provider", "oai"), await llm.budget_status("per_provider", "ant")
        feature = await llm.budget_status("per_feature", "search")
    assert (oai.spent_tokens, ant.spent_tokens, feature.spent_tokens) == (0, 10, 10)
    assert oai.reserved_tokens == ant.reserved_tokens == feature.reserved_tokens == 0
