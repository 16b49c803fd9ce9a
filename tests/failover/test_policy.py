"""FailoverPolicy end to end over FakeLLM adapters (no network)."""

from __future__ import annotations

import asyncio

import pytest

from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.domain import (
    AllProvidersFailed,
    AuthenticationFailed,
    CompletionRequest,
    ContentFiltered,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    ProviderUnavailable,
    RateLimited,
    StreamEnd,
    StreamInterrupted,
    TextDelta,
)
from llmport.ports import (
    SYSTEM_CLOCK,
    BreakerConfig,
    FailoverPolicy,
    HedgeConfig,
    LLMPort,
    RecordingObserver,
    RetryBudget,
    RetryPolicy,
)

from .conftest import FakeClock, ask, make_policy


def down(n: int = 1) -> list[ProviderUnavailable]:
    return [ProviderUnavailable("503 from upstream", status=503) for _ in range(n)]


def test_policy_is_an_llmport() -> None:
    assert isinstance(make_policy(FakeLLM()), LLMPort)


async def test_fails_twice_then_succeeds_on_the_same_route(clock: FakeClock, observer: RecordingObserver) -> None:
    primary, backup = FakeLLM(*down(2), "hello", name="p"), FakeLLM("backup", name="b")
    policy = make_policy(primary, backup, clock=clock, observer=observer)
    result = await policy.complete(ask())
    assert result.text == "hello"
    assert len(primary.requests) == 3
    assert not backup.requests
    assert all(r.model == "m-p" for r in primary.requests)  # the route's model, not the alias
    assert [(e.route, e.attempt, e.outcome) for e in observer.attempts] == [
        ("p/m-p", 1, "error"), ("p/m-p", 2, "error"), ("p/m-p", 3, "ok")]
    assert len(clock.sleeps) == 2
    assert all(0 <= s <= 0.05 for s in clock.sleeps)


async def test_retry_after_is_honoured(clock: FakeClock) -> None:
    primary = FakeLLM(RateLimited("slow down", status=429, retry_after=2.5), "ok", name="p")
    policy = make_policy(primary, clock=clock)
    assert (await policy.complete(ask())).text == "ok"
    assert clock.sleeps == [2.5]


async def test_retry_after_past_the_deadline_moves_on_at_once(clock: FakeClock) -> None:
    primary = FakeLLM(RateLimited("slow down", status=429, retry_after=30), name="p")
    backup = FakeLLM("from backup", name="b")
    policy = make_policy(primary, backup, clock=clock)
    assert (await policy.complete(ask(timeout=5.0))).text == "from backup"
    assert clock.sleeps == []
    assert len(primary.requests) == 1


async def test_invalid_request_is_never_retried_nor_failed_over(clock: FakeClock) -> None:
    primary = FakeLLM(InvalidRequest("bad temperature for this model", status=400), name="p")
    backup = FakeLLM(name="b")
    policy = make_policy(primary, backup, clock=clock)
    with pytest.raises(InvalidRequest, match="bad temperature"):
        await policy.complete(ask())
    assert len(primary.requests) == 1
    assert not backup.requests
    assert not clock.sleeps


async def test_exhaustion_raises_all_providers_failed_with_every_attempt() -> None:
    primary = FakeLLM(*down(3), name="p")
    backup = FakeLLM(ModelNotFound("no such model", status=404), name="b")
    policy = make_policy(primary, backup)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    attempts = info.value.attempts
    assert [(a.route, a.attempt, a.error, a.status) for a in attempts] == [
        ("p/m-p", 1, "ProviderUnavailable", 503), ("p/m-p", 2, "ProviderUnavailable", 503),
        ("p/m-p", 3, "ProviderUnavailable", 503), ("b/m-b", 1, "ModelNotFound", 404)]
    assert all(a.duration >= 0 for a in attempts)
    assert "p/m-p #3: ProviderUnavailable status=503" in str(info.value)
    assert len(backup.requests) == 1  # not-found is not retried on the same route


async def test_authentication_failure_fails_over_to_another_provider_without_retry() -> None:
    bad = FakeLLM(AuthenticationFailed("invalid api key", status=401), name="p")
    same_provider = FakeLLM(name="p")  # another route of the failing provider: skipped
    good = FakeLLM("fine", name="b")
    policy = make_policy(bad, same_provider, good)
    assert (await policy.complete(ask())).text == "fine"
    assert len(bad.requests) == 1
    assert not same_provider.requests


