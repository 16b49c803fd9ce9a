"""Every attempt that may have been billed reaches the ledger: retries, failovers, cut streams,
hedge losers; the ledger's totals equal the usage the emulator says it sent."""

from __future__ import annotations

import asyncio
import json

import pytest

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Fault, Reply, ScriptedUsage
from llmport.domain import AllProvidersFailed, CompletionRequest, Message, StreamInterrupted, TextDelta
from llmport.domain.usage_record import UsageRecord
from llmport.ports import LLMPort
from llmport.ports.ledger import UsageLedger

from .conftest import deployment, stack

ALIAS = {"smart": ["oai/gpt-4o", "ant/claude-haiku-4-5"]}
FAST_RETRY = {"retry": {"preset": "balanced", "max_attempts": 2, "base_delay": 0.0, "max_delay": 0.0}}


def ask(text: str = "what does it cost?", **kw: object) -> CompletionRequest:
    return CompletionRequest(model="smart", messages=[Message.user(text)], tenant_id="acme",
                             metadata={"feature": "search"}, **kw)  # type: ignore[arg-type]


async def records(ledger: UsageLedger) -> list[UsageRecord]:
    return await ledger.records()


async def test_retried_and_failed_over_request_records_every_attempt(emu: VendorEmulator) -> None:
    emu.script(Fault.http(503), Fault.http(503), tag="oai")
    emu.script(Reply("from the backup", usage=ScriptedUsage(120, 30, cached_input_tokens=20)), tag="ant")
    async with stack(deployment(emu, "oai", "ant", aliases=ALIAS, policy=FAST_RETRY)) as c:
        llm: LLMPort = c.llm()
        completion = await llm.complete(ask())
        got = await records(c.ledger())
    assert [(r.provider, r.attempt, r.outcome) for r in got] == [("oai", 1, "error"), ("oai", 2, "error"),
                                                                  ("ant", 1, "ok")]
    assert len({r.request_id for r in got}) == 1
    assert all(r.tenant == "acme" and r.tags == {"feature": "search"} and r.alias == "smart" for r in got)
    # A 503 answer was not billed; the answer's usage is exactly what the emulator sent.
    assert [r.usage.total_tokens for r in got[:2]] == [0, 0]
    assert got[2].usage.input_tokens == 120 and got[2].usage.output_tokens == 30
    assert got[2].usage.cached_input_tokens == 20 and not got[2].estimated
    assert completion.cost == got[2].cost and completion.request_cost == got[2].cost
    assert len(emu.journal.entries(tag="oai")) == 2 and len(emu.journal.entries(tag="ant")) == 1


async def test_request_that_fails_everywhere_carries_its_total_cost(emu: VendorEmulator) -> None:
    emu.script(Fault.http(503), Fault.http(503), tag="oai")
    emu.script(Fault.http(529, "overloaded_error"), Fault.http(529, "overloaded_error"), tag="ant")
    async with stack(deployment(emu, "oai", "ant", aliases=ALIAS, policy=FAST_RETRY)) as c:
        with pytest.raises(AllProvidersFailed) as caught:
            await c.llm().complete(ask())
        got = await records(c.ledger())
    assert len(got) == 4 and {r.outcome for r in got} == {"error"}
    assert caught.value.request_cost == 0  # rejected answers cost nothing, and that is known


async def test_stream_cut_after_output_records_partial_usage(emu: VendorEmulator) -> None:
    text = "a long answer that the network will cut in the middle of its sentence " * 3
    emu.script(Fault.cut(4, reply=Reply(text, chunk_size=10, usage=ScriptedUsage(50, 60))), tag="oai")
    async with stack(deployment(emu, "oai", aliases={"smart": ["oai/gpt-4o"]})) as c:
        received = ""
        with pytest.raises(StreamInterrupted) as caught:
            async with c.llm().stream(ask()) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        received += event.text
        got = await records(c.ledger())
    assert received
    [record] = got
    assert record.outcome == "interrupted" and record.estimated
    assert record.usage.output_tokens == (len(received) + 3) // 4  # estimated from the text received
    assert record.usage.input_tokens > 0  # the vendor had not reported it: estimated from the prompt
    assert record.cost is not None and record.cost > 0
    assert caught.value.request_cost == record.cost


