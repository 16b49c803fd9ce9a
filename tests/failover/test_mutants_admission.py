"""Admission a mutation run found untested: a state that can only admit through its awaited
``admit`` (as a shared state does for a half-open probe), a cancelled attempt that had a time limit,
and the request id of a skipped-routes event."""

from __future__ import annotations

import asyncio

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import AllProvidersFailed, Completion, CompletionRequest, ProviderUnavailable
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


class _AlwaysAsks(MemoryPolicyState):
    """Decides nothing from its local view: every admission takes the awaited round trip."""

    def __init__(self) -> None:
        super().__init__(BreakerConfig(), RetryBudget(min_retries=1000))
        self.asked: list[str] = []

    def admit_now(self, route: str, now: float) -> Admission:  # type: ignore[override]
        return ASK

    async def admit(self, route: str, now: float) -> Permit | None:
        self.asked.append(route)
        return MemoryPolicyState.admit_now(self, route, now)


def _policy(clock: FakeClock, *adapters: FakeLLM, retry: RetryPolicy, observer: RecordingObserver) -> FailoverPolicy:
    routes = [Route(a.name, f"m-{a.name}", a) for a in adapters]
    return FailoverPolicy(Router(routes, {"smart": RouteSet("smart", tuple(routes))}), clock=clock, state=_AlwaysAsks(),
                          config=PolicyConfig(retry=retry), observer=observer)


def down() -> ProviderUnavailable:
    return ProviderUnavailable("503", status=503)


async def test_a_route_admitted_by_the_awaited_round_trip_is_tried_once_as_attempt_one(clock: FakeClock) -> None:
    p, b = FakeLLM(down(), name="p"), FakeLLM(default="backup", name="b")
    observer = RecordingObserver()
    policy = _policy(clock, p, b, retry=RetryPolicy(1, 0, 0), observer=observer)
    assert (await policy.complete(ask())).text == "backup"
    assert [(e.route, e.attempt, e.outcome) for e in observer.attempts] == [("p/m-p", 1, "error"), ("b/m-b", 1, "ok")]
    assert (len(p.requests), policy.state.asked) == (1, ["p/m-p", "b/m-b"])  # type: ignore[attr-defined]


async def test_a_retry_admitted_by_the_awaited_round_trip_is_attempt_two(clock: FakeClock) -> None:
    p = FakeLLM(down(), "second try", name="p")
    observer = RecordingObserver()
    policy = _policy(clock, p, retry=RetryPolicy(2, 0, 0), observer=observer)
    assert (await policy.complete(ask())).text == "second try"
    assert [(e.attempt, e.outcome) for e in observer.attempts] == [(1, "error"), (2, "ok")]


async def test_a_route_failing_after_the_awaited_round_trip_is_not_tried_again(clock: FakeClock) -> None:
    p = FakeLLM(down(), name="p")
    policy = _policy(clock, p, retry=RetryPolicy(1, 0, 0), observer=RecordingObserver())
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert [(a.route, a.error) for a in info.value.attempts] == [("p/m-p", "ProviderUnavailable")]
    assert len(p.requests) == 1


class _Hangs(FakeLLM):
    """Never answers; records that it was cancelled."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.cancelled = False

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


async def test_a_losing_hedge_with_a_time_limit_is_lost_not_timed_out(clock: FakeClock) -> None:
    """Its cancellation is the policy's, not its time limit's: reported ``lost``, no ``Timeout``."""
    slow = _Hangs("p")
    observer = RecordingObserver()
    policy = make_policy(slow, FakeLLM(default="hedged", name="b"), clock=clock, observer=observer,
                         hedge=HedgeConfig(delay=0.0), attempt_timeout=60.0)
    assert (await policy.complete(ask())).text == "hedged"
    assert slow.cancelled
    assert sorted((e.route, e.outcome, e.error) for e in observer.attempts) == [
        ("b/m-b", "ok", None), ("p/m-p", "lost", None)]


async def test_a_caller_cancelling_an_attempt_with_a_time_limit_gets_the_cancellation(clock: FakeClock) -> None:
    slow = _Hangs("p")
    observer = RecordingObserver()
    policy = make_policy(slow, clock=clock, observer=observer, attempt_timeout=60.0)
    call = asyncio.ensure_future(policy.complete(ask()))
    for _ in range(5):  # the attempt starts and waits
        await asyncio.sleep(0)
    assert slow.requests
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert [(e.route, e.outcome) for e in observer.attempts] == [("p/m-p", "cancelled")]


async def test_skipped_routes_carry_the_requests_generated_id(clock: FakeClock) -> None:
    observer = RecordingObserver()
    policy = make_policy(FakeLLM(name="p"), FakeLLM(default="b", name="b"), clock=clock, observer=observer,
                         breaker=BreakerConfig(failure_threshold=1, cooldown=10))
    permit = policy.state.admit_now("p/m-p", clock.now)
    assert isinstance(permit, Permit)
    policy.state.record_failure(permit, clock.now)  # p is open: skipped
    assert (await policy.complete(ask())).text == "b"
    skipped, ok = observer.attempts
    assert (skipped.outcome, ok.outcome) == ("skipped", "ok")
    assert skipped.request_id == ok.request_id != ""


async def test_a_route_listed_twice_is_tried_once_after_the_awaited_round_trip(clock: FakeClock) -> None:
    p = FakeLLM(down(), name="p")
    route = Route("p", "m-p", p)
    policy = FailoverPolicy(Router([route], {"smart": RouteSet("smart", (route, route))}), clock=clock,
                            state=_AlwaysAsks(), config=PolicyConfig(retry=RetryPolicy(1, 0, 0)))
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert [(a.route, a.error) for a in info.value.attempts] == [("p/m-p", "ProviderUnavailable")]
    assert len(p.requests) == 1