async def test_context_length_fails_over_only_to_larger_windows() -> None:
    small = FakeLLM(ContextLengthExceeded("prompt is too long", status=400), name="s")
    same = FakeLLM(name="same")
    large = FakeLLM("big answer", name="l")
    policy = make_policy(small, same, large, windows=(8000, 8000, 200_000))
    assert (await policy.complete(ask())).text == "big answer"
    assert not same.requests
    # with no larger window anywhere the caller gets the context error itself
    policy = make_policy(FakeLLM(ContextLengthExceeded("too long", status=400), name="s"), FakeLLM(name="x"),
                         windows=(8000, 4000))
    with pytest.raises(ContextLengthExceeded):
        await policy.complete(ask())


async def test_content_filtered_fails_over_only_when_configured() -> None:
    def pair() -> tuple[FakeLLM, FakeLLM]:
        return FakeLLM(ContentFiltered("refused"), name="p"), FakeLLM("other", name="b")

    p, b = pair()
    with pytest.raises(ContentFiltered):
        await make_policy(p, b).complete(ask())
    assert not b.requests
    p, b = pair()
    assert (await make_policy(p, b, failover_on_content_filter=True).complete(ask())).text == "other"


async def test_breaker_opens_fails_fast_half_opens_and_recovers(clock: FakeClock,
                                                                observer: RecordingObserver) -> None:
    primary = FakeLLM(*down(3), name="p")
    backup = FakeLLM(default="backup", name="b")
    policy = make_policy(primary, backup, clock=clock, observer=observer,
                         retry=RetryPolicy(1, 0.01, 0.01), breaker=BreakerConfig(failure_threshold=3, cooldown=10))
    for _ in range(3):
        assert (await policy.complete(ask())).text == "backup"
    assert policy.breakers["p/m-p"].snapshot(clock.now)["state"] == "open"
    before = len(primary.requests)
    observer.attempts.clear()
    assert (await policy.complete(ask())).text == "backup"
    assert len(primary.requests) == before  # failed fast: no call at all
    assert [(e.route, e.outcome) for e in observer.attempts] == [("p/m-p", "skipped"), ("b/m-b", "ok")]
    clock.advance(10.0)
    primary.add("recovered")
    assert (await policy.complete(ask())).text == "recovered"  # the half-open probe
    assert policy.breakers["p/m-p"].state == "closed"
    assert [(t.old, t.new) for t in observer.transitions] == [
        ("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    snapshot = {s["route"]: s["state"] for s in policy.breaker_states()}
    assert snapshot == {"p/m-p": "closed", "b/m-b": "closed"}


async def test_invalid_requests_do_not_trip_the_breaker() -> None:
    primary = FakeLLM(*[InvalidRequest("bad", status=400) for _ in range(10)], name="p")
    policy = make_policy(primary, breaker=BreakerConfig(failure_threshold=2))
    for _ in range(10):
        with pytest.raises(InvalidRequest):
            await policy.complete(ask())
    assert policy.breakers["p/m-p"].state == "closed"


async def test_all_breakers_open_says_when_to_come_back(clock: FakeClock) -> None:
    primary = FakeLLM(*down(1), name="p")
    policy = make_policy(primary, clock=clock, retry=RetryPolicy(1, 0, 0),
                         breaker=BreakerConfig(failure_threshold=1, cooldown=7))
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())
    clock.advance(2)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert info.value.retry_after == pytest.approx(5.0)
    assert [a.error for a in info.value.attempts] == ["CircuitOpen"]


async def test_attempt_timeout_then_failover() -> None:
    slow = FakeLLM(FakeReply("late", latency=5.0), name="p")
    fast = FakeLLM("fast", name="b")
    policy = make_policy(slow, fast, retry=RetryPolicy(1, 0, 0))
    result = await policy.complete(ask(attempt_timeout=0.05))
    assert result.text == "fast"


async def test_overall_deadline_is_respected() -> None:
    slow = FakeLLM(default=FakeReply("late", latency=5.0), name="p")
    policy = make_policy(slow, slow, clock=SYSTEM_CLOCK)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask(timeout=0.1, attempt_timeout=1.0))
    assert loop.time() - start < 1.0  # the deadline, not the attempt timeout, bounded the call
    assert "deadline" in info.value.message
    assert info.value.attempts[0].error == "Timeout"
    assert policy.breakers["p/m-p"].state == "closed"
    assert policy.breakers["p/m-p"].snapshot(0)["consecutive_failures"] == 0  # the caller's deadline


