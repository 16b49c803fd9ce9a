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
