"""Budget stores, in memory and in Redis: limits are inclusive, reservations count until settled,
windows reset and are pruned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from llmport.adapters.money_redis import RedisBudgetStore
from llmport.adapters.redis import RedisConnection
from llmport.domain import BudgetExceeded
from llmport.domain.budget import BudgetPeriod, BudgetSpec, Charge
from llmport.ports.budgets import BudgetStore, InMemoryBudgetStore

DAY = 1_764_158_400.0  # 2025-11-26T12:00:00Z


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[BudgetStore]:
    if request.param == "memory":
        yield InMemoryBudgetStore()
        return
    connection = RedisConnection(request.getfixturevalue("redis_url"), namespace="money", timeout=2.0)
    yield RedisBudgetStore(connection)
    await connection.aclose()


def spec(**kw: object) -> BudgetSpec:
    fields = {"name": "b", "scope": "global", "period": BudgetPeriod.parse("day"), **kw}
    return BudgetSpec(**fields)  # type: ignore[arg-type]


async def test_limits_are_inclusive_and_reservations_count(store: BudgetStore) -> None:
    s = spec(limit_usd=Decimal(1), limit_tokens=100)
    first = await store.reserve([Charge(s, "*", Decimal("0.6"), 60)], DAY)
    status = await store.status(s, "*", DAY)
    assert (status.reserved_usd, status.reserved_tokens, status.remaining_usd, status.remaining_tokens) == (
        Decimal("0.6"), 60, Decimal("0.4"), 40)
    with pytest.raises(BudgetExceeded) as tokens:
        await store.reserve([Charge(s, "*", Decimal(0), 41)], DAY)
    assert (tokens.value.unit, tokens.value.spent, tokens.value.limit) == ("tokens", 60, 100)
    with pytest.raises(BudgetExceeded) as usd:
        await store.reserve([Charge(s, "*", Decimal("0.41"), 0)], DAY)
    assert (usd.value.unit, usd.value.spent, usd.value.limit) == ("usd", Decimal("0.6"), Decimal(1))
    second = await store.reserve([Charge(s, "*", Decimal("0.4"), 40)], DAY)  # exactly the limit: allowed
    await store.settle(first, [Charge(s, "*", Decimal("0.6"), 60)], [Charge(s, "*", Decimal("0.1"), 10)], DAY)
    await store.settle(second, [Charge(s, "*", Decimal("0.4"), 40)], [], DAY)
    status = await store.status(s, "*", DAY)
    assert (status.spent_usd, status.spent_tokens, status.reserved_usd, status.reserved_tokens) == (
        Decimal("0.1"), 10, 0, 0)


async def test_the_error_names_the_scope_key(store: BudgetStore) -> None:
    tenant = spec(name="t", scope="tenant", limit_tokens=1)
    with pytest.raises(BudgetExceeded, match="for tenant 'acme'") as caught:
        await store.reserve([Charge(tenant, "acme", Decimal(0), 2)], DAY)
    assert caught.value.resets_at == datetime(2025, 11, 27, tzinfo=UTC)
    with pytest.raises(BudgetExceeded) as plain:
        await store.reserve([Charge(spec(limit_tokens=1), "*", Decimal(0), 2)], DAY)
    assert " for " not in str(plain.value).split(":")[0]


async def test_a_new_day_starts_from_zero(store: BudgetStore) -> None:
    s = spec(limit_tokens=100)
    rid = await store.reserve([Charge(s, "*", Decimal(0), 90)], DAY)
    await store.settle(rid, [Charge(s, "*", Decimal(0), 90)], [Charge(s, "*", Decimal("0.5"), 90)], DAY)
    tomorrow = await store.status(s, "*", DAY + 86400)
    assert (tomorrow.spent_tokens, tomorrow.spent_usd) == (0, 0)
    assert tomorrow.resets_at == datetime(2025, 11, 28, tzinfo=UTC)
    await store.reserve([Charge(s, "*", Decimal(0), 100)], DAY + 86400)


async def test_rolling_window_resets_when_its_oldest_spend_leaves(store: BudgetStore) -> None:
    s = spec(period=BudgetPeriod.parse("1h"), limit_tokens=100)
    t0 = 1_000_020.0  # bucket 16667 of 60 s
    for at, usd in ((t0, Decimal("0.25")), (t0 + 600, Decimal("0.5"))):
        rid = await store.reserve([Charge(s, "*", usd, 10)], at)
        await store.settle(rid, [Charge(s, "*", usd, 10)], [Charge(s, "*", usd, 10)], at)
    status = await store.status(s, "*", t0 + 700)
    assert (status.spent_tokens, status.spent_usd) == (20, Decimal("0.75"))
    assert status.resets_at.timestamp() == (16667 + 1) * 60 + 3600
    later = await store.status(s, "*", (16667 + 1) * 60 + 3600 + 1)
    assert (later.spent_tokens, later.spent_usd) == (10, Decimal("0.5"))


async def test_old_windows_are_pruned() -> None:
    store = InMemoryBudgetStore()
    for s in (spec(limit_tokens=10**9), spec(name="r", period=BudgetPeriod.parse("1h"), limit_tokens=10**9)):
        for day in range(5):
            at = DAY + day * 86400
            rid = await store.reserve([Charge(s, "*", Decimal(0), 1)], at)
            await store.settle(rid, [Charge(s, "*", Decimal(0), 1)], [Charge(s, "*", Decimal(0), 1)], at)
        assert len(store._counters[(s.name, "*")].windows) == 1  # bounded: only live windows are kept
