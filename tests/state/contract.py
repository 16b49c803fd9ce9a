"""The ``PolicyState`` contract, as reusable test classes.

Every implementation runs ``PolicyStateContract``; one shared between replicas also runs
``SharedPolicyStateContract`` (two states from one factory are two replicas). Subclass and supply
the ``make_state`` fixture: an async function ``(StateSpec) -> PolicyState``; the fixture closes
what it made at teardown::

    class TestRedisState(PolicyStateContract, SharedPolicyStateContract):
        @pytest.fixture
        async def make_state(self, redis_url: str) -> AsyncIterator[StateFactory]:
            made = []
            async def make(spec: StateSpec) -> PolicyState:
                made.append(state := RedisPolicyState(redis_url, namespace=..., breaker=spec.breaker, ...))
                return state
            yield make
            for s in made:
                await s.aclose()

Time: tests pass ``now`` explicitly, starting at ``time.monotonic()`` and jumping ahead (a cooldown
"elapses" by passing a later ``now``). An implementation decides from the ``now`` it is given; real
time may only expire remote keys (garbage collection, a dead probe's token).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import AllProvidersFailed, CompletionRequest, Message, ProviderUnavailable
from llmport.ports import (
    BreakerConfig,
    BreakerTransition,
    FailoverPolicy,
    Permit,
    PolicyConfig,
    PolicyState,
    RecordingObserver,
    RetryPolicy,
    Route,
)
from llmport.ports.state import ASK


@dataclass(frozen=True, slots=True)
class StateSpec:
    """What a state is configured with: breaker thresholds, retry budget, and its route bound."""

    breaker: BreakerConfig = field(default_factory=lambda: BreakerConfig(failure_threshold=3, cooldown=10.0))
    budget_ratio: float = 0.2
    budget_min_retries: int = 2
    budget_window: float = 10.0
    max_routes: int = 64


StateFactory = Callable[[StateSpec], Awaitable[PolicyState]]

R = "p/model-a"


def _t0() -> float:
    return time.monotonic()


async def _open(state: PolicyState, now: float, route: str = R, failures: int = 3) -> None:
    for _ in range(failures):
        permit = await state.admit(route, now)
        assert permit is not None
        state.record_failure(permit, now)


class PolicyStateContract:
    """What ``FailoverPolicy`` relies on from any ``PolicyState`` (one process's view)."""

    @pytest.fixture
    async def state(self, make_state: StateFactory) -> PolicyState:
        return await make_state(StateSpec())

    async def test_an_unknown_route_may_be_tried(self, state: PolicyState) -> None:
        now = _t0()
        assert state.retry_in(R, now) == 0.0
        assert state.breaker_state(R, now) == "closed"
        permit = await state.admit(R, now)
        assert permit is not None and permit.route == R and not permit.probe
        assert state.retry_in(R, now) == 0.0
        assert state.breaker_state(R, now) == "closed"

    async def test_consecutive_failures_open_the_breaker_until_the_cooldown(self, state: PolicyState) -> None:
        seen: list[BreakerTransition] = []
        state.listen(seen.append)
        now = _t0()
        await _open(state, now, failures=2)
        assert state.breaker_state(R, now) == "closed"
        await _open(state, now, failures=1)
        assert state.breaker_state(R, now) == "open"
        assert await state.admit(R, now + 1) is None
        assert state.retry_in(R, now + 1) == pytest.approx(9.0)
        assert [(t.route, t.old, t.new) for t in seen] == [(R, "closed", "open")]
        assert "other/route" not in [t.route for t in seen]
        assert await state.admit("other/route", now) is not None  # breakers are per route

    async def test_after_the_cooldown_exactly_one_probe_goes_out(self, state: PolicyState) -> None:
        now = _t0()
        await _open(state, now)
        later = now + 10.0
        probe = await state.admit(R, later)
        assert probe is not None and probe.probe
        assert state.breaker_state(R, later) == "half_open"
        assert await state.admit(R, later) is None
        assert await state.admit(R, later + 1) is None

    async def test_admit_now_answers_closed_and_open_routes_without_awaiting(self, state: PolicyState) -> None:
        now = _t0()
        permit = state.admit_now(R, now)
        assert isinstance(permit, Permit) and permit.route == R and not permit.probe
        await _open(state, now)
        assert state.admit_now(R, now + 1) is None  # open: refused from the local view
        state.note_retry_after("other/route", now, 5.0)
        assert state.admit_now("other/route", now + 1) is None  # cooling down
        assert isinstance(state.admit_now("other/route", now + 6), Permit)
        # after the cooldown: the probe is granted here, or ``admit`` must decide (a shared probe)
        answer = state.admit_now(R, now + 10)
        probe = await state.admit(R, now + 10) if answer is ASK else answer
        assert isinstance(probe, Permit) and probe.probe
        assert state.admit_now(R, now + 10) is None  # the probe is out

    async def test_refusal_is_the_breaker_state_and_the_wait_in_one_read(self, state: PolicyState) -> None:
        now = _t0()
        assert state.refusal(R, now) == ("closed", 0.0)  # unknown route
        await _open(state, now)
        assert state.refusal(R, now + 1) == ("open", pytest.approx(9.0))
        state.note_retry_after("other/route", now, 5.0)
        assert state.refusal("other/route", now + 1) == ("closed", pytest.approx(4.0))
        state.note_retry_after(R, now, 30.0)  # the longer of the breaker's cooldown and the Retry-After
        assert state.refusal(R, now + 1) == ("open", pytest.approx(29.0))
        for at in (now, now + 2, now + 12, now + 40):
            for route in (R, "other/route"):
                assert state.refusal(route, at) == (state.breaker_state(route, at), state.retry_in(route, at))

    async def test_a_probe_success_closes_the_breaker(self, state: PolicyState) -> None:
        seen: list[BreakerTransition] = []
        state.listen(seen.append)
        now = _t0()
        await _open(state, now)
        probe = await state.admit(R, now + 10)
        assert probe is not None
        state.record_success(probe, now + 11)
        assert state.breaker_state(R, now + 11) == "closed"
        assert (await state.admit(R, now + 11)) is not None
        assert [t.new for t in seen] == ["open", "half_open", "closed"]

    async def test_a_failed_probe_reopens_for_another_cooldown(self, state: PolicyState) -> None:
        now = _t0()
        await _open(state, now)
        probe = await state.admit(R, now + 10)
        assert probe is not None
        state.record_failure(probe, now + 11)
        assert state.breaker_state(R, now + 11) == "open"
        assert await state.admit(R, now + 12) is None
        assert state.retry_in(R, now + 12) == pytest.approx(9.0)
        assert await state.admit(R, now + 21) is not None

    async def test_a_released_probe_frees_the_slot(self, state: PolicyState) -> None:
        now = _t0()
        await _open(state, now)
        probe = await state.admit(R, now + 10)
        assert probe is not None
        state.release(probe)
        second = await state.admit(R, now + 10)
        assert second is not None and second.probe

    async def test_a_stragglers_success_never_closes_an_open_breaker(self, state: PolicyState) -> None:
        now = _t0()
        straggler = await state.admit(R, now)
        assert straggler is not None
        await _open(state, now)
        state.record_success(straggler, now + 0.05)
        assert state.breaker_state(R, now + 0.05) == "open"
        assert await state.admit(R, now + 0.05) is None
        probe = await state.admit(R, now + 10)
        assert probe is not None
        state.record_success(Permit(R), now + 10.5)  # another straggler, during half-open
        assert state.breaker_state(R, now + 10.5) == "half_open"
        assert await state.admit(R, now + 10.5) is None  # the probe is still the only one

    async def test_a_stragglers_failure_in_half_open_keeps_the_probe_the_only_one(self, state: PolicyState) -> None:
        now = _t0()
        await _open(state, now)
        probe = await state.admit(R, now + 10)
        assert probe is not None
        state.record_failure(Permit(R), now + 10.5)
        assert state.breaker_state(R, now + 10.5) == "open"
        state.release(Permit(R))  # a straggler giving up frees nothing
        assert await state.admit(R, now + 21) is None  # the first probe has not reported yet
        state.record_success(probe, now + 22)
        assert await state.admit(R, now + 22) is not None

    async def test_reporting_twice_for_one_permit_is_a_no_op(self, state: PolicyState) -> None:
        now = _t0()
        await _open(state, now)
        probe = await state.admit(R, now + 10)
        assert probe is not None
        state.record_failure(probe, now + 10)
        state.record_success(probe, now + 11)  # the same probe again: must not close the reopened breaker
        assert state.breaker_state(R, now + 11) == "open"
        probe2 = await state.admit(R, now + 20)
        assert probe2 is not None and probe2.probe
        state.release(probe)  # the old probe again: must not free the new one
        state.record_success(probe, now + 20)  # nor close the breaker
        assert state.breaker_state(R, now + 20) == "half_open"
        assert await state.admit(R, now + 20) is None

    async def test_a_lockout_opens_at_once_for_its_own_cooldown_and_reports_once(self, state: PolicyState) -> None:
        seen: list[BreakerTransition] = []
        state.listen(seen.append)
        now = _t0()
        permit = await state.admit(R, now)
        assert permit is not None
        other = await state.admit(R, now)
        assert other is not None
        state.record_lockout(permit, now, 300.0, "AuthenticationFailed")
        state.record_lockout(other, now, 300.0, "AuthenticationFailed")  # a concurrent call: no second report
        assert state.breaker_state(R, now + 1) == "open"
        assert state.retry_in(R, now + 100) == pytest.approx(200.0)
        assert await state.admit(R, now + 100) is None
        assert [(t.new, t.error) for t in seen] == [("open", "AuthenticationFailed")]
        probe = await state.admit(R, now + 300)
        assert probe is not None and probe.probe
        state.record_lockout(probe, now + 301, 300.0, "AuthenticationFailed")  # still rejected
        assert await state.admit(R, now + 400) is None
        assert [(t.new, t.error) for t in seen][-1] == ("open", "AuthenticationFailed")

    async def test_a_retry_after_cools_the_route_without_opening_it(self, state: PolicyState) -> None:
        now = _t0()
        state.note_retry_after(R, now, 2.0)
        assert await state.admit(R, now + 1) is None
        assert state.retry_in(R, now + 1) == pytest.approx(1.0)
        assert state.breaker_state(R, now + 1) == "closed"
        state.note_retry_after(R, now + 1, 0.5)  # shorter: does not shorten
        assert state.retry_in(R, now + 1.6) == pytest.approx(0.4)
        state.note_retry_after("q/short", now, 0.5)
        assert await state.admit("q/short", now + 0.25) is None  # even a short Retry-After is honoured
        state.note_retry_after(R, now + 1, 5.0)  # longer: extends
        assert state.retry_in(R, now + 2) == pytest.approx(4.0)
        assert await state.admit(R, now + 6) is not None
        assert state.retry_in(R, now + 6) == 0.0

    async def test_the_retry_budget_is_a_share_of_recent_requests(self, make_state: StateFactory) -> None:
        state = await make_state(StateSpec(budget_ratio=0.5, budget_min_retries=1, budget_window=10.0))
        now = _t0()
        for _ in range(4):
            state.note_request(now)
        granted = [state.reserve_retry(now) for _ in range(5)]
        assert granted == [True, True, True, False, False]  # 1 + 0.5 * 4
        assert state.reserve_retry(now + 30)  # the window moved on: the reserve again

    async def test_in_flight_counts_and_latency_feed_the_strategies(self, state: PolicyState) -> None:
        now = _t0()
        state.in_flight_up(R)
        state.in_flight_up(R)
        state.in_flight_down(R)
        assert state.stats()[R].in_flight == 1
        state.in_flight_down(R)
        state.in_flight_down(R)  # unmatched: never negative
        assert state.stats()[R].in_flight == 0
        state.observe_latency(R, now, 0.5, None)
        state.observe_latency(R, now, None, 0.2)
        stats = state.stats()[R]
        assert stats.total_ewma == pytest.approx(0.5)
        assert stats.latency == pytest.approx(0.2)  # time to first token when known

    async def test_a_raising_listener_changes_no_decision(self, state: PolicyState) -> None:
        def boom(_: BreakerTransition) -> None:
            raise RuntimeError("listener bug")

        seen: list[BreakerTransition] = []
        state.listen(boom)
        state.listen(seen.append)
        now = _t0()
        await _open(state, now)
        assert state.breaker_state(R, now) == "open"
        assert [t.new for t in seen] == ["open"]

    async def test_state_stays_bounded_whatever_route_names_arrive(self, make_state: StateFactory) -> None:
        spec = StateSpec(max_routes=64)
        state = await make_state(spec)
        now = _t0()
        await _open(state, now, "busy/kept-open")
        for i in range(5000):
            route = f"p/model-{i}"
            permit = await state.admit(route, now + i * 1e-4)
            assert permit is not None
            state.in_flight_up(route)
            state.in_flight_down(route)
            state.record_success(permit, now)
            state.observe_latency(route, now, 0.1, None)
        assert len(state.breakers()) <= spec.max_routes
        assert len(state.stats()) <= spec.max_routes
        assert state.breaker_state("busy/kept-open", now + 1) == "open"  # a decision is never forgotten first

    async def test_breakers_view_and_close_is_idempotent(self, state: PolicyState) -> None:
        now = _t0()
        await _open(state, now)
        view = state.breakers()[R]
        assert view.state == "open"
        assert view.snapshot(now)["state"] == "open"
        await state.aclose()
        await state.aclose()

    async def test_the_policy_runs_on_it(self, make_state: StateFactory) -> None:
        """End to end: the breaker opens through the policy and a later request fails fast."""
        state = await make_state(StateSpec(breaker=BreakerConfig(failure_threshold=2, cooldown=60.0)))
        down = FakeLLM(default=ProviderUnavailable("down", status=503), name="p")
        observer = RecordingObserver()
        policy = FailoverPolicy.of(Route("p", "m", down), config=PolicyConfig(retry=RetryPolicy(2, 0, 0)),
                                   state=state, observer=observer)
        request = CompletionRequest("p/m", [Message.user("hi")])
        with pytest.raises(AllProvidersFailed):
            await policy.complete(request)
        assert len(down.requests) == 2
        with pytest.raises(AllProvidersFailed) as info:
            await policy.complete(request)
        assert len(down.requests) == 2  # failed fast: no network
        assert info.value.retryable and info.value.retry_after is not None and info.value.retry_after > 0
        assert [t.new for t in observer.transitions] == ["open"]


class SharedPolicyStateContract:
    """What a state shared by replicas adds: two states from one factory are two replicas."""

    async def settle(self) -> None:
        """Wait for what one replica did to reach the others' local views."""
        await asyncio.sleep(0.15)

    async def test_a_breaker_opened_by_one_replica_is_honoured_by_the_other(self, make_state: StateFactory) -> None:
        a, b = await make_state(StateSpec()), await make_state(StateSpec())
        now = _t0()
        await _open(a, now)
        await self.settle()
        assert b.breaker_state(R, _t0()) == "open"
        assert await b.admit(R, _t0()) is None

    async def test_exactly_one_probe_across_replicas(self, make_state: StateFactory) -> None:
        a, b = await make_state(StateSpec()), await make_state(StateSpec())
        now = _t0()
        await _open(a, now)
        await self.settle()
        later = now + 10.0
        permits = await asyncio.gather(a.admit(R, later), b.admit(R, later), a.admit(R, later), b.admit(R, later))
        assert sum(p is not None for p in permits) == 1

    async def test_one_probe_success_closes_the_breaker_for_all(self, make_state: StateFactory) -> None:
        a, b = await make_state(StateSpec()), await make_state(StateSpec())
        now = _t0()
        await _open(a, now)
        await self.settle()
        probe = await b.admit(R, now + 10)
        assert probe is not None and probe.probe
        b.record_success(probe, now + 10)
        await self.settle()
        assert a.breaker_state(R, now + 10) == "closed"
        assert await a.admit(R, now + 10) is not None

    async def test_a_retry_after_cools_the_route_on_every_replica(self, make_state: StateFactory) -> None:
        a, b = await make_state(StateSpec()), await make_state(StateSpec())
        now = _t0()
        a.note_retry_after(R, now, 30.0)
        await self.settle()
        assert await b.admit(R, _t0()) is None
        assert b.retry_in(R, _t0()) > 20.0
