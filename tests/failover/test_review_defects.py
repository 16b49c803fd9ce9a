"""Regression tests for policy defects found in review: breaker probes under concurrency, the
caller's deadline while streaming, and observers that raise."""

from __future__ import annotations

import asyncio

import pytest

from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.domain import (
    AllProvidersFailed,
    Completion,
    CompletionRequest,
    ContentFiltered,
    ProviderUnavailable,
    StreamInterrupted,
)
from llmport.ports import SYSTEM_CLOCK, AttemptEvent, BreakerConfig, BreakerTransition, HedgeConfig, RetryPolicy

from .conftest import FakeClock, ask, make_policy


async def _until(predicate: object) -> None:
    for _ in range(200):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


async def test_cancelled_straggler_does_not_free_the_half_open_probe(clock: FakeClock) -> None:
    """A call admitted while the breaker was closed, cancelled while a half-open probe is in
    flight, must not let a second probe through."""
    a = FakeLLM(FakeReply("straggler", latency=5.0), ProviderUnavailable("down", status=503),
                FakeReply("probe", latency=5.0), "second probe", name="p")
    policy = make_policy(a, clock=clock, retry=RetryPolicy(1, 0, 0),
                         breaker=BreakerConfig(failure_threshold=1, cooldown=10.0))
    straggler = asyncio.create_task(policy.complete(ask()))
    await _until(lambda: len(a.requests) == 1)
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())  # trips the breaker
    assert policy.breakers["p/m-p"].state == "open"
    clock.advance(10.0)
    probe = asyncio.create_task(policy.complete(ask()))
    await _until(lambda: len(a.requests) == 3)
    assert policy.breakers["p/m-p"].state == "half_open"
    straggler.cancel()
    with pytest.raises(asyncio.CancelledError):
        await straggler
    try:
        with pytest.raises(AllProvidersFailed):
            await policy.complete(ask())  # the probe is still out: fail fast, no second probe
        assert len(a.requests) == 3
    finally:
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
    # The probe's own cancellation frees the slot: the next call is the new probe.
    assert (await policy.complete(ask())).text == "second probe"


async def test_request_deadline_while_streaming_does_not_count_against_the_breaker() -> None:
    slow = FakeLLM(default=FakeReply("one two three four five six", chunk_size=1, chunk_delay=0.5), name="p")
    policy = make_policy(slow, clock=SYSTEM_CLOCK, breaker=BreakerConfig(failure_threshold=1))
    with pytest.raises(StreamInterrupted):
        async with policy.stream(ask(timeout=0.2)) as events:
            async for _ in events:
                pass
    breaker = policy.breakers["p/m-p"]
    assert breaker.state == "closed"
    assert breaker.snapshot(0)["consecutive_failures"] == 0  # the caller's deadline, not the provider


class _Raising:
    def __init__(self) -> None:
        self.calls = 0

    def on_attempt(self, event: AttemptEvent) -> None:
        self.calls += 1
        raise RuntimeError("observer bug")

    def on_breaker(self, transition: BreakerTransition) -> None:
        self.calls += 1
        raise RuntimeError("observer bug")


async def test_a_raising_observer_never_changes_the_outcome(clock: FakeClock) -> None:
    observer = _Raising()
    a = FakeLLM(ProviderUnavailable("down", status=503), name="p")
    b = FakeLLM("answer", name="b")
    policy = make_policy(a, b, clock=clock, observer=observer,  # type: ignore[arg-type]
                         breaker=BreakerConfig(failure_threshold=1))
    assert (await policy.complete(ask())).text == "answer"
    assert observer.calls >= 2
    async with policy.stream(ask()) as events:
        text = "".join([e.text async for e in events if hasattr(e, "text")])
    assert text == "ok"


class _CannotCount(FakeLLM):
    async def count_tokens(self, request: object) -> int:
        raise ProviderUnavailable("count endpoint down", status=503)


async def test_count_tokens_failure_lists_every_route_tried(clock: FakeClock) -> None:
    policy = make_policy(_CannotCount(name="p"), _CannotCount(name="b"), clock=clock)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.count_tokens(ask())
    assert [(a.route, a.error, a.status) for a in info.value.attempts] == [
        ("p/m-p", "ProviderUnavailable", 503), ("b/m-b", "ProviderUnavailable", 503)]


async def test_a_hedge_with_no_route_left_spends_no_retry_budget(clock: FakeClock) -> None:
    from llmport.ports import HedgeConfig, RetryBudget

    p = FakeLLM(FakeReply("first", latency=0.3), ProviderUnavailable("down", status=503), "retried", name="p")
    b = FakeLLM(FakeReply("hedge", latency=2.0), default="from b", name="b")
    policy = make_policy(p, b, clock=clock, hedge=HedgeConfig(delay=0.02, max_hedges=2),
                         budget=RetryBudget(0.0, min_retries=2))
    assert (await policy.complete(ask())).text == "first"  # one real hedge (to b); no route for a second
    assert (await policy.complete(ask())).text == "retried"  # so one retry is still in the budget


async def test_a_straggler_failing_during_half_open_does_not_let_a_second_probe_through(clock: FakeClock) -> None:
    a = FakeLLM(FakeReply(error=ProviderUnavailable("late 503", status=503), latency=0.3),
                ProviderUnavailable("down", status=503), FakeReply("probe", latency=5.0), "second probe", name="p")
    policy = make_policy(a, clock=clock, retry=RetryPolicy(1, 0, 0),
                         breaker=BreakerConfig(failure_threshold=1, cooldown=10.0))
    straggler = asyncio.create_task(policy.complete(ask()))
    await _until(lambda: len(a.requests) == 1)
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())  # trips the breaker
    clock.advance(10.0)
    probe = asyncio.create_task(policy.complete(ask()))
    await _until(lambda: len(a.requests) == 3)
    with pytest.raises(AllProvidersFailed):
        await straggler  # fails while the probe is out: the breaker reopens
    assert policy.breakers["p/m-p"].state == "open"
    clock.advance(10.0)
    try:
        with pytest.raises(AllProvidersFailed):
            await policy.complete(ask())  # the first probe has not reported yet: no second one
        assert len(a.requests) == 3
    finally:
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
    assert (await policy.complete(ask())).text == "second probe"


class _Gated(FakeLLM):
    """A FakeLLM whose calls all wait for one gate, so that they finish in the same loop turn."""

    def __init__(self, *script: object, gate: asyncio.Event, name: str) -> None:
        super().__init__(*script, name=name)  # type: ignore[arg-type]
        self.gate = gate
        self.waiting = 0

    async def _complete(self, request: CompletionRequest) -> Completion:
        self.waiting += 1
        await self.gate.wait()
        return await super()._complete(request)


async def test_a_hedge_answer_is_not_lost_to_an_error_finishing_in_the_same_instant() -> None:
    gate = asyncio.Event()
    primary = _Gated(ContentFiltered("refused"), gate=gate, name="a")
    backup = _Gated("the answer", gate=gate, name="b")
    policy = make_policy(primary, backup, clock=SYSTEM_CLOCK, hedge=HedgeConfig(delay=0.01))
    task = asyncio.create_task(policy.complete(ask()))
    await _until(lambda: backup.waiting == 1)  # the hedge is out; both wait on the gate
    gate.set()
    assert (await task).text == "the answer"