async def test_retry_budget_limits_retries_under_sustained_failure() -> None:
    primary = FakeLLM(default=ProviderUnavailable("down", status=503), name="p")
    policy = make_policy(primary, retry=RetryPolicy(3, 0, 0), budget=RetryBudget(0.2, min_retries=2),
                         breaker=BreakerConfig(failure_threshold=10_000, min_calls=10_000))
    for _ in range(200):
        with pytest.raises(AllProvidersFailed):
            await policy.complete(ask())
    extra = len(primary.requests) - 200
    assert 0 < extra <= 0.2 * 200 + 2


async def test_unknown_model_is_a_clear_invalid_request_before_any_call() -> None:
    primary = FakeLLM(name="p")
    policy = make_policy(primary)
    with pytest.raises(InvalidRequest, match=r"aliases are \[smart\]"):
        await policy.complete(ask("nope"))
    with pytest.raises(InvalidRequest):
        policy.stream(ask("nope"))
    assert not primary.requests
    assert (await policy.complete(ask("p/m-p"))).text == "ok"  # provider/model
    assert (await policy.complete(ask("m-p"))).text == "ok"  # bare model


async def test_events_carry_no_prompt_text(observer: RecordingObserver) -> None:
    policy = make_policy(FakeLLM(*down(1), name="p"), observer=observer)
    await policy.complete(ask(text="my secret prompt"))
    assert observer.attempts
    assert "secret" not in repr(observer.attempts)


# -- streams --------------------------------------------------------------------------------------


async def collect(policy: FailoverPolicy, request: CompletionRequest | None = None) -> tuple[str, list[object]]:
    events = []
    async with policy.stream(request or ask()) as stream:
        async for e in stream:
            events.append(e)
    return "".join(e.text for e in events if isinstance(e, TextDelta)), events


async def test_stream_fails_over_before_first_content() -> None:
    primary = FakeLLM(FakeReply("never", error=ProviderUnavailable("boom", status=503), fail_after=0), name="p")
    backup = FakeLLM("a streamed answer", name="b")
    policy = make_policy(primary, backup, retry=RetryPolicy(1, 0, 0))
    text, events = await collect(policy)
    assert text == "a streamed answer"
    assert isinstance(events[-1], StreamEnd)
    assert primary.open_streams == 0
    assert backup.open_streams == 0


async def test_stream_retries_the_same_route_before_content() -> None:
    primary = FakeLLM(*down(1), "second try", name="p")
    text, _ = await collect(make_policy(primary))
    assert text == "second try"
    assert len(primary.requests) == 2


async def test_mid_stream_failure_is_interrupted_with_partial_and_no_duplicates(observer: RecordingObserver) -> None:
    answer = "0123456789abcdefghij"
    primary = FakeLLM(FakeReply(answer, chunk_size=4, error=ProviderUnavailable("cut", status=503), fail_after=3),
                      name="p")
    backup = FakeLLM("backup must not be used", name="b")
    policy = make_policy(primary, backup, observer=observer)
    seen: list[str] = []

    async def consume() -> None:
        async with policy.stream(ask()) as stream:
            async for e in stream:
                if isinstance(e, TextDelta):
                    seen.append(e.text)

    with pytest.raises(StreamInterrupted) as info:
        await consume()
    assert "".join(seen) == answer[:12]
    assert info.value.partial.text == "".join(seen)
    assert not backup.requests
    assert primary.open_streams == 0
    assert observer.attempts[-1].outcome == "interrupted"


async def test_stream_closed_early_closes_upstream() -> None:
    primary = FakeLLM(FakeReply("x" * 200, chunk_size=1), name="p")
    policy = make_policy(primary)
    async with policy.stream(ask()) as stream:
        async for _ in stream:
            assert primary.open_streams == 1
            break
    assert primary.open_streams == 0


# -- hedging and cancellation ---------------------------------------------------------------------


