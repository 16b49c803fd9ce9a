"""``MemoryPolicyState`` against the ``PolicyState`` contract, plus what only it promises."""

from __future__ import annotations

import pytest

from llmport.domain import InvalidRequest
from llmport.ports import MemoryPolicyState, PolicyState, RetryBudget

from .contract import PolicyStateContract, StateFactory, StateSpec


class TestMemoryPolicyState(PolicyStateContract):
    @pytest.fixture
    def make_state(self) -> StateFactory:
        async def make(spec: StateSpec) -> PolicyState:
            budget = RetryBudget(spec.budget_ratio, min_retries=spec.budget_min_retries, window=spec.budget_window)
            return MemoryPolicyState(spec.breaker, budget, max_routes=spec.max_routes)

        return make


async def test_50000_model_names_keep_at_most_max_routes_breakers() -> None:
    state = MemoryPolicyState(max_routes=1024)
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
