"""The error of a request whose every route was refused is copied from one prototype per route set
(the constructor and its redaction run once): each copy must still be its own error, with the
request's own attempts and wait, and the cache of prototypes stays bounded."""

from __future__ import annotations

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import AllProvidersFailed, Attempt, ProviderUnavailable
from llmport.ports import BreakerConfig, FailoverPolicy, RetryPolicy, failover

from .conftest import FakeClock, ask, make_policy


def _opened_policy(clock: FakeClock, *names: str) -> FailoverPolicy:
    downs = [FakeLLM(*[ProviderUnavailable("down", status=503)] * 3, name=n) for n in names]
    return make_policy(*downs, clock=clock, retry=RetryPolicy(1, 0, 0),
                       breaker=BreakerConfig(failure_threshold=1, cooldown=30.0))


async def _refused(policy: FailoverPolicy) -> AllProvidersFailed:
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    return info.value


async def test_each_refused_request_gets_its_own_error_with_its_own_wait(
        clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failover, "_REFUSED", {})
    policy = _opened_policy(clock, "a", "b")
    await _refused(policy)  # opens both breakers
    clock.advance(10.0)
    first = await _refused(policy)
    assert list(failover._REFUSED) == [("smart", 2, False, True)]  # copied from its prototype
    clock.advance(5.0)
    second = await _refused(policy)
    assert first is not second
    assert type(first) is type(second) is AllProvidersFailed
    assert (first.retry_after, second.retry_after) == (pytest.approx(20.0), pytest.approx(15.0))
    expected = (Attempt("a/m-a", "CircuitOpen", None, 0.0, 0, "circuit breaker open"),
                Attempt("b/m-b", "CircuitOpen", None, 0.0, 0, "circuit breaker open"))
    assert first.attempts == second.attempts == expected
    for err in (first, second):
        assert err.message == "'smart': every route failed or is unavailable (0 attempts on 2 routes)"
        assert err.args == (err.message,)
        assert (err.status, err.retryable, err.provider, err.model, err.request_cost) == (503, True, None, None, None)
        assert err.__cause__ is None and err.__suppress_context__
    first.request_cost = 1  # type: ignore[assignment]  # set on one copy (as metering does): not on the next
    third = await _refused(policy)
    assert third.request_cost is None and third.retry_after == pytest.approx(15.0)
    assert str(third).splitlines()[0] == third.message


def test_a_prototype_per_route_set_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failover, "_REFUSED", {})
    attempts = [Attempt("p/m", "CircuitOpen", None, 0.0, 0, "circuit breaker open")]
    late = failover._refused("x", 1, True, True, attempts, None)
    assert (late.status, late.retryable, late.retry_after) == (504, True, None)
    assert late.message == "'x': the request deadline passed (0 attempts on 1 routes)"
    calm = failover._refused("x", 3, False, False, attempts, 2.5)
    assert (calm.status, calm.retryable, calm.retry_after, calm.attempts) == (503, False, 2.5, tuple(attempts))
    assert calm.message == "'x': every route failed or is unavailable (0 attempts on 3 routes)"
    assert set(failover._REFUSED) == {("x", 1, True, True), ("x", 3, False, False)}
    assert failover._REFUSED[("x", 3, False, False)].retry_after is None  # the prototype keeps no request's wait


def test_the_prototypes_are_bounded_at_4096(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route set names can come from callers: the prototypes start over when full."""
    monkeypatch.setattr(failover, "_REFUSED", {})
    for i in range(4096):
        failover._refused(f"s{i}", 1, False, True, (), None)
    assert len(failover._REFUSED) == 4096
    failover._refused("one more", 1, False, True, (), None)
    assert list(failover._REFUSED) == [("one more", 1, False, True)]


def test_a_secret_in_a_route_set_name_is_redacted_once_and_for_every_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failover, "_REFUSED", {})
    key = "sk-" + "a" * 40
    for _ in range(2):
        err = failover._refused(key, 1, False, True, (), None)
        assert key not in err.message and key not in str(err) and key not in repr(err.args)
