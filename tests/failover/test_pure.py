"""Breaker, backoff, retry budget and routing, with a fake clock: no I/O."""

from __future__ import annotations

import random

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import InvalidRequest
from llmport.ports import (
    BreakerConfig,
    BreakerTransition,
    CircuitBreaker,
    RetryBudget,
    RetryPolicy,
    Route,
    Router,
    RouteSet,
)


def test_breaker_opens_after_consecutive_failures_and_fails_fast_until_cooldown() -> None:
    seen: list[BreakerTransition] = []
    b = CircuitBreaker("p/m", BreakerConfig(failure_threshold=3, cooldown=10.0), seen.append)
    for t in range(2):
        assert b.allow(t)
        b.failure(t)
    assert b.state == "closed"
    b.failure(2.0)
    assert b.state == "open"
    assert not b.allow(5.0)
    assert b.retry_in(5.0) == pytest.approx(7.0)
    assert [(x.old, x.new) for x in seen] == [("closed", "open")]
    assert "3 consecutive" in seen[0].reason


def test_breaker_half_open_lets_one_probe_and_success_closes() -> None:
    seen: list[BreakerTransition] = []
    b = CircuitBreaker("p/m", BreakerConfig(failure_threshold=1, cooldown=5.0), seen.append)
    b.failure(0.0)
    assert b.allow(5.0)  # the probe
    assert b.state == "half_open"
    assert not b.allow(5.1)  # only one probe at a time
    b.success(5.2)
    assert b.state == "closed"
    assert b.allow(5.3)
    assert b.allow(5.3)
    assert [x.new for x in seen] == ["open", "half_open", "closed"]


def test_breaker_failed_probe_reopens_and_released_probe_frees_the_slot() -> None:
    b = CircuitBreaker("p/m", BreakerConfig(failure_threshold=1, cooldown=5.0))
    b.failure(0.0)
    assert b.allow(6.0)
    b.release()
    assert b.allow(6.1)  # released: another probe may go
    b.failure(6.2)
    assert b.state == "open"
    assert not b.allow(10.0)
    assert b.allow(11.3)


def test_breaker_opens_on_failure_rate_over_window_even_without_a_streak() -> None:
    b = CircuitBreaker("p/m", BreakerConfig(failure_threshold=100, failure_rate=0.5, window=10.0, min_calls=10))
    for i in range(9):  # alternate: never two failures in a row
        t = i * 0.1
        if i % 2:
            b.failure(t)
        else:
            b.success(t)
    assert b.state == "closed"  # 9 calls < min_calls
    b.failure(1.0)  # 10 calls, 5 failures
    assert b.state == "open"


def test_breaker_window_forgets_old_failures() -> None:
    b = CircuitBreaker("p/m", BreakerConfig(failure_threshold=100, failure_rate=0.5, window=10.0, min_calls=4))
    b.failure(0.0)
    b.success(0.1)
    b.failure(0.2)
    # 30 s later the window holds only fresh calls
    b.success(30.0)
    b.success(30.1)
    b.failure(30.2)
    assert b.state == "closed"
    assert b.snapshot(30.3)["window_calls"] == 3


def test_backoff_full_jitter_stays_within_exponential_cap() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay=0.1, max_delay=0.5)
    rng = random.Random(7)
    for retry, cap in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (9, 0.5)):
        delays = [policy.delay(retry, None, rng) for _ in range(300)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # full jitter spreads over the whole range
        assert min(delays) < cap * 0.2


def test_backoff_honours_retry_after_when_longer() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=0.2)
    assert policy.delay(1, 2.5, random.Random(1)) == 2.5


def test_presets_and_invalid_settings() -> None:
    a, b, c = (RetryPolicy.preset(n) for n in ("aggressive", "balanced", "conservative"))
    assert a.max_attempts > b.max_attempts > c.max_attempts
    assert a.base_delay < b.base_delay < c.base_delay
    with pytest.raises(InvalidRequest, match="presets: aggressive"):
        RetryPolicy.preset("yolo")
    with pytest.raises(InvalidRequest):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidRequest):
        BreakerConfig(failure_rate=1.5)


def test_retry_budget_caps_extra_attempts_under_sustained_failure() -> None:
    budget = RetryBudget(0.2, min_retries=5, window=10.0)
    requests = extra = 0
    t = 0.0
    for _ in range(2000):  # 100 requests a second, each wanting 2 retries
        t += 0.01
        budget.deposit(t)
        requests += 1
        for _ in range(2):
            if budget.try_withdraw(t):
                extra += 1
    assert extra <= 0.2 * requests + 5 * (t / 10.0 + 1)
    assert extra >= 0.15 * requests  # and it does allow retries


def test_retry_budget_reserve_allows_retries_at_low_traffic() -> None:
    budget = RetryBudget(0.2, min_retries=3, window=10.0)
    budget.deposit(0.0)
    assert [budget.try_withdraw(0.0) for _ in range(4)] == [True, True, True, False]
    assert budget.try_withdraw(20.0)  # the window moved on


def _routes() -> tuple[list[Route], Router]:
    a, b = FakeLLM(name="openai"), FakeLLM(name="anthropic")
    routes = [Route("openai", "gpt-x", a), Route("anthropic", "claude-y", b), Route("anthropic", "gpt-x", b)]
    return routes, Router(routes, {"smart": RouteSet("smart", (routes[1], routes[0]))})


def test_router_resolves_alias_provider_model_and_bare_model() -> None:
    routes, router = _routes()
    assert [r.name for r in router.resolve("smart").routes] == ["anthropic/claude-y", "openai/gpt-x"]
    assert [r.name for r in router.resolve("gpt-x").routes] == ["openai/gpt-x", "anthropic/gpt-x"]
    assert router.resolve("openai/gpt-x").routes == (routes[0],)
    # a configured provider may be asked for a model no route lists
    adhoc = router.resolve("openai:gpt-new").routes
    assert [r.name for r in adhoc] == ["openai/gpt-new"]
    assert adhoc[0].adapter is routes[0].adapter
    assert router.resolve("openai:gpt-new").routes[0] is adhoc[0]  # same route (same breaker) each time


def test_router_unknown_names_list_what_is_configured() -> None:
    _, router = _routes()
    with pytest.raises(InvalidRequest) as info:
        router.resolve("mistral/large")
    text = str(info.value)
    assert "smart" in text
    assert "anthropic" in text
    assert "openai" in text
    assert "claude-y" in text
    assert info.value.field == "model"
