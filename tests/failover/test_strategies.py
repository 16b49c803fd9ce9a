"""Each routing strategy, as a pure object."""

from __future__ import annotations

import random
from collections import Counter

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain.pricing import ModelPrice
from llmport.ports import Cheapest, LeastBusy, LowestLatency, Priority, Route, RouteStats, Weighted, strategy

from .conftest import ask

FAKE = FakeLLM()


def route(name: str, **kw: object) -> Route:
    return Route(name, "m", FAKE, **kw)  # type: ignore[arg-type]


A, B, C = route("a"), route("b"), route("c")


def names(routes: object) -> str:
    return "".join(r.provider for r in routes)  # type: ignore[attr-defined]


def test_priority_keeps_configured_order() -> None:
    assert names(Priority().order([B, A, C], ask(), {}, 0.0)) == "bac"


def test_weighted_is_smooth_and_proportional() -> None:
    wa, wb, wc = route("a", weight=5), route("b", weight=1), route("c", weight=1)
    s = Weighted()
    firsts = "".join(s.order([wa, wb, wc], ask(), {}, 0.0)[0].provider for _ in range(14))
    assert firsts == "aabacaa" * 2  # nginx's smooth sequence: never b and c back to back
    order = s.order([wa, wb, wc], ask(), {}, 0.0)
    assert sorted(names(order)) == ["a", "b", "c"]  # the rest remain as failover


def stats(**latency: float) -> dict[str, RouteStats]:
    out = {}
    for name, value in latency.items():
        s = RouteStats()
        s.observe(100.0, value * 2, value)
        out[f"{name}/m"] = s
    return out


def test_lowest_latency_ranks_by_ttft_and_measures_unknown_routes_first() -> None:
    s = LowestLatency(explore=0.0)
    assert names(s.order([A, B, C], ask(), stats(a=0.5, b=0.1, c=0.3), 100.0)) == "bca"
    assert names(s.order([A, B, C], ask(), stats(a=0.5, b=0.1), 100.0)) == "cba"  # c never measured


def test_lowest_latency_explores_and_re_measures_stale_routes() -> None:
    s = LowestLatency(explore=0.2, stale_after=1e9, rng=random.Random(3))
    firsts = Counter(s.order([A, B, C], ask(), stats(a=0.5, b=0.1, c=0.3), 100.0)[0].provider for _ in range(1000))
    assert firsts["b"] > 700
    assert firsts["a"] > 30
    assert firsts["c"] > 30
    # a route not measured for longer than stale_after is tried first again (e.g. after recovery)
    st = stats(b=0.1, c=0.3)
    slow = RouteStats()
    slow.observe(10.0, 9.0, 5.0)
    st["a/m"] = slow
    assert names(LowestLatency(explore=0.0, stale_after=60.0).order([A, B, C], ask(), st, 100.0))[0] == "a"


def test_cost_orders_by_estimated_cost_for_this_request() -> None:
    # a: cheap input, dear output; b: the opposite. Long prompt + short answer favours a.
    ra = route("a", price=ModelPrice(1.0, 30.0))
    rb = route("b", price=ModelPrice(10.0, 2.0))
    rc = route("c")  # unpriced: last
    s = Cheapest()
    assert names(s.order([rc, rb, ra], ask(text="x" * 40_000, max_tokens=10), {}, 0.0)) == "abc"
    assert names(s.order([rc, ra, rb], ask(text="hi", max_tokens=4000), {}, 0.0)) == "bac"


def test_least_busy_prefers_fewest_in_flight() -> None:
    st = {"a/m": RouteStats(), "b/m": RouteStats(), "c/m": RouteStats()}
    st["a/m"].in_flight, st["b/m"].in_flight, st["c/m"].in_flight = 3, 0, 1
    assert names(LeastBusy().order([A, B, C], ask(), st, 0.0)) == "bca"


def test_strategy_by_name() -> None:
    assert strategy("cost").name == "cost"
    assert isinstance(strategy("weighted"), Weighted)
