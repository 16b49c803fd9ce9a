"""Routing strategies on route sets of one and two routes (the other tests use three), their
input checks and defaults, exact tie and staleness boundaries, and the caller's seeded randomness."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import InvalidRequest
from llmport.domain.pricing import ModelPrice
from llmport.ports import Cheapest, LeastBusy, LowestLatency, Priority, Route, RouteStats, Weighted, strategy
from llmport.ports.strategies import STRATEGIES, Strategy

from .conftest import ask

FAKE = FakeLLM()


def route(name: str, **kw: object) -> Route:
    return Route(name, "m", FAKE, **kw)  # type: ignore[arg-type]


A, B, C = route("a"), route("b"), route("c")


def names(routes: object) -> str:
    return "".join(r.provider for r in routes)  # type: ignore[attr-defined]


def measured(now: float = 100.0, **latency: float) -> dict[str, RouteStats]:
    out = {}
    for name, value in latency.items():
        s = RouteStats()
        s.observe(now, value * 2, value)
        out[f"{name}/m"] = s
    return out


class _Fixed(random.Random):
    """``random()`` answers the given values in turn (none given: must not be asked); ``choice``
    takes the first candidate."""

    def __init__(self, *values: float) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)

    def choice(self, seq: Sequence[Route]) -> Route:  # type: ignore[override]
        return seq[0]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_keeps_a_single_route(name: str) -> None:
    s = strategy(name)
    if isinstance(s, LowestLatency):
        s = LowestLatency(explore=1.0)  # exploring with nowhere else to go must not fail
    assert names(s.order([A], ask(), measured(a=0.5), 100.0)) == "a"
    assert names(s.order([A], ask(), {}, 100.0)) == "a"


def test_weighted_honours_weights_between_two_routes() -> None:
    light, heavy = route("a", weight=1), route("b", weight=3)
    s = Weighted()
    assert "".join(s.order([light, heavy], ask(), {}, 0.0)[0].provider for _ in range(8)) == "babb" * 2
    assert names(s.order([light, heavy], ask(), {}, 0.0)) in {"ab", "ba"}


def test_weighted_with_equal_weights_alternates_from_the_first() -> None:
    s = Weighted()
    assert [names(s.order([A, B], ask(), {}, 0.0)) for _ in range(4)] == ["ab", "ba", "ab", "ba"]


def test_weighted_with_no_routes_has_nothing_to_order() -> None:
    assert list(Weighted().order([], ask(), {}, 0.0)) == []


def test_lowest_latency_defaults_and_explore_bounds() -> None:
    s = LowestLatency()
    assert (s.explore, s.stale_after) == (0.05, 60.0)
    LowestLatency(explore=0.0)
    LowestLatency(explore=1.0)
    for bad in (-0.01, 1.01):
        with pytest.raises(InvalidRequest, match=r"explore must be in \[0, 1\]") as caught:
            LowestLatency(explore=bad)
        assert caught.value.field == "strategy"


def test_lowest_latency_ranks_two_routes() -> None:
    s = LowestLatency(explore=0.0)
    assert names(s.order([A, B], ask(), measured(a=0.5, b=0.1), 100.0)) == "ba"
    assert names(s.order([B, A], ask(), measured(a=0.5, b=0.1), 100.0)) == "ba"


def test_lowest_latency_puts_a_route_never_measured_before_even_an_instant_one() -> None:
    st = measured(a=0.0)
    st["b/m"] = RouteStats()  # known (e.g. in flight) but never measured
    assert names(LowestLatency(explore=0.0).order([A, B], ask(), st, 100.0)) == "ba"
    assert names(LowestLatency(explore=0.0).order([A, C], ask(), st, 100.0)) == "ca"


def test_lowest_latency_explores_exactly_below_the_rate() -> None:
    st = measured(a=0.5, b=0.1)
    assert names(LowestLatency(explore=0.5, rng=_Fixed(0.4999)).order([A, B], ask(), st, 100.0)) == "ab"
    assert names(LowestLatency(explore=0.5, rng=_Fixed(0.5)).order([A, B], ask(), st, 100.0)) == "ba"
    assert names(LowestLatency(explore=0.5, rng=_Fixed(0.9)).order([A, B], ask(), st, 100.0)) == "ba"
    # never exploring draws nothing from the generator
    assert names(LowestLatency(explore=0.0, rng=_Fixed()).order([A, B], ask(), st, 100.0)) == "ba"


def test_lowest_latency_uses_the_callers_seeded_generator() -> None:
    st = measured(a=0.5, b=0.1, c=0.3)
    s = LowestLatency(explore=0.5, rng=random.Random(11))
    replica = random.Random(11)
    expected = []
    for _ in range(40):
        ranked = [B, C, A]
        pick = replica.choice(ranked[1:]) if replica.random() < 0.5 else B
        expected.append(pick.provider)
    assert [s.order([A, B, C], ask(), st, 100.0)[0].provider for _ in range(40)] == expected


def test_lowest_latency_explores_without_a_generator_too() -> None:
    st = measured(a=0.5, b=0.1)
    assert {LowestLatency(explore=1.0).order([A, B], ask(), st, 100.0)[0].provider for _ in range(5)} == {"a"}


def test_a_route_is_stale_only_after_more_than_stale_after() -> None:
    s = LowestLatency(explore=0.0, stale_after=60.0)
    fast_now = measured(now=100.0, b=0.1)
    slow_at_40 = measured(now=40.0, a=0.5)
    assert names(s.order([A, B], ask(), {**fast_now, **slow_at_40}, 100.0)) == "ba"  # exactly 60 s: fresh
    assert names(s.order([A, B], ask(), {**fast_now, **slow_at_40}, 100.001)) == "ab"  # stale: re-measured


def test_the_fastest_route_is_never_the_stale_pick_and_the_first_stale_one_wins() -> None:
    s = LowestLatency(explore=0.0, stale_after=10.0)
    old = {**measured(now=0.0, a=0.5, b=0.1), **measured(now=0.0, c=0.3)}
    assert names(s.order([A, B, C], ask(), old, 100.0)) == "cba"  # b is fastest; c is the first stale after it
    assert names(s.order([A, B], ask(), measured(now=0.0, a=0.5, b=0.1), 100.0)) == "ab"


def test_cost_orders_two_priced_routes_and_puts_the_unpriced_last() -> None:
    dear, cheap = route("a", price=ModelPrice(10.0, 30.0)), route("b", price=ModelPrice(1.0, 2.0))
    assert names(Cheapest().order([dear, cheap], ask(max_tokens=100), {}, 0.0)) == "ba"
    assert names(Cheapest().order([C, cheap], ask(max_tokens=100), {}, 0.0)) == "bc"
    assert names(Cheapest().order([cheap, C], ask(max_tokens=100), {}, 0.0)) == "bc"


def test_least_busy_orders_two_routes_and_counts_unknown_routes_as_idle() -> None:
    busy = {"a/m": RouteStats()}
    busy["a/m"].in_flight = 1
    assert names(LeastBusy().order([A, B], ask(), busy, 0.0)) == "ba"
    busy["b/m"] = RouteStats()
    busy["b/m"].in_flight = 2
    assert names(LeastBusy().order([A, B], ask(), busy, 0.0)) == "ab"


def test_priority_keeps_two_routes_as_configured() -> None:
    assert names(Priority().order([B, A], ask(), measured(a=0.1, b=0.5), 0.0)) == "ba"


@pytest.mark.parametrize(("name", "cls"), [
    ("priority", Priority), ("weighted", Weighted), ("lowest_latency", LowestLatency), ("cost", Cheapest),
    ("least_busy", LeastBusy),
])
def test_strategies_by_name(name: str, cls: type[Strategy]) -> None:
    made = strategy(name)
    assert type(made) is cls
    assert made.name == name


def test_an_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(InvalidRequest, match="unknown routing strategy 'fastest'; strategies: priority, weighted, "
                                             "lowest_latency, cost, least_busy") as caught:
        strategy("fastest")
    assert caught.value.field == "strategy"
