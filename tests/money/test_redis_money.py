"""Budgets and the usage ledger in a real Redis, shared by replicas."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from decimal import Decimal

import pytest
from dependency_injector import providers

from llmport.adapters.money_redis import RedisBudgetStore, RedisUsageLedger
from llmport.adapters.redis import RedisConnection
from llmport.adapters.redis.server import RedisServer
from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Reply, ScriptedUsage
from llmport.domain import BudgetExceeded, CompletionRequest, Message, Usage
from llmport.domain.budget import BudgetPeriod, BudgetSpec, Charge
from llmport.domain.usage_record import UsageRecord
from llmport.ports.budgets import BudgetStore, InMemoryBudgetStore
from llmport.ports.ledger import InMemoryUsageLedger

from .conftest import deployment, stack

PRICE = {"oai/gpt-4o": {"input": 1000, "output": 1000}}


def ask(tenant: str = "acme") -> CompletionRequest:
    return CompletionRequest(model="smart", messages=[Message.user("hi")], max_tokens=99, tenant_id=tenant)


async def test_200_concurrent_requests_on_two_replicas_against_room_for_50(emu: VendorEmulator,
                                                                            redis_url: str) -> None:
    emu.script(then=Reply("ok", usage=ScriptedUsage(1, 99), latency=0.01), tag="oai")
    settings = deployment(emu, "oai", aliases={"smart": ["oai/gpt-4o"]}, prices=PRICE,
                          budgets={"daily": {"scope": "tenant", "limit_usd": 5, "period": "day"}})
    async with AsyncExitStack() as stack_:
        replicas = []
        for _ in range(2):
            # A generous timeout: a busy CI machine must not make Redis look down (the fallback is local)
            connection = RedisConnection(redis_url, namespace="money", timeout=30.0)
            stack_.push_async_callback(connection.aclose)
            # Overrides before start: the container builds its pipeline (budgets step included) at start.
            overrides = {"budget_store": providers.Object(RedisBudgetStore(connection)),
                         "ledger": providers.Object(RedisUsageLedger(connection, write_timeout=30.0))}
            container = await stack_.enter_async_context(stack(settings, overrides))
            replicas.append(container)
        results = await asyncio.gather(*(replicas[i % 2].llm().complete(ask()) for i in range(200)),
                                       return_exceptions=True)
        status = await replicas[0].llm().budget_status("daily", "acme")
        await replicas[1].ledger().aclose()  # its queued records written: the other replica sees them
        totals = await replicas[0].ledger().totals("tenant", since=0)
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    others = [repr(r) for r in results if isinstance(r, BaseException) and not isinstance(r, BudgetExceeded)]
    assert len(done) + len(refused) == 200, others[:3]
    sent = len(emu.journal.entries(tag="oai"))
    assert sent == len(done) == 50, (sent, len(done), status)
    assert status.spent_usd == Decimal(5) and status.reserved_usd == 0 and status.remaining_usd == 0
    assert totals["acme"].requests == 50 and totals["acme"].output_tokens == 50 * 99
    assert totals["acme"].cost == Decimal(5)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[BudgetStore]:
    if request.param == "memory":
        yield InMemoryBudgetStore()
        return
    connection = RedisConnection(request.getfixturevalue("redis_url"), namespace="money", timeout=2.0)
    yield RedisBudgetStore(connection)
    await connection.aclose()


async def test_rolling_window_forgets_old_spend(store: BudgetStore) -> None:
    spec = BudgetSpec("hourly", "global", BudgetPeriod.parse("1h"), limit_tokens=100, limit_usd=Decimal(1))
    t0 = 1_000_000.0
    charge = Charge(spec, "*", Decimal("0.5"), 80)
    rid = await store.reserve([charge], t0)
    assert (await store.status(spec, "*", t0)).reserved_tokens == 80
    await store.settle(rid, [charge], [charge], t0)
    with pytest.raises(BudgetExceeded) as caught:
        await store.reserve([Charge(spec, "*", Decimal(0), 30)], t0 + 1800)
    assert caught.value.unit == "tokens" and caught.value.spent == 80
    status = await store.status(spec, "*", t0 + 1800)
    assert (status.spent_tokens, status.spent_usd, status.reserved_tokens) == (80, Decimal("0.5"), 0)
    await store.reserve([Charge(spec, "*", Decimal(0), 30)], t0 + 3661)  # the old spend left the window
    assert (await store.status(spec, "*", t0 + 3661)).spent_tokens == 0


async def test_all_or_nothing_reservation(store: BudgetStore) -> None:
    roomy = BudgetSpec("roomy", "global", BudgetPeriod.parse("day"), limit_usd=Decimal(100))
    tight = BudgetSpec("tight", "tenant", BudgetPeriod.parse("day"), limit_usd=Decimal("0.1"))
    now = 1_764_158_400.0
    with pytest.raises(BudgetExceeded) as caught:
        await store.reserve([Charge(roomy, "*", Decimal("0.2"), 0), Charge(tight, "acme", Decimal("0.2"), 0)], now)
    assert caught.value.budget == "tight" and caught.value.scope_key == "acme"
    assert (await store.status(roomy, "*", now)).reserved_usd == 0  # nothing held when one budget refuses


async def test_redis_down_falls_back_to_local_counters(own_redis: RedisServer) -> None:
    connection = RedisConnection(own_redis.url, namespace="money", timeout=0.5, retry_interval=60)
    store = RedisBudgetStore(connection)
    spec = BudgetSpec("daily", "global", BudgetPeriod.parse("day"), limit_tokens=100)
    now = 1_764_158_400.0
    own_redis.kill()
    try:
        rid = await store.reserve([Charge(spec, "*", Decimal(0), 60)], now)
        assert rid.startswith("local:")
        with pytest.raises(BudgetExceeded):
            await store.reserve([Charge(spec, "*", Decimal(0), 60)], now)
        await store.settle(rid, [Charge(spec, "*", Decimal(0), 60)], [Charge(spec, "*", Decimal(0), 10)], now)
        assert (await store.fallback.status(spec, "*", now)).spent_tokens == 10
    finally:
        await connection.aclose()


async def test_redis_ledger_matches_the_in_memory_one(redis_connection: RedisConnection) -> None:
    base = time.time() // 3600 * 3600 - 7200  # two hours ago, on the hour
    records = [
        UsageRecord(base + i, f"r{i // 2}", ["oai", "ant"][i % 2], "m", "smart",
                    Usage(100 + i, 10 + i, i, 0, 1), None if i == 3 else Decimal(i) / 1000, "ok",
                    ["acme", "globex", None][i % 3], {"feature": f"f{i % 2}"}, i == 5, 1 + i % 2)
        for i in range(12)
    ]
    redis_ledger, memory = RedisUsageLedger(redis_connection, write_timeout=5.0), InMemoryUsageLedger()
    for i in range(0, 12, 2):  # one request's attempts are recorded together
        await redis_ledger.record(records[i:i + 2])
        await memory.record(records[i:i + 2])
    assert await redis_ledger.records() == records  # reads write what is queued first
    await redis_ledger.aclose()
    for by in ("tenant", "provider", "model", "alias", "tag:feature"):
        assert await redis_ledger.totals(by, since=0) == await memory.totals(by), by
    assert await redis_ledger.totals("tenant", since=base + 3600) == {}
    assert await redis_ledger.totals("tenant", until=base) == {}


async def test_redis_ledger_keeps_records_while_redis_is_down(own_redis: RedisServer) -> None:
    connection = RedisConnection(own_redis.url, namespace="money", timeout=5.0, retry_interval=0)
    ledger = RedisUsageLedger(connection, flush_interval=0.01, write_timeout=5.0)
    record = UsageRecord(time.time(), "r1", "oai", "m", "smart", Usage(5, 5), Decimal(1), "ok", "acme")
    try:
        own_redis.kill()
        await ledger.record([record])
        await ledger.flush()
        own_redis.start()
        assert await ledger.records() == [record]
        assert (await ledger.totals("tenant"))["acme"].cost == 1
    finally:
        await ledger.aclose()
        await connection.aclose()
