"""The container shares the usage ledger and budgets through the deployment's Redis (``state.url``)."""

from __future__ import annotations

import pytest

from llmport.adapters.money_redis import RedisBudgetStore, RedisUsageLedger
from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Reply, ScriptedUsage
from llmport.domain import BudgetExceeded, CompletionRequest, Message

from .conftest import deployment, stack


def ask() -> CompletionRequest:
    return CompletionRequest(model="smart", messages=[Message.user("hi")], max_tokens=99, tenant_id="acme")


async def test_replicas_share_ledger_and_budgets(emu: VendorEmulator, redis_url: str) -> None:
    emu.script(then=Reply("ok", usage=ScriptedUsage(1, 99)), tag="oai")
    settings = deployment(emu, "oai", aliases={"smart": ["oai/gpt-4o"]},
                          budgets={"daily": {"scope": "tenant", "limit_tokens": 250, "period": "day"}},
                          state={"url": redis_url, "namespace": "money", "timeout": 5.0})
    async with stack(settings) as a, stack(settings) as b:
        assert isinstance(a.ledger(), RedisUsageLedger) and isinstance(a.budget_store(), RedisBudgetStore)
        await a.llm().complete(ask())
        await b.llm().complete(ask())
        with pytest.raises(BudgetExceeded):  # 200 of 250 tokens spent across both replicas
            await a.llm().complete(ask())
        await b.ledger().aclose()
        totals = await a.ledger().totals("tenant")
    assert totals["acme"].requests == 2 and totals["acme"].output_tokens == 198
    assert len(emu.journal.entries(tag="oai")) == 2
