"""Money overhead: cost, ledger records and a budget's reserve/settle per call. Baseline: the
failover policy over ``FakeLLM`` (no network) with a no-op observer; llmport's side: the same
policy wrapped in ``MeteredLLM`` (genai-prices catalog, a ledger, a tenant budget), in memory and
in a real ``redis-server`` (started here, loopback). The printed ``overhead`` is what money adds
per call; targets (rows with a target): cost + ledger <= 20 us in memory, <= 200 us with Redis;
the budget rows (a reserve before and a settle after every call) are measured without one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from benchmarks.harness import Case, complete_text, measure_cases, request, stream_text
from llmport.adapters.genai_prices_catalog import GenaiPricesCatalog
from llmport.adapters.money_redis import RedisBudgetStore, RedisUsageLedger
from llmport.adapters.redis import RedisConnection
from llmport.adapters.redis.server import RedisServer
from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import Completion, StopReason, TextPart, Usage
from llmport.domain.budget import BudgetPeriod, BudgetSpec
from llmport.ports import FailoverPolicy, Route, Router, RouteSet
from llmport.ports.budgets import InMemoryBudgetStore
from llmport.ports.catalog import LayeredCatalog
from llmport.ports.ledger import InMemoryUsageLedger
from llmport.ports.metering import MeteredLLM, MeteringObserver
from llmport.ports.observer import AttemptEvent, BreakerTransition

MODEL, ALIAS = "gpt-4o", "smart"
TEXT = "Hamlet avenges his father."


class _Discard:
    def on_attempt(self, event: AttemptEvent) -> None:
        pass

    def on_breaker(self, transition: BreakerTransition) -> None:
        pass


def _policy(observer: object) -> FailoverPolicy:
    answer = Completion((TextPart(TEXT),), StopReason("end_turn"), Usage(1200, 80, cached_input_tokens=1000))
    route = Route("oai", MODEL, FakeLLM(default=answer, name="oai"))
    return FailoverPolicy(Router([route], {ALIAS: RouteSet(ALIAS, (route,))}), observer=observer)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def cases(redis_url: str) -> AsyncIterator[list[Case]]:
    baseline = _policy(_Discard())
    metering = MeteringObserver(LayeredCatalog(GenaiPricesCatalog({"oai": "openai"})))
    inner = _policy(metering)
    budget = BudgetSpec("daily", "tenant", BudgetPeriod.parse("day"), limit_usd=Decimal(10**9))
    metered = MeteredLLM(inner, metering, routes=lambda m: inner.router.resolve(m).routes,
                         ledger=InMemoryUsageLedger(), budgets=[budget], store=InMemoryBudgetStore())
    plain = MeteredLLM(inner, metering, routes=lambda m: inner.router.resolve(m).routes,
                       ledger=InMemoryUsageLedger())
    req = request(ALIAS, tenant_id="acme")
    connection = RedisConnection(redis_url, namespace="bench", timeout=1.0)
    shared = MeteredLLM(inner, metering, routes=lambda m: inner.router.resolve(m).routes,
                        ledger=RedisUsageLedger(connection), budgets=[budget], store=RedisBudgetStore(connection))
    redis_ledger = RedisUsageLedger(connection)
    shared_ledger = MeteredLLM(inner, metering, routes=lambda m: inner.router.resolve(m).routes,
                               ledger=redis_ledger)
    calls = [0]

    async def with_flush() -> object:
        # The ledger writes in the background; include that work: one flush per 50 calls (in a
        # deployment the writer flushes every 50 ms, whatever number of calls that covers).
        text = (await shared_ledger.complete(req)).text
        calls[0] += 1
        if calls[0] % 50 == 0:
            await redis_ledger.flush()
        return text
    yield [
        Case("complete: cost + ledger", complete_text(baseline, req), complete_text(plain, req), 2000, TEXT,
             ("overhead", 20e-6)),
        Case("complete: cost + ledger + budget", complete_text(baseline, req), complete_text(metered, req), 2000,
             TEXT),
        Case("stream: cost + ledger + budget", stream_text(baseline, req), stream_text(metered, req), 500, TEXT),
        Case("redis: cost + ledger", complete_text(baseline, req), with_flush, 300, TEXT,
             ("overhead", 200e-6), clock="wall"),
        Case("redis: cost + ledger + budget", complete_text(baseline, req), complete_text(shared, req), 300, TEXT,
             clock="wall"),
    ]
    await redis_ledger.aclose()
    await connection.aclose()


def run() -> list[Any]:
    with RedisServer() as server:
        return asyncio.run(measure_cases("money", cases(server.url)))
