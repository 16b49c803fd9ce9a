"""FailoverPolicy decisions a mutation run found untested: a half-open probe answered with the
request's own fault, credentials rejected for one provider, and a hedge the retry budget refuses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.domain import (
    AllProvidersFailed,
    AuthenticationFailed,
    ContextLengthExceeded,
    InvalidRequest,
    ProviderUnavailable,
    RateLimited,
)
from llmport.ports import (
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
from llmport.ports.memory_state import MemoryPolicyState
from llmport.ports.state import ASK, Admission, Permit

from .conftest import FakeClock, ask, make_policy


def down() -> ProviderUnavailable:
    return ProviderUnavailable("503", status=503)


async def test_a_probe_answered_with_the_requests_own_fault_closes_the_breaker(clock: FakeClock) -> None:
    p = FakeLLM(down(), InvalidRequest("bad temperature", status=400), "healthy", name="p")
    policy = make_policy(p, clock=clock, retry=RetryPolicy(1, 0, 0),
                         breaker=BreakerConfig(failure_threshold=1, cooldown=10))
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())
    clock.advance(10)
    with pytest.raises(InvalidRequest):
        await policy.complete(ask())  # the probe: the provider answered, the request was at fault
    assert policy.breakers["p/m-p"].state == "closed"
    assert (await policy.complete(ask())).text == "healthy"


async def test_rejected_credentials_skip_every_route_of_that_provider(clock: FakeClock) -> None:
    first = FakeLLM(AuthenticationFailed("bad key", status=401), name="acme")
    second = FakeLLM(default="same bad key", name="acme")
    other = FakeLLM(default="other provider", name="other")
    routes = [Route("acme", "m1", first), Route("acme", "m2", second), Route("other", "m3", other)]
    policy = FailoverPolicy(Router(routes, {"smart": RouteSet("smart", tuple(routes))}), clock=clock)
    assert (await policy.complete(ask())).text == "other provider"
    assert not second.requests


async def test_a_hedge_the_budget_refuses_leaves_its_route_for_failover(clock: FakeClock) -> None:
    p = FakeLLM(down(), FakeReply(error=down(), latency=0.3), name="p")
    b = FakeLLM(down(), default="backup", name="b")
    policy = make_policy(p, b, clock=clock, retry=RetryPolicy(1, 0, 0), hedge=HedgeConfig(delay=0.02),
                         breaker=BreakerConfig(failure_threshold=1, cooldown=10),
                         budget=RetryBudget(0.0, min_retries=0))
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())  # opens both breakers
    clock.advance(10)  # both half-open: each admission is the route's one probe
    assert (await policy.complete(ask())).text == "backup"  # no hedge to b; b serves the failover
    assert len(b.requests) == 2


async def test_a_refused_hedge_reports_the_open_routes_it_passed_only_once(clock: FakeClock) -> None:
    p = FakeLLM(FakeReply(error=down(), latency=0.3), name="p")
    x = FakeLLM(name="x")
    b = FakeLLM(default="backup", name="b")
    observer = RecordingObserver()
    policy = make_policy(p, x, b, clock=clock, observer=observer, retry=RetryPolicy(1, 0, 0),
                         hedge=HedgeConfig(delay=0.02), breaker=BreakerConfig(failure_threshold=1, cooldown=10),
                         budget=RetryBudget(0.0, min_retries=0))
    permit = await policy.state.admit("x/m-x", clock.now)
    assert permit is not None
    policy.state.record_failure(permit, clock.now)  # x's breaker is open
    assert (await policy.complete(ask())).text == "backup"
    assert [(e.route, e.outcome) for e in observer.attempts] == [
        ("x/m-x", "skipped"), ("p/m-p", "error"), ("b/m-b", "ok")]
    assert not x.requests


# -- the fail-fast path and what AllProvidersFailed says --------------------------------------------


async def _open(policy: FailoverPolicy, route: str, now: float) -> None:
    permit = await policy.state.admit(route, now)
    assert permit is not None
    policy.state.record_failure(permit, now)


async def test_a_skipped_route_makes_the_failure_retryable_and_reports_attempt_zero(clock: FakeClock) -> None:
    observer = RecordingObserver()
    p = FakeLLM(name="p")
    q = FakeLLM(AuthenticationFailed("bad key", status=401), name="q")
    policy = make_policy(p, q, clock=clock, observer=observer, retry=RetryPolicy(1, 0, 0),
                         breaker=BreakerConfig(failure_threshold=1, cooldown=10))
    await _open(policy, "p/m-p", clock.now)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert info.value.retryable  # p comes back after its cooldown, though q's failure is final
    skipped = observer.attempts[0]
    assert (skipped.route, skipped.outcome, skipped.attempt, skipped.latency) == ("p/m-p", "skipped", 0, 0.0)


async def test_every_route_skipped_is_503(clock: FakeClock) -> None:
    policy = make_policy(FakeLLM(name="p"), clock=clock, breaker=BreakerConfig(failure_threshold=1, cooldown=10))
    await _open(policy, "p/m-p", clock.now)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert info.value.status == 503 and info.value.retry_after == 10
    clock.advance(9.5)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert info.value.retry_after == 0.5


async def test_a_route_cooling_after_retry_after_is_waited_for_without_retry_budget(clock: FakeClock) -> None:
    p = FakeLLM(default="cooled", name="p")
    b = FakeLLM(down(), name="b")
    policy = make_policy(p, b, clock=clock, retry=RetryPolicy(1, 0, 0), budget=RetryBudget(0.0, min_retries=0))
    policy.state.note_retry_after("p/m-p", clock.now, 1.0)
    assert (await policy.complete(ask())).text == "cooled"  # b failed; p was reached while still cooling
    assert clock.sleeps == [1.0]


async def test_throttled_everywhere_is_429_whatever_the_statuses(clock: FakeClock) -> None:
    policy = make_policy(FakeLLM(RateLimited("slow", status=429), name="p"),
                         FakeLLM(RateLimited("quota"), name="b"), clock=clock, retry=RetryPolicy(1, 0, 0))
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert info.value.status == 429


async def test_mixed_final_failures_carry_the_last_status(clock: FakeClock) -> None:
    policy = make_policy(FakeLLM(down(), name="p"), FakeLLM(AuthenticationFailed("bad key", status=401), name="b"),
                         clock=clock, retry=RetryPolicy(1, 0, 0))
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert info.value.status == 401


async def test_retry_after_is_the_soonest_known_comeback(clock: FakeClock) -> None:
    now_ok = make_policy(FakeLLM(RateLimited("slow", status=429, retry_after=0.0), name="p"), clock=clock,
                         retry=RetryPolicy(1, 0, 0))
    with pytest.raises(AllProvidersFailed) as info:
        await now_ok.complete(ask())
    assert info.value.retry_after == 0.0  # the vendor said: at once
    mixed = make_policy(FakeLLM(RateLimited("slow", status=429, retry_after=0.5), name="p"),
                        FakeLLM(RateLimited("no hint", status=429), name="b"), clock=clock, retry=RetryPolicy(1, 0, 0))
    with pytest.raises(AllProvidersFailed) as info:
        await mixed.complete(ask())
    assert info.value.retry_after == 0.5  # b gave no hint: unknown, not "now"


async def test_a_cancelled_attempt_reports_how_long_it_ran(clock: FakeClock) -> None:
    import asyncio

    observer = RecordingObserver()
    p = FakeLLM(FakeReply("slow", latency=30.0), name="p")
    policy = make_policy(p, clock=clock, observer=observer)
    call = asyncio.create_task(policy.complete(ask()))
    for _ in range(100):  # until the attempt is under way
        if p.requests:
            break
        await asyncio.sleep(0)
    clock.advance(2.5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert [(e.route, e.outcome, e.latency) for e in observer.attempts] == [("p/m-p", "cancelled", 2.5)]


# -- edges of decide and of the fail-fast path -----------------------------------------------------


async def test_a_window_too_small_on_a_route_of_unknown_window_leaves_every_known_window(clock: FakeClock) -> None:
    p = FakeLLM(ContextLengthExceeded("too long", status=400), name="p")
    q = FakeLLM(default="tiny window, still tried", name="q")
    policy = make_policy(p, q, clock=clock, windows=(None, 1), retry=RetryPolicy(1, 0, 0))
    assert (await policy.complete(ask())).text == "tiny window, still tried"


class _AwaitedAdmission(MemoryPolicyState):
    """Every admission needs the round trip (as a shared state's half-open probe does) and is
    refused; ``during`` runs while it is awaited. The breaker stays closed, nothing cools."""

    def __init__(self, during: Callable[[], None]) -> None:
        super().__init__(BreakerConfig())
        self.during = during

    def admit_now(self, route: str, now: float) -> Admission:  # type: ignore[override]
        return ASK

    async def admit(self, route: str, now: float) -> Permit | None:
        self.during()
        return None


def _refusing(clock: FakeClock, state: MemoryPolicyState, *adapters: FakeLLM) -> FailoverPolicy:
    routes = [Route(a.name, f"m-{a.name}", a) for a in adapters]
    return FailoverPolicy(Router(routes, {"smart": RouteSet("smart", tuple(routes))}), clock=clock, state=state,
                          config=PolicyConfig(retry=RetryPolicy(1, 0, 0)))


async def test_a_route_refused_though_neither_open_nor_cooling_is_not_waited_for(clock: FakeClock) -> None:
    """The state changed while its admission was awaited: nothing says when to come back."""
    p = FakeLLM(name="p")
    policy = _refusing(clock, _AwaitedAdmission(lambda: None), p)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert [(a.route, a.error) for a in info.value.attempts] == [("p/m-p", "CircuitOpen")]
    assert (info.value.status, info.value.retryable, p.requests) == (503, True, [])


async def test_every_route_skipped_while_the_deadline_passed_is_504(clock: FakeClock) -> None:
    """The admission's round trip took the rest of the deadline: late, though no attempt ran."""
    policy = _refusing(clock, _AwaitedAdmission(lambda: clock.advance(10)), FakeLLM(name="p"))
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask(timeout=5.0))
    assert (info.value.status, info.value.retryable) == (504, True)
    assert "the request deadline passed" in info.value.message
