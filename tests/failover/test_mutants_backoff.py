"""Retry policy and retry budget edges a mutation run found untested: input checks at their
boundaries, documented defaults and presets, the exact backoff cap, the caller's seeded randomness,
and the budget's exact accounting against a reference model."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmport.domain import InvalidRequest
from llmport.ports import RetryBudget, RetryPolicy


class _Recording(random.Random):
    """A seeded generator that remembers each ``uniform`` range and answers its upper end."""

    def __init__(self) -> None:
        super().__init__(0)
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b


def test_retry_defaults_and_presets_are_the_documented_ones() -> None:
    assert RetryPolicy() == RetryPolicy(max_attempts=3, base_delay=0.2, max_delay=4.0, max_retry_after=30.0)
    assert RetryPolicy.preset("balanced") == RetryPolicy()
    assert RetryPolicy.preset("aggressive") == RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=1.0,
                                                           max_retry_after=10.0)
    assert RetryPolicy.preset("conservative") == RetryPolicy(max_attempts=2, base_delay=0.5, max_delay=8.0,
                                                             max_retry_after=60.0)


def test_an_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(InvalidRequest, match="unknown retry preset 'fast'; presets: aggressive, balanced, "
                                             "conservative") as caught:
        RetryPolicy.preset("fast")
    assert caught.value.field == "retry"


@pytest.mark.parametrize("policy", [
    {"max_attempts": 1}, {"base_delay": 0.0, "max_delay": 0.0}, {"base_delay": 2.0, "max_delay": 2.0},
    {"max_retry_after": 0.0},
])
def test_boundary_retry_settings_are_accepted(policy: dict[str, float]) -> None:
    RetryPolicy(**policy)  # type: ignore[arg-type]


@pytest.mark.parametrize(("policy", "match"), [
    ({"max_attempts": 0}, "max_attempts must be at least 1"),
    ({"base_delay": -0.01}, "delays must satisfy"),
    ({"base_delay": 2.0, "max_delay": 1.99}, "delays must satisfy"),
    ({"max_retry_after": -0.01}, "delays must satisfy"),
])
def test_out_of_range_retry_settings_are_rejected(policy: dict[str, float], match: str) -> None:
    with pytest.raises(InvalidRequest, match=match) as caught:
        RetryPolicy(**policy)  # type: ignore[arg-type]
    assert caught.value.field == "retry"


def test_the_backoff_cap_doubles_from_the_base_up_to_the_maximum() -> None:
    rng = _Recording()
    policy = RetryPolicy(max_attempts=9, base_delay=0.25, max_delay=1.5)
    assert [policy.delay(n, rng=rng) for n in range(1, 6)] == [0.25, 0.5, 1.0, 1.5, 1.5]
    assert rng.ranges == [(0.0, 0.25), (0.0, 0.5), (0.0, 1.0), (0.0, 1.5), (0.0, 1.5)]


def test_the_delay_draws_from_the_callers_seeded_generator() -> None:
    policy = RetryPolicy()
    seeded = [policy.delay(2, rng=random.Random(42)) for _ in range(3)]
    assert seeded == [random.Random(42).uniform(0.0, 0.4)] * 3


def test_without_a_generator_the_delay_draws_from_the_random_module(monkeypatch: pytest.MonkeyPatch) -> None:
    ranges: list[tuple[float, float]] = []

    def uniform(a: float, b: float) -> float:
        ranges.append((a, b))
        return a

    monkeypatch.setattr(random, "uniform", uniform)
    assert RetryPolicy().delay(1) == 0.0
    assert ranges == [(0.0, 0.2)]


def test_retry_after_wins_only_when_longer_than_the_jittered_delay() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=1.0)
    assert policy.delay(1, retry_after=1.5, rng=_Recording()) == 1.5
    assert policy.delay(1, retry_after=0.5, rng=_Recording()) == 1.0  # the jitter (its upper end) is longer
    assert policy.delay(1, retry_after=0.0, rng=_Recording()) == 1.0


def test_budget_defaults_are_the_documented_ones() -> None:
    budget = RetryBudget()
    assert (budget.ratio, budget.min_retries, budget.window) == (0.2, 10, 10.0)
    # ten buckets of one second: what was spent at 0.95 s is forgotten at exactly 10 s
    for _ in range(10):
        assert budget.try_withdraw(0.95)
    assert not budget.try_withdraw(9.99)
    assert budget.try_withdraw(10.0)


@pytest.mark.parametrize("budget", [
    {"ratio": 0.0}, {"min_retries": 0}, {"buckets": 1}, {"window": 1e-9},
])
def test_boundary_budget_settings_are_accepted(budget: dict[str, float]) -> None:
    RetryBudget(**budget)  # type: ignore[arg-type]


@pytest.mark.parametrize("budget", [
    {"ratio": -0.01}, {"min_retries": -1}, {"window": 0.0}, {"window": -1.0}, {"buckets": 0},
])
def test_out_of_range_budget_settings_are_rejected(budget: dict[str, float]) -> None:
    with pytest.raises(InvalidRequest, match="retry budget") as caught:
        RetryBudget(**budget)  # type: ignore[arg-type]
    assert caught.value.field == "retry_budget"


def test_the_ratio_allows_exactly_its_share_of_requests() -> None:
    budget = RetryBudget(0.5, min_retries=0)
    for _ in range(4):
        budget.deposit(1.0)
    assert [budget.try_withdraw(1.0) for _ in range(3)] == [True, True, False]


def test_a_zero_ratio_leaves_only_the_reserve() -> None:
    budget = RetryBudget(0.0, min_retries=2)
    for _ in range(100):
        budget.deposit(1.0)
    assert [budget.try_withdraw(1.0) for _ in range(3)] == [True, True, False]


def test_ratio_and_reserve_add_up() -> None:
    budget = RetryBudget(0.25, min_retries=1)
    for _ in range(8):
        budget.deposit(1.0)
    assert [budget.try_withdraw(1.0) for _ in range(4)] == [True, True, True, False]


def test_a_bucket_older_than_the_window_is_not_counted_even_while_its_slot_is_unused() -> None:
    budget = RetryBudget(1.0, min_retries=0, window=2.0, buckets=2)
    budget.deposit(0.5)  # bucket 0, in the slot bucket 2 would reuse
    assert not budget.try_withdraw(3.5)  # bucket 3: the window holds buckets 2 and 3, nothing deposited there


_EVENTS = st.lists(st.tuples(st.floats(0.0, 2.0), st.booleans()), max_size=60)


@settings(max_examples=60, deadline=None)
@given(events=_EVENTS, ratio=st.sampled_from([0.0, 0.1, 0.5, 1.0]), reserve=st.integers(0, 3),
       window=st.sampled_from([1.0, 5.0]), buckets=st.integers(1, 5))
def test_the_budget_matches_a_reference_model(events: list[tuple[float, bool]], ratio: float, reserve: int,
                                              window: float, buckets: int) -> None:
    """Over the last ``buckets`` buckets, retries + 1 may not exceed reserve + ratio * requests."""
    budget = RetryBudget(ratio, min_retries=reserve, window=window, buckets=buckets)
    width = window / buckets
    requests: list[int] = []
    retries: list[int] = []
    now = 0.0
    for step, is_request in events:
        now += step
        current = int(now // width)
        if is_request:
            budget.deposit(now)
            requests.append(current)
            continue
        live_requests = sum(b > current - buckets for b in requests)
        live_retries = sum(b > current - buckets for b in retries)
        allowed = live_retries + 1 <= reserve + ratio * live_requests
        assert budget.try_withdraw(now) is allowed
        if allowed:
            retries.append(current)
