"""FailoverPolicy through real adapters and real SDKs over real HTTP, against the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anthropic
import openai
import pytest

from llmport.adapters.anthropic import AnthropicAdapter
from llmport.adapters.openai import OpenAIAdapter
from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Fault, Reply
from llmport.domain import AllProvidersFailed, InvalidRequest, StreamInterrupted, TextDelta
from llmport.ports import (
    SYSTEM_CLOCK,
    BreakerConfig,
    FailoverPolicy,
    HedgeConfig,
    PolicyConfig,
    RecordingObserver,
    RetryBudget,
    RetryPolicy,
    Route,
    Router,
    RouteSet,
)

from .conftest import ask

GPT, CLAUDE = "gpt-test", "claude-test"


@pytest.fixture
async def policy(emu: VendorEmulator) -> AsyncIterator[FailoverPolicy]:
    """Primary: OpenAI-compatible; backup: Anthropic; both on the emulator, SDK retries off."""
    primary = OpenAIAdapter(openai.AsyncOpenAI(api_key="sk-test-failover", base_url=f"{emu.url_for('primary')}/v1",
                                               max_retries=0), provider="primary")
    backup = AnthropicAdapter(anthropic.AsyncAnthropic(api_key="sk-ant-test-failover", base_url=emu.url_for("backup"),
                                                       max_retries=0), provider="backup")
    routes = (Route("primary", GPT, primary), Route("backup", CLAUDE, backup))
    policy = FailoverPolicy(
        Router(routes, {"smart": RouteSet("smart", routes)}),
        config=PolicyConfig(retry=RetryPolicy(3, 0.01, 0.02), breaker=BreakerConfig(failure_threshold=3, cooldown=0.2)),
        clock=SYSTEM_CLOCK, observer=RecordingObserver(), budget=RetryBudget(min_retries=1000),
    )
    yield policy
    await policy.aclose()


def observed(policy: FailoverPolicy) -> RecordingObserver:
    assert isinstance(policy.observer, RecordingObserver)
    return policy.observer


async def test_fails_twice_then_succeeds(emu: VendorEmulator, policy: FailoverPolicy) -> None:
    emu.script(Fault.http(503), Fault.http(503), Reply("third time lucky"), tag="primary")
    assert (await policy.complete(ask())).text == "third time lucky"
    assert [e.status for e in emu.journal.entries(tag="primary")] == [503, 503, 200]
    assert not emu.journal.entries(tag="backup")


async def test_429_retry_after_is_honoured_when_no_other_route_can_serve(emu: VendorEmulator,
                                                                         policy: FailoverPolicy) -> None:
    emu.script(Fault.rate_limited(retry_after=0.3), Reply("after the wait"), tag="primary")
    assert (await policy.complete(ask(f"primary/{GPT}"))).text == "after the wait"
    first, second = emu.journal.entries(tag="primary")
    assert first.status == 429
    assert second.arrived - first.arrived >= 0.3


async def test_429_retry_after_fails_over_at_once_when_the_backup_can_serve(emu: VendorEmulator,
                                                                           policy: FailoverPolicy) -> None:
    emu.script(Fault.rate_limited(retry_after=5), tag="primary")
    emu.script(Reply("the backup at once"), tag="backup")
    assert (await policy.complete(ask())).text == "the backup at once"
    (throttled,) = emu.journal.entries(tag="primary")
    (answered,) = emu.journal.entries(tag="backup")
    assert throttled.status == 429
    assert answered.arrived - throttled.arrived < 5  # not waited for: the backup could serve
    # The Retry-After cools the primary for every request: the next one goes straight to the backup.
    emu.script(Reply("the backup again"), tag="backup")
    assert (await policy.complete(ask())).text == "the backup again"
    assert len(emu.journal.entries(tag="primary")) == 1


async def test_400_is_never_retried(emu: VendorEmulator, policy: FailoverPolicy) -> None:
    emu.script(Fault.http(400, "invalid_request_error", "temperature is not supported"), tag="primary")
    with pytest.raises(InvalidRequest):
        await policy.complete(ask())
    assert len(emu.journal.entries(tag="primary")) == 1
    assert not emu.journal.entries(tag="backup")


async def test_primary_down_fails_over_to_backup_stream(emu: VendorEmulator, policy: FailoverPolicy) -> None:
    emu.script(Fault.http(503), Fault.http(503), Fault.rate_limited(retry_after=0.05), tag="primary")
    emu.script(Reply("the backup answers", chunk_size=3), tag="backup")
    text = []
    async with policy.stream(ask()) as stream:
        async for e in stream:
            if isinstance(e, TextDelta):
                text.append(e.text)
    assert "".join(text) == "the backup answers"
    assert [(e.route, e.outcome) for e in observed(policy).attempts] == [
        ("primary/gpt-test", "error"), ("primary/gpt-test", "error"), ("primary/gpt-test", "error"),
        ("backup/claude-test", "ok")]


async def test_breaker_opens_fails_fast_half_opens_and_recovers(emu: VendorEmulator, policy: FailoverPolicy) -> None:
    emu.script(then=Fault.http(503), tag="primary")
    emu.script(then=Reply("backup"), tag="backup")
    assert (await policy.complete(ask())).text == "backup"  # 3 primary failures open the breaker
    assert policy.breakers["primary/gpt-test"].state == "open"
    sent = len(emu.journal.entries(tag="primary"))
    assert sent == 3
    assert (await policy.complete(ask())).text == "backup"
    assert len(emu.journal.entries(tag="primary")) == sent  # failed fast: nothing sent
    await asyncio.sleep(0.25)  # cooldown
    emu.script(Reply("primary is back"), tag="primary")
    assert (await policy.complete(ask())).text == "primary is back"  # the half-open probe
    assert policy.breakers["primary/gpt-test"].state == "closed"
    assert [(t.old, t.new) for t in observed(policy).transitions] == [
        ("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


async def test_deadline_is_respected_and_the_hung_connection_closed(emu: VendorEmulator,
                                                                   policy: FailoverPolicy) -> None:
    emu.script(then=Fault.hang(), tag="primary")
    emu.script(then=Fault.hang(), tag="backup")
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(AllProvidersFailed, match="deadline"):
        await policy.complete(ask(timeout=0.3))
    assert loop.time() - start < 2.0
    for entry in emu.journal.entries():
        await emu.journal.await_closed(entry)


async def test_hedge_winner_and_loser_connection_closed(emu: VendorEmulator, policy: FailoverPolicy) -> None:
    hedged = FailoverPolicy(
        Router(policy.router.routes, {"smart": RouteSet("smart", policy.router.routes, hedge=HedgeConfig(0.05))}),
        clock=SYSTEM_CLOCK, observer=RecordingObserver())
    emu.script(Fault.hang(), tag="primary")
    emu.script(Reply("hedge wins", chunk_size=4), tag="backup")
    text = []
    async with hedged.stream(ask()) as stream:
        async for e in stream:
            if isinstance(e, TextDelta):
                text.append(e.text)
    assert "".join(text) == "hedge wins"
    (loser,) = emu.journal.entries(tag="primary")
    await emu.journal.await_closed(loser)
    assert {(e.route, e.outcome, e.hedge) for e in observed(hedged).attempts} == {
        ("primary/gpt-test", "lost", False), ("backup/claude-test", "ok", True)}


async def test_mid_stream_cut_is_interrupted_without_duplicates(emu: VendorEmulator, policy: FailoverPolicy) -> None:
    emu.script(Fault.cut(after_chunks=3), tag="primary")
    seen: list[str] = []

    async def consume() -> None:
        async with policy.stream(ask()) as stream:
            async for e in stream:
                if isinstance(e, TextDelta):
                    seen.append(e.text)

    with pytest.raises(StreamInterrupted) as info:
        await consume()
    assert seen
    assert info.value.partial.text == "".join(seen)
    assert not emu.journal.entries(tag="backup")  # no failover after content: nothing twice
    assert len(emu.journal.entries(tag="primary")) == 1


async def test_cancellation_closes_every_connection(emu: VendorEmulator, policy: FailoverPolicy) -> None:
    hedged = FailoverPolicy(
        Router(policy.router.routes, {"smart": RouteSet("smart", policy.router.routes, hedge=HedgeConfig(0.02))}),
        clock=SYSTEM_CLOCK)
    emu.script(then=Fault.hang(), tag="primary")
    emu.script(then=Fault.hang(), tag="backup")

    async def consume() -> None:
        async with hedged.stream(ask()) as stream:
            async for _ in stream:
                pass

    task = asyncio.create_task(consume())
    await emu.journal.await_for(lambda j: len(j) == 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    loop = asyncio.get_running_loop()
    cancelled_at = loop.time()
    for entry in emu.journal.entries():
        await emu.journal.await_closed(entry)
    print(f"connections closed {1000 * (loop.time() - cancelled_at):.1f} ms after cancel returned")
    await asyncio.sleep(0.05)
    assert len(emu.journal) == 2  # nothing new started
