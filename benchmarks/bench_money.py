"""Money overhead: cost, ledger records and a budget's reserve/settle per call. Baseline: the
failover policy over ``FakeLLM`` (no network) with a no-op observer; llmport's side: the same
policy wrapped in ``MeteredLLM`` (genai-prices catalog, in-memory ledger, a global budget). The
``overhead`` row is what money adds per call; target: <= 20 us in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from benchmarks.harness import Case, complete_text, measure_cases, request, stream_text
from llmport.adapters.genai_prices_catalog import GenaiPricesCatalog
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
async def cases() -> AsyncIterator[list[Case]]:
    baseline = _policy(_Discard())
    metering = MeteringObserver(LayeredCatalog(GenaiPricesCatalog({"oai": "openai"})))
    inner = _policy(metering)
    budget = BudgetSpec("daily", "tenant", BudgetPeriod.parse("day"), limit_usd=Decimal(10**9))
    metered = MeteredLLM(inner, metering, routes=lambda m: inner.router.resolve(m).routes,
                         ledger=InMemoryUsageLedger(), budgets=[budget], store=InMemoryBudgetStore())
    plain = MeteredLLM(inner, metering, routes=lambda m: inner.router.resolve(m).routes,
                       ledger=InMemoryUsageLedger())
    req = request(ALIAS, tenant_id="acme")
    yield [
        Case("complete: cost + ledger", complete_text(baseline, req), complete_text(plain, req), 2000, TEXT,
             ("overhead", 20e-6)),
        Case("complete: cost + ledger + budget", complete_text(baseline, req), complete_text(metered, req), 2000,
             TEXT, ("overhead", 20e-6)),
        Case("stream: cost + ledger + budget", stream_text(baseline, req), stream_text(metered, req), 500, TEXT,
             ("overhead", 20e-6)),
    ]


def run() -> list[Any]:
    return asyncio.run(measure_cases("money", cases()))
