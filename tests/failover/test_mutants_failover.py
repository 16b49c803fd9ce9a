"""FailoverPolicy decisions a mutation run found untested: a half-open probe answered with the
request's own fault, credentials rejected for one provider, and a hedge the retry budget refuses."""

from __future__ import annotations

import pytest

from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.domain import AllProvidersFailed, AuthenticationFailed, InvalidRequest, ProviderUnavailable
from llmport.ports import (
    BreakerConfig,
    FailoverPolicy,
    HedgeConfig,
    RecordingObserver,
    RetryBudget,
    RetryPolicy,
    Route,
    Router,
    RouteSet,
)

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