async def test_hedge_loser_is_recorded(emu: VendorEmulator) -> None:
    emu.script(Reply("slow primary", latency=1.0, usage=ScriptedUsage(40, 5)), tag="oai")
    emu.script(Reply("fast backup", usage=ScriptedUsage(40, 6)), tag="ant")
    policy = {"retry": {"preset": "balanced", "base_delay": 0.0}, "hedge": {"delay": 0.05}}
    async with stack(deployment(emu, "oai", "ant", aliases=ALIAS, policy=policy)) as c:
        completion = await c.llm().complete(ask())
        got = await records(c.ledger())
    assert completion.text == "fast backup"
    by_outcome = {r.outcome: r for r in got}
    assert set(by_outcome) == {"ok", "lost"}
    loser = by_outcome["lost"]
    assert loser.provider == "oai" and loser.estimated and loser.usage.input_tokens > 0
    assert by_outcome["ok"].hedge
    assert completion.request_cost == sum(r.cost or 0 for r in got) and completion.request_cost > completion.cost  # type: ignore[operator]


async def test_ledger_totals_equal_what_the_emulator_sent(emu: VendorEmulator) -> None:
    usages = [ScriptedUsage(100 + i, 10 + i, cached_input_tokens=i) for i in range(12)]
    emu.script(*(Reply(f"answer {i}", usage=u) for i, u in enumerate(usages)), tag="oai")
    tenants = ["acme", "globex", "initech"]
    async with stack(deployment(emu, "oai", aliases={"smart": ["oai/gpt-4o"]})) as c:
        llm = c.llm()
        await asyncio.gather(*(llm.complete(CompletionRequest(
            model="smart", messages=[Message.user(f"q{i}")], tenant_id=tenants[i % 3],
            metadata={"feature": "f" + str(i % 2)})) for i in range(12)))
        ledger = c.ledger()
        by_tenant = await ledger.totals("tenant")
        by_model = await ledger.totals("model")
        by_tag = await ledger.totals("tag:feature")
    sent = [e.step.usage for e in emu.journal.entries(tag="oai") if isinstance(e.step, Reply)]
    assert len(sent) == 12
    total_in = sum(u.input_tokens or 0 for u in sent)
    total_out = sum(u.output_tokens or 0 for u in sent)
    assert sum(t.input_tokens for t in by_tenant.values()) == total_in
    assert sum(t.output_tokens for t in by_tenant.values()) == total_out
    assert by_model["oai/gpt-4o"].input_tokens == total_in and by_model["oai/gpt-4o"].requests == 12
    assert by_model["oai/gpt-4o"].cached_input_tokens == sum(u.cached_input_tokens for u in sent)
    assert {k: v.requests for k, v in by_tenant.items()} == {"acme": 4, "globex": 4, "initech": 4}
    assert {k: v.requests for k, v in by_tag.items()} == {"f0": 6, "f1": 6}
    assert sum(t.cost for t in by_tenant.values()) == by_model["oai/gpt-4o"].cost > 0


async def test_unreported_usage_is_estimated_not_free(emu: VendorEmulator) -> None:
    text = "an answer from a gateway that reports no usage at all"
    body = {"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    emu.script(Fault.raw(json.dumps(body)), tag="oai")
    async with stack(deployment(emu, "oai", aliases={"smart": ["oai/gpt-4o"]})) as c:
        completion = await c.llm().complete(ask())
        [record] = await records(c.ledger())
    assert completion.text == text and not completion.usage.reported
    assert record.estimated and record.outcome == "ok"
    assert record.usage.output_tokens == (len(text) + 3) // 4 and record.usage.input_tokens > 0
    assert completion.cost == record.cost and record.cost is not None and record.cost > 0
