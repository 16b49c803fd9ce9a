"""Route statistics, routing and hedging settings, pinned to exact values: the EWMA arithmetic,
the sample ring and percentile index, the router's bounded cache and its messages, hedge bounds."""

from __future__ import annotations

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import InvalidRequest
from llmport.ports import HedgeConfig, Route, Router, RouteSet, RouteStats


def test_ewmas_start_at_the_first_value_then_weigh_new_ones_by_alpha() -> None:
    s = RouteStats()
    assert s.alpha == 0.3
    assert (s.in_flight, s.ttft_ewma, s.total_ewma, s.last_measured, s.latency) == (0, None, None, None, None)
    s.observe(10.0, 2.0, 0.5)
    assert (s.ttft_ewma, s.total_ewma, s.last_measured) == (0.5, 2.0, 10.0)
    s.observe(11.0, 4.0, 2.0)
    assert s.ttft_ewma == pytest.approx(0.3 * 2.0 + 0.7 * 0.5)
    assert s.total_ewma == pytest.approx(0.3 * 4.0 + 0.7 * 2.0)
    assert s.latency == s.ttft_ewma
    assert s.last_measured == 11.0


def test_latency_falls_back_to_total_time_and_each_ewma_moves_alone() -> None:
    s = RouteStats(alpha=0.5)
    s.observe(1.0, 3.0, None)
    assert (s.ttft_ewma, s.total_ewma, s.latency) == (None, 3.0, 3.0)
    s.observe(2.0, None, 1.0)
    assert (s.ttft_ewma, s.total_ewma, s.latency) == (1.0, 3.0, 1.0)
    s.observe(3.0, None, None)  # nothing measured: only the time moves
    assert (s.ttft_ewma, s.total_ewma, s.last_measured) == (1.0, 3.0, 3.0)
    assert s.percentile(0.5, min_samples=1) == 3.0  # samples: total 3.0 (no ttft), then ttft 1.0 -> [1, 3]


def test_percentile_needs_enough_samples_and_indexes_exactly() -> None:
    s = RouteStats()
    for value in (5.0, 1.0, 4.0, 2.0):
        s.observe(0.0, None, value)
    assert s.percentile(0.5) is None  # four samples, five needed by default
    assert s.percentile(0.5, min_samples=4) == 4.0
    s.observe(0.0, None, 3.0)
    assert [s.percentile(q) for q in (0.0, 0.2, 0.5, 0.99, 1.0)] == [1.0, 2.0, 3.0, 5.0, 5.0]


def test_the_sample_ring_keeps_the_latest_64() -> None:
    s = RouteStats()
    assert RouteStats.SAMPLES == 64
    for i in range(1, 65):
        s.observe(0.0, None, float(i))
    assert s.percentile(0.0) == 1.0
    s.observe(0.0, None, 1000.0)  # replaces the oldest, 1.0
    assert s.percentile(0.0) == 2.0
    assert s.percentile(1.0) == 1000.0
    s.observe(0.0, None, 0.5)  # replaces 2.0
    assert [s.percentile(q) for q in (0.0, 1 / 64)] == [0.5, 3.0]
    for _ in range(62):
        s.observe(0.0, None, 7.0)  # the rest of the ring: 3.0 .. 64.0 are gone
    assert [s.percentile(q) for q in (0.0, 1 / 64, 2 / 64, 1.0)] == [0.5, 7.0, 7.0, 1000.0]
    s.observe(0.0, None, 8.0)  # wrapped: replaces 1000.0, the ring's first slot
    assert s.percentile(1.0) == 8.0


def _router() -> tuple[list[Route], Router]:
    a, b = FakeLLM(name="openai"), FakeLLM(name="anthropic")
    routes = [Route("openai", "gpt-x", a), Route("anthropic", "claude-y", b)]
    return routes, Router(routes, {"smart": RouteSet("smart", (routes[1],))})


def test_the_router_remembers_at_most_4096_resolutions() -> None:
    _, router = _router()
    first = router.resolve("openai/m0")
    assert router.resolve("openai/m0") is first
    for i in range(1, 4096):
        router.resolve(f"openai/m{i}")
    beyond = router.resolve("openai/beyond")
    assert router.resolve("openai/beyond") is not beyond  # the cache is full: resolved afresh
    assert router.resolve("openai/m4095") is router.resolve("openai/m4095")


def test_routes_resolved_on_demand_are_known_afterwards() -> None:
    routes, router = _router()
    assert [r.name for r in router.all_routes()] == ["openai/gpt-x", "anthropic/claude-y"]
    adhoc = router.resolve("anthropic/claude-new").routes[0]
    assert [r.name for r in router.all_routes()] == ["openai/gpt-x", "anthropic/claude-y", "anthropic/claude-new"]
    assert adhoc.adapter is routes[1].adapter
    assert router.resolve("smart").routes == (routes[1],)
    assert router.resolve("anthropic/claude-y").routes == (routes[1],)  # the configured route, not a copy


def test_adapters_without_routes_are_providers_too() -> None:
    extra = FakeLLM(name="groq")
    _, base = _router()
    router = Router(base.routes, base.aliases, {"groq": extra})
    assert router.resolve("groq/llama").routes[0].adapter is extra
    assert sorted(router.adapters) == ["anthropic", "groq", "openai"]


def test_an_unknown_model_names_everything_configured() -> None:
    _, router = _router()
    with pytest.raises(InvalidRequest) as caught:
        router.resolve("mistral-large")
    assert caught.value.message == ("unknown model 'mistral-large': configured aliases are [smart], providers "
                                    "[anthropic, openai] (use provider/model), models [claude-y, gpt-x]")
    assert caught.value.field == "model"


def test_hedge_defaults_and_bounds() -> None:
    assert HedgeConfig() == HedgeConfig(delay=None, percentile=0.95, fallback_delay=1.0, min_delay=0.01, max_hedges=1)
    for ok in ({"delay": 0.0}, {"percentile": 1e-9}, {"percentile": 0.999}, {"max_hedges": 1},
               {"fallback_delay": 0.0}):
        HedgeConfig(**ok)  # type: ignore[arg-type]
    for bad, match in (({"delay": -0.01}, "delay must not be negative"), ({"percentile": 0.0}, "percentile"),
                       ({"percentile": 1.0}, "percentile"), ({"max_hedges": 0}, "max_hedges"),
                       ({"fallback_delay": -0.01}, "percentile")):
        with pytest.raises(InvalidRequest, match=match) as caught:
            HedgeConfig(**bad)  # type: ignore[arg-type]
        assert caught.value.field == "hedge"


def test_hedge_delay_choice() -> None:
    assert HedgeConfig(delay=0.3).delay_for(5.0) == 0.3
    assert HedgeConfig(delay=0.0).delay_for(5.0) == 0.0
    config = HedgeConfig(fallback_delay=0.7, min_delay=0.05)
    assert config.delay_for(None) == 0.7
    assert config.delay_for(0.2) == 0.2
    assert config.delay_for(0.01) == 0.05
    assert HedgeConfig(fallback_delay=0.0, min_delay=0.05).delay_for(None) == 0.05
