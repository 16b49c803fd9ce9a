"""``MemoryPolicyState`` against the ``PolicyState`` contract, plus what only it promises."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmport.domain import InvalidRequest
from llmport.ports import BreakerConfig, MemoryPolicyState, Permit, PolicyState, RetryBudget

from .contract import PolicyStateContract, StateFactory, StateSpec


class TestMemoryPolicyState(PolicyStateContract):
    @pytest.fixture
    def make_state(self) -> StateFactory:
        async def make(spec: StateSpec) -> PolicyState:
            budget = RetryBudget(spec.budget_ratio, min_retries=spec.budget_min_retries, window=spec.budget_window)
            return MemoryPolicyState(spec.breaker, budget, max_routes=spec.max_routes)

        return make


async def test_50000_model_names_keep_at_most_max_routes_breakers() -> None:
    state = MemoryPolicyState()  # the default bound: 1,024 routes
    for i in range(50_000):
        route = f"openai/model-{i}"
        permit = await state.admit(route, float(i))
        assert permit is not None
        state.record_success(permit, float(i))
    assert len(state.breakers()) == 1024
    assert len(state.stats()) == 1024


def test_max_routes_must_be_positive() -> None:
    with pytest.raises(InvalidRequest, match="max_routes"):
        MemoryPolicyState(max_routes=0)


async def _opened(state: MemoryPolicyState, route: str, now: float) -> None:
    for _ in range(state.config.failure_threshold):
        permit = await state.admit(route, now)
        assert permit is not None
        state.record_failure(permit, now)


async def test_eviction_forgets_the_oldest_idle_route_first() -> None:
    state = MemoryPolicyState(max_routes=3)
    await _opened(state, "p/open", 0.0)  # the oldest, but a decision depends on it
    await state.admit("p/idle-old", 0.0)
    await state.admit("p/idle-new", 0.0)
    await state.admit("p/newcomer", 1.0)
    assert set(state.breakers()) == {"p/open", "p/idle-new", "p/newcomer"}


async def test_a_long_expired_cooldown_is_idle_again() -> None:
    state = MemoryPolicyState(max_routes=2)
    await _opened(state, "p/open", 0.0)
    state.note_retry_after("p/cooled", 0.0, 1.0)
    await state.admit("p/newcomer", 100.0)  # long after the cooldown: "p/cooled" is the idle one
    assert set(state.breakers()) == {"p/open", "p/newcomer"}
    assert state.breaker_state("p/open", 100.0) == "open"


async def test_with_nothing_idle_the_oldest_goes_and_the_bound_holds() -> None:
    state = MemoryPolicyState(max_routes=2)
    for name in ("p/a", "p/b", "p/c"):
        await _opened(state, name, 0.0)
    assert set(state.breakers()) == {"p/b", "p/c"}


async def test_a_zero_retry_after_changes_nothing() -> None:
    state = MemoryPolicyState()
    state.note_retry_after("p/m", 0.0, 0.0)
    assert "p/m" not in state.breakers()


_ROUTES = ("p/a", "p/b", "p/c", "p/d")
_OPS = st.lists(st.tuples(st.sampled_from(("admit", "success", "failure", "release", "lockout", "retry_after",
                                           "wait")),
                          st.integers(0, len(_ROUTES) - 1), st.floats(0.0, 12.0)), max_size=60)


@settings(max_examples=150, deadline=None)
@given(_OPS)
def test_any_sequence_keeps_one_probe_per_route_and_only_probes_close(ops: list[tuple[str, int, float]]) -> None:
    asyncio.run(_run_ops(ops))


async def _run_ops(ops: list[tuple[str, int, float]]) -> None:
    state = MemoryPolicyState(BreakerConfig(failure_threshold=2, cooldown=5.0), max_routes=3)
    now = 0.0
    out: list[Permit] = []  # permits not reported yet
    for op, i, x in ops:
        route = _ROUTES[i]
        if op == "wait":
            now += x
        elif op == "admit":
            permit = await state.admit(route, now)
            if permit is not None:
                out.append(permit)
        elif op == "retry_after":
            state.note_retry_after(route, now, x)
        elif out:
            permit = out.pop(int(x) % len(out))
            before = state.breaker_state(permit.route, now)
            if op == "success":
                state.record_success(permit, now)
                if not permit.probe and before != "closed":
                    assert state.breaker_state(permit.route, now) == before  # a straggler never closes
            elif op == "failure":
                state.record_failure(permit, now)
            elif op == "lockout":
                state.record_lockout(permit, now, 30.0, "AuthenticationFailed")
                assert state.breaker_state(permit.route, now) == "open"
            else:
                state.release(permit)
        for name in _ROUTES:
            assert sum(1 for p in out if p.route == name and p.probe) <= 1
        assert len(state.breakers()) <= 3
