"""Failing fast: every route of the request refused by the state (an open breaker, or cooling down
after a Retry-After). No network call; one skipped-route event per route for the observers; the
``AllProvidersFailed`` says what the attempts had in common."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import AllProvidersFailed, Attempt, ProviderUnavailable, RateLimited
from llmport.ports import BreakerConfig, FailoverPolicy, RecordingObserver, RetryPolicy
from llmport.ports.catalog import LayeredCatalog
from llmport.ports.ledger import InMemoryUsageLedger
from llmport.ports.metering import MeteredLLM, MeteringObserver
from llmport.ports.observer import AttemptEvent, BreakerTransition, NullObserver
from llmport.ports.state import Permit

from .conftest import FakeClock, ask, make_policy


def _down(*names: str) -> list[FakeLLM]:
    return [FakeLLM(*[ProviderUnavailable("down", status=503)] * 3, name=n) for n in names]


async def _opened(policy: FailoverPolicy) -> None:
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())  # every route fails once: every breaker opens


async def test_every_open_route_is_skipped_and_reported(clock: FakeClock, observer: RecordingObserver) -> None:
    a, b = _down("a", "b")
    policy = make_policy(a, b, clock=clock, observer=observer, retry=RetryPolicy(1, 0, 0),
                         breaker=BreakerConfig(failure_threshold=1, cooldown=30.0))
    await _opened(policy)
    clock.advance(10.0)
    observer.attempts.clear()
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask(tenant_id="t1", metadata={"request_id": "rq-1", "team": "x"}))
    assert len(a.requests) == len(b.requests) == 1  # no network call
    assert observer.attempts == [
        AttemptEvent(name, 0, "skipped", "CircuitOpen", None, 0.0, None, "open", "smart", False, None, p, f"m-{p}",
                     None, False, "rq-1", "t1", {"request_id": "rq-1", "team": "x"})
        for name, p in (("a/m-a", "a"), ("b/m-b", "b"))]
    err = info.value
    assert err.attempts == (Attempt("a/m-a", "CircuitOpen", None, 0.0, 0, "circuit breaker open"),
                            Attempt("b/m-b", "CircuitOpen", None, 0.0, 0, "circuit breaker open"))
    assert err.message == "'smart': every route failed or is unavailable (0 attempts on 2 routes)"
    assert (err.status, err.retryable, err.retry_after) == (503, True, pytest.approx(20.0))


async def test_the_same_outcome_without_an_observer(clock: FakeClock) -> None:
    (a,) = _down("a")
    policy = make_policy(a, clock=clock, retry=RetryPolicy(1, 0, 0), breaker=BreakerConfig(failure_threshold=1))
    policy.observer = NullObserver()
    await _opened(policy)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert [(x.route, x.error, x.attempt) for x in info.value.attempts] == [("a/m-a", "CircuitOpen", 0)]
    assert len(a.requests) == 1 and info.value.status == 503


async def test_a_route_cooling_after_retry_after_is_skipped_while_another_serves(
        clock: FakeClock, observer: RecordingObserver) -> None:
    a = FakeLLM(RateLimited("slow down", status=429, retry_after=60.0), name="a")
    b = FakeLLM(default="backup", name="b")
    policy = make_policy(a, b, clock=clock, observer=observer, retry=RetryPolicy(2, 0, 0))
    assert (await policy.complete(ask())).text == "backup"  # 60 s is past max_retry_after: failed over
    observer.attempts.clear()
    assert (await policy.complete(ask())).text == "backup"
    assert len(a.requests) == 1
    skipped = observer.attempts[0]
    assert (skipped.route, skipped.outcome, skipped.error, skipped.breaker) == ("a/m-a", "skipped", "CoolingDown",
                                                                                "closed")
    assert [e.outcome for e in observer.attempts] == ["skipped", "ok"]


async def test_only_cooling_routes_left_fail_with_their_wait(clock: FakeClock) -> None:
    a = FakeLLM(RateLimited("slow down", status=429, retry_after=60.0), name="a")
    policy = make_policy(a, clock=clock, retry=RetryPolicy(2, 0, 0))
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())
    clock.advance(15.0)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert [(x.error, x.message) for x in info.value.attempts] == [("CoolingDown", "cooling down after Retry-After")]
    assert info.value.retry_after == pytest.approx(45.0) and info.value.retryable
    assert len(a.requests) == 1


async def test_a_passed_deadline_before_any_route_is_a_504(clock: FakeClock) -> None:
    (a,) = _down("a")
    policy = make_policy(a, clock=clock, timeout=0.0)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert (info.value.status, info.value.retryable, info.value.attempts) == (504, True, ())
    assert "the request deadline passed" in info.value.message and not a.requests


class _Broken:
    def __init__(self) -> None:
        self.seen = 0

    def on_attempt(self, event: AttemptEvent) -> None:
        self.seen += 1
        raise RuntimeError("observer bug")

    def on_breaker(self, transition: BreakerTransition) -> None:
        pass


async def test_an_observers_bug_does_not_change_the_outcome(clock: FakeClock) -> None:
    (a,) = _down("a")
    broken = _Broken()
    policy = make_policy(a, clock=clock, retry=RetryPolicy(1, 0, 0), breaker=BreakerConfig(failure_threshold=1))
    policy.observer = broken
    await _opened(policy)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert info.value.status == 503 and broken.seen == 2


async def test_a_metered_fail_fast_costs_nothing_and_records_nothing(clock: FakeClock) -> None:
    (a,) = _down("a")
    metering = MeteringObserver(LayeredCatalog(None))
    policy = make_policy(a, clock=clock, retry=RetryPolicy(1, 0, 0), breaker=BreakerConfig(failure_threshold=1))
    policy.observer = metering
    ledger = InMemoryUsageLedger()
    metered = MeteredLLM(policy, metering, routes=lambda model: policy.router.resolve(model).routes, ledger=ledger)
    with pytest.raises(AllProvidersFailed):
        await metered.complete(ask())
    recorded = len(await ledger.records())
    with pytest.raises(AllProvidersFailed) as info:
        await metered.complete(ask())
    assert info.value.request_cost == Decimal(0)
    assert len(await ledger.records()) == recorded == 1  # the fail-fast added no record


async def test_retry_after_is_the_soonest_wait_of_the_refused_routes(clock: FakeClock) -> None:
    a, b, c = _down("a", "b", "c")
    policy = make_policy(a, b, c, clock=clock, retry=RetryPolicy(1, 0, 0),
                         breaker=BreakerConfig(failure_threshold=1, cooldown=30.0))
    await _opened(policy)  # a, b and c open at t=0 for 30 s
    clock.advance(10.0)
    now = clock.monotonic()
    policy.state.record_lockout(Permit("a/m-a"), now, 30.0, "AuthenticationFailed")  # a: until t=40
    policy.state.record_lockout(Permit("c/m-c"), now, 100.0, "AuthenticationFailed")  # c: until t=110
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert info.value.retry_after == pytest.approx(20.0)  # b's, the soonest (a's 30 s before it, c's 100 s after)
    clock.advance(20.0)
    probe = policy.state.admit_now("b/m-b", clock.monotonic())  # b half-open, its probe out: no wait to report
    assert isinstance(probe, Permit) and probe.probe
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert [x.route for x in info.value.attempts] == ["a/m-a", "b/m-b", "c/m-c"]
    assert info.value.retry_after == pytest.approx(10.0)  # a's, neither b's 0 nor c's 80 s


async def test_skipped_routes_go_to_the_observer_of_the_moment(clock: FakeClock) -> None:
    (a,) = _down("a")
    first, second = RecordingObserver(), RecordingObserver()
    policy = make_policy(a, clock=clock, observer=first, retry=RetryPolicy(1, 0, 0),
                         breaker=BreakerConfig(failure_threshold=1))
    await _opened(policy)
    for observer in (second, first, second):
        policy.observer = observer
        with pytest.raises(AllProvidersFailed):
            await policy.complete(ask())
    assert [e.outcome for e in first.attempts] == ["error", "skipped"]
    assert [e.outcome for e in second.attempts] == ["skipped", "skipped"]
