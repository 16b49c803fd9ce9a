"""Circuit breaker edges a mutation run found untested: input checks at their boundaries, the
documented defaults, exact thresholds and window edges, and reports arriving while already open."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmport.domain import InvalidRequest
from llmport.ports import BreakerConfig, BreakerTransition, CircuitBreaker


def _breaker(**config: float) -> tuple[CircuitBreaker, list[BreakerTransition]]:
    seen: list[BreakerTransition] = []
    return CircuitBreaker("p/m", BreakerConfig(**config), seen.append), seen  # type: ignore[arg-type]


def test_defaults_are_the_documented_ones() -> None:
    assert BreakerConfig() == BreakerConfig(failure_threshold=5, failure_rate=0.5, window=30.0, min_calls=20,
                                            cooldown=15.0, buckets=10)
    assert CircuitBreaker("p/m").config == BreakerConfig()


@pytest.mark.parametrize("config", [
    {"failure_threshold": 1}, {"min_calls": 1}, {"buckets": 1}, {"failure_rate": 1.0}, {"failure_rate": 1e-9},
    {"window": 1e-9}, {"cooldown": 0.0},
])
def test_boundary_settings_are_accepted(config: dict[str, float]) -> None:
    BreakerConfig(**config)  # type: ignore[arg-type]


@pytest.mark.parametrize(("config", "match"), [
    ({"failure_threshold": 0}, "thresholds must be positive"),
    ({"min_calls": 0}, "thresholds must be positive"),
    ({"buckets": 0}, "thresholds must be positive"),
    ({"failure_rate": 0.0}, r"failure_rate must be in \(0, 1\]"),
    ({"failure_rate": 1.01}, r"failure_rate must be in \(0, 1\]"),
    ({"window": 0.0}, "window must be positive"),
    ({"cooldown": -0.01}, "cooldown not negative"),
])
def test_out_of_range_settings_are_rejected_naming_the_breaker(config: dict[str, float], match: str) -> None:
    with pytest.raises(InvalidRequest, match=match) as caught:
        BreakerConfig(**config)  # type: ignore[arg-type]
    assert caught.value.field == "breaker"


def test_the_cooldown_ends_exactly_on_time() -> None:
    b, _ = _breaker(failure_threshold=1, cooldown=5.0)
    b.failure(10.0)
    assert not b.allow(14.999)
    assert b.retry_in(14.0) == pytest.approx(1.0)
    assert b.allow(15.0)
    assert b.state == "half_open"


def test_retry_in_is_zero_unless_open_and_never_negative() -> None:
    b, _ = _breaker(failure_threshold=1, cooldown=5.0)
    assert b.retry_in(0.0) == 0.0
    b.failure(0.0)
    assert b.retry_in(2.0) == pytest.approx(3.0)
    assert b.retry_in(9.0) == 0.0  # overdue, still "open" until someone asks to send
    assert b.allow(9.0)
    assert b.retry_in(9.0) == 0.0  # half-open


def test_a_failure_reported_while_open_does_not_restart_the_cooldown() -> None:
    b, seen = _breaker(failure_threshold=1, cooldown=10.0)
    b.failure(0.0)
    b.failure(6.0, probe=False)  # a straggler admitted before the breaker opened
    b.failure(8.0)
    assert b.retry_in(8.0) == pytest.approx(2.0)
    assert b.allow(10.0)
    assert [t.new for t in seen] == ["open", "half_open"]
    assert b.snapshot(10.0)["consecutive_failures"] == 3
    assert b.snapshot(10.0)["window_calls"] == 1  # failures while open are not counted again


def test_the_streak_opens_exactly_at_the_threshold_and_a_success_resets_it() -> None:
    b, _ = _breaker(failure_threshold=3, min_calls=1000)
    for t in (0.0, 1.0):
        b.failure(t)
    b.success(2.0)
    b.failure(3.0)
    b.failure(4.0)
    assert b.state == "closed"
    assert b.snapshot(4.0)["consecutive_failures"] == 2
    b.failure(5.0)
    assert b.state == "open"


def test_the_failure_rate_opens_at_the_rate_and_not_below_it() -> None:
    below, _ = _breaker(failure_threshold=100, failure_rate=0.5, window=10.0, min_calls=10)
    at, seen = _breaker(failure_threshold=100, failure_rate=0.5, window=10.0, min_calls=10)
    for i in range(6):
        below.success(i * 0.1)
        at.success(i * 0.1)
    for i in range(4):
        below.failure(1 + i * 0.1)
        at.failure(1 + i * 0.1)
    assert below.state == at.state == "closed"  # 4 of 10 failed
    at.failure(2.1)  # 5 of 11
    assert at.state == "closed"
    at.failure(2.2)  # 6 of 12: exactly the rate
    assert at.state == "open"
    assert seen[-1].reason == "failure rate 6/12 over 10s"


def test_a_straggler_success_never_closes_the_breaker_and_a_probe_success_resets_the_window() -> None:
    b, seen = _breaker(failure_threshold=2, cooldown=1.0)
    b.success(0.0)
    b.failure(0.1)
    b.failure(0.2)
    assert b.allow(1.5)  # the probe
    b.success(1.6, probe=False)
    assert b.state == "half_open"
    assert not b.allow(1.7)  # the probe is still in flight
    b.success(1.8)
    assert b.state == "closed"
    assert b.snapshot(1.8)["window_calls"] == 0
    assert b.snapshot(1.8)["consecutive_failures"] == 0
    assert [t.new for t in seen] == ["open", "half_open", "closed"]


def test_a_success_while_closed_reports_no_transition() -> None:
    b, seen = _breaker()
    b.success(0.0)
    b.success(1.0)
    assert seen == []
    assert b.snapshot(1.0)["window_calls"] == 2


def test_a_straggler_failing_during_the_probe_reopens_but_keeps_the_probe_slot_taken() -> None:
    b, seen = _breaker(failure_threshold=1, cooldown=1.0)
    b.failure(0.0)
    assert b.allow(1.0)
    b.failure(1.1, probe=False)
    assert b.state == "open"
    assert seen[-1].reason == "a call failed during the probe"
    assert not b.allow(2.5)  # half-open again, but the first probe has not reported yet
    b.failure(2.6)
    assert seen[-1].reason == "probe failed"
    assert b.allow(3.6)


def test_trip_opens_at_once_with_its_own_cooldown_and_error() -> None:
    b, seen = _breaker(cooldown=1.0)
    b.trip(0.0, "credentials rejected", 60.0, error="AuthenticationFailed")
    assert b.state == "open"
    assert b.retry_in(0.0) == pytest.approx(60.0)
    assert seen == [BreakerTransition("p/m", "closed", "open", "credentials rejected", 0.0, "AuthenticationFailed")]
    assert b.snapshot(0.0)["consecutive_failures"] == 1


def test_trip_while_open_only_ever_extends_and_reports_nothing() -> None:
    b, seen = _breaker(failure_threshold=1, cooldown=10.0)
    b.failure(0.0)
    b.trip(2.0, "again", 3.0)  # would end at 5: the opening's 10 stands
    assert b.retry_in(2.0) == pytest.approx(8.0)
    assert not b.allow(9.9)
    b.trip(4.0, "again", 20.0)  # ends at 24
    assert b.retry_in(4.0) == pytest.approx(20.0)
    assert not b.allow(23.9)
    assert b.allow(24.0)
    assert [t.new for t in seen] == ["open", "half_open"]


def test_a_tripping_probe_frees_its_slot() -> None:
    b, _ = _breaker(failure_threshold=1, cooldown=1.0)
    b.failure(0.0)
    assert b.allow(1.0)
    b.trip(1.1, "credentials rejected", 2.0, probe=True)
    assert b.allow(3.1)  # a new probe may go: the tripped one is done


def test_snapshot_reads_the_breaker() -> None:
    b, _ = _breaker(failure_threshold=2, cooldown=10.0)
    b.success(0.0)
    b.failure(1.0)
    b.failure(2.0)
    assert b.snapshot(5.0) == {"route": "p/m", "state": "open", "consecutive_failures": 2, "window_calls": 3,
                               "window_failures": 2, "retry_in": 7.0}
    assert b.snapshot(5.00049)["retry_in"] == 7.0  # rounded to the millisecond


def test_the_window_keeps_exactly_its_buckets() -> None:
    b, _ = _breaker(window=10.0, buckets=10)
    b.success(0.5)
    b.success(9.99)
    assert b.snapshot(9.99)["window_calls"] == 2
    assert b.snapshot(10.0)["window_calls"] == 1  # the first second has left the window
    b.success(10.5)  # reuses the ring slot of the first second, which must start empty
    assert b.snapshot(10.5)["window_calls"] == 2


_EVENTS = st.lists(st.tuples(st.floats(0.0, 3.0), st.booleans()), max_size=40)


@settings(max_examples=60, deadline=None)
@given(events=_EVENTS, window=st.sampled_from([1.0, 2.5, 10.0]), buckets=st.integers(1, 6))
def test_window_counts_match_a_reference_model(events: list[tuple[float, bool]], window: float, buckets: int) -> None:
    """The ring of buckets counts exactly the outcomes whose bucket is one of the last ``buckets``."""
    b = CircuitBreaker("p/m", BreakerConfig(failure_threshold=10_000, min_calls=10_000, window=window,
                                            buckets=buckets))
    width = window / buckets
    now = 0.0
    seen: list[tuple[int, bool]] = []
    for step, ok in events:
        now += step
        (b.success if ok else b.failure)(now)
        seen.append((int(now // width), ok))
        current = int(now // width)
        live = [ok for bucket, ok in seen if bucket > current - buckets]
        snap = b.snapshot(now)
        assert (snap["window_calls"], snap["window_failures"]) == (len(live), live.count(False))


def test_a_successful_probe_frees_the_probe_slot_for_the_next_opening() -> None:
    b, seen = _breaker(failure_threshold=1, cooldown=1.0)
    b.failure(0.0)
    assert b.allow(1.0)
    b.success(1.1)
    b.failure(2.0, probe=False)  # an ordinary call (the policy reports probe=False once closed)
    assert b.allow(3.0)  # the next probe is not blocked by the one that closed the breaker
    assert [t.new for t in seen] == ["open", "half_open", "closed", "open", "half_open"]


def test_a_streak_that_also_breaks_the_rate_opens_once_naming_the_streak() -> None:
    b, seen = _breaker(failure_threshold=2, failure_rate=0.5, min_calls=2)
    b.failure(0.0)
    b.failure(0.1)
    assert [(t.new, t.reason) for t in seen] == [("open", "2 consecutive failures")]