async def test_hedge_starts_backup_and_the_first_token_wins(observer: RecordingObserver) -> None:
    slow = FakeLLM(FakeReply("slow answer", latency=2.0), name="p")
    quick = FakeLLM(FakeReply("quick answer", latency=0.01), name="b")
    policy = make_policy(slow, quick, observer=observer, hedge=HedgeConfig(delay=0.05))
    text, _ = await collect(policy)
    assert text == "quick answer"
    assert slow.open_streams == 0
    assert quick.open_streams == 0
    outcomes = {(e.route, e.outcome, e.hedge) for e in observer.attempts}
    assert outcomes == {("p/m-p", "lost", False), ("b/m-b", "ok", True)}


async def test_hedge_not_needed_when_primary_is_quick() -> None:
    primary, backup = FakeLLM("first", name="p"), FakeLLM("second", name="b")
    policy = make_policy(primary, backup, hedge=HedgeConfig(delay=1.0))
    assert (await policy.complete(ask())).text == "first"
    assert not backup.requests


async def test_hedged_complete_winner_and_primary_failure_falls_back() -> None:
    slow = FakeLLM(FakeReply("slow", latency=2.0), name="p")
    quick = FakeLLM("quick", name="b")
    policy = make_policy(slow, quick, hedge=HedgeConfig(delay=0.02))
    assert (await policy.complete(ask())).text == "quick"
    # the primary fails before the hedge delay: plain failover, still one answer
    failing = FakeLLM(*down(3), name="p")
    policy = make_policy(failing, FakeLLM("b", name="b"), hedge=HedgeConfig(delay=5.0), retry=RetryPolicy(1, 0, 0))
    assert (await policy.complete(ask())).text == "b"


async def test_cancelling_the_caller_closes_every_attempt_and_starts_nothing_new() -> None:
    a = FakeLLM(FakeReply("a", latency=10.0), name="p")
    b = FakeLLM(FakeReply("b", latency=10.0), name="b")
    c = FakeLLM(FakeReply("c", latency=10.0), name="c")
    policy = make_policy(a, b, c, hedge=HedgeConfig(delay=0.02, max_hedges=1))

    async def consume() -> None:
        await collect(policy)

    task = asyncio.create_task(consume())
    for _ in range(400):  # until the hedge has started
        if b.open_streams:
            break
        await asyncio.sleep(0.005)
    assert a.open_streams == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a.open_streams == 0
    assert b.open_streams == 0
    await asyncio.sleep(0.05)
    assert not c.requests  # nothing new started


async def test_cancelling_during_backoff_starts_nothing_new() -> None:
    primary = FakeLLM(*down(1), name="p")
    policy = make_policy(primary, retry=RetryPolicy(3, 5.0, 5.0), clock=SYSTEM_CLOCK)
    policy.rng.seed(1)  # a first backoff of about 0.7 s
    task = asyncio.create_task(policy.complete(ask()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.01)
    assert len(primary.requests) == 1


def test_hedge_delay_follows_the_observed_percentile() -> None:
    from llmport.ports import RouteStats

    stats = RouteStats()
    config = HedgeConfig(percentile=0.9, fallback_delay=0.5)
    assert config.delay_for(stats.percentile(0.9)) == 0.5  # too few samples yet
    for ms in range(1, 21):
        stats.observe(0.0, None, ms / 100)
    assert config.delay_for(stats.percentile(0.9)) == pytest.approx(0.19)
    assert HedgeConfig(delay=0.3).delay_for(0.19) == 0.3


async def test_hedge_uses_the_primary_observed_ttft(observer: RecordingObserver) -> None:
    primary = FakeLLM(*["fast"] * 6, FakeReply("now slow", latency=2.0), name="p")
    backup = FakeLLM("hedged", name="b")
    policy = make_policy(primary, backup, observer=observer,
                         hedge=HedgeConfig(percentile=0.95, fallback_delay=10.0), clock=SYSTEM_CLOCK)
    for _ in range(6):  # a quick primary: its p95 time to first token becomes tiny
        assert (await collect(policy))[0] == "fast"
    assert not backup.requests
    assert (await collect(policy))[0] == "hedged"  # well before the 10 s fallback delay
    assert primary.open_streams == 0


async def test_count_tokens_uses_the_first_working_route() -> None:
    primary = FakeLLM(name="p")
    policy = make_policy(primary)
    assert await policy.count_tokens(ask(text="x" * 400)) == 100
    assert primary.requests[-1].model == "m-p"
