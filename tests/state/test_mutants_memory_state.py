"""``MemoryPolicyState`` edges a mutation run found untested: the smallest bound, a cooldown ending
exactly now, the eviction scan's limit, and routes that arrive through a report before any admission."""

from __future__ import annotations

from llmport.ports import MemoryPolicyState


async def _opened(state: MemoryPolicyState, route: str, now: float) -> None:
    for _ in range(state.config.failure_threshold):
        permit = await state.admit(route, now)
        assert permit is not None
        state.record_failure(permit, now)


async def test_a_bound_of_one_route_keeps_the_latest() -> None:
    state = MemoryPolicyState(max_routes=1)
    for name in ("p/a", "p/b"):
        permit = await state.admit(name, 0.0)
        assert permit is not None
        state.record_success(permit, 0.0)
    assert set(state.breakers()) == {"p/b"}


async def test_a_cooldown_ending_exactly_now_is_idle() -> None:
    state = MemoryPolicyState(max_routes=2)
    await _opened(state, "p/open", 0.0)
    state.note_retry_after("p/cooled", 0.0, 1.0)
    await state.admit("p/newcomer", 1.0)  # the cooldown ends at 1.0: "p/cooled" may be forgotten
    assert set(state.breakers()) == {"p/open", "p/newcomer"}


async def test_eviction_looks_at_the_64_oldest_routes_for_an_idle_one() -> None:
    # An idle route 64th from the oldest is found and forgotten ...
    state = MemoryPolicyState(max_routes=64)
    for i in range(63):
        await _opened(state, f"p/open-{i}", 0.0)
    await state.admit("p/idle", 0.0)
    await state.admit("p/newcomer", 0.0)
    assert "p/idle" not in state.breakers() and "p/open-0" in state.breakers()
    # ... one further back is not looked at: the oldest goes instead, so a new route costs bounded work.
    state = MemoryPolicyState(max_routes=65)
    for i in range(64):
        await _opened(state, f"p/open-{i}", 0.0)
    await state.admit("p/idle", 0.0)
    await state.admit("p/newcomer", 0.0)
    assert "p/idle" in state.breakers() and "p/open-0" not in state.breakers()


async def test_routes_reported_before_any_admission_keep_the_bound_and_running_cooldowns() -> None:
    state = MemoryPolicyState(max_routes=2)
    state.note_retry_after("p/cooling", 0.0, 0.5)  # the oldest, but its Retry-After still runs
    state.observe_latency("p/idle", 0.0, 0.1, None)
    state.observe_latency("p/newcomer", 0.0, 0.1, None)
    assert set(state.breakers()) == {"p/cooling", "p/newcomer"}
    assert state.retry_in("p/cooling", 0.0) == 0.5
