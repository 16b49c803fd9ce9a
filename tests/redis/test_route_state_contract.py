"""``RedisPolicyState`` against the ``PolicyState`` contract, as one replica and as two sharing a
real ``redis-server``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from llmport.adapters.redis import RedisConnection
from llmport.adapters.redis.route_state import RedisPolicyState
from llmport.ports import Permit, PolicyState, RetryBudget
from llmport.ports.state import ASK
from tests.state.contract import PolicyStateContract, SharedPolicyStateContract, StateFactory, StateSpec


class TestRedisPolicyState(PolicyStateContract, SharedPolicyStateContract):
    @pytest.fixture
    async def make_state(self, redis_url: str) -> AsyncIterator[StateFactory]:
        made: list[RedisPolicyState] = []

        async def make(spec: StateSpec) -> PolicyState:
            # A generous timeout: a busy CI machine must not look like a Redis outage here.
            connection = RedisConnection(redis_url, namespace="contract", timeout=1.0)
            budget = RetryBudget(spec.budget_ratio, min_retries=spec.budget_min_retries, window=spec.budget_window)
            state = RedisPolicyState(connection, spec.breaker, budget, max_routes=spec.max_routes,
                                     owns_connection=True)
            await state.start()
            made.append(state)
            return state

        yield make
        for state in made:
            await state.aclose()

    async def test_only_the_shared_half_open_probe_needs_the_round_trip(self, make_state: StateFactory) -> None:
        state = await make_state(StateSpec())
        now = time.monotonic()
        for _ in range(3):
            permit = state.admit_now("p/m", now)
            assert isinstance(permit, Permit)
            state.record_failure(permit, now)
        assert state.admit_now("p/m", now + 1) is None  # open: the local mirror answers
        assert state.admit_now("p/m", now + 10) is ASK  # the probe is taken in Redis, by ``admit``
        probe = await state.admit("p/m", now + 10)
        assert probe is not None and probe.probe
