"""Skipped routes reach observers once per request (``on_skipped``), before the next attempt's
event; an observer without ``on_skipped`` still gets one ``skipped`` attempt event per route."""

from __future__ import annotations

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.composition.policy_factory import StructlogObserver
from llmport.composition.skip_summary import SkipSummary
from llmport.domain import AllProvidersFailed, ProviderUnavailable
from llmport.ports import (
    AttemptEvent,
    BreakerConfig,
    BreakerTransition,
    FanoutObserver,
    RecordingObserver,
    RetryPolicy,
    SkippedRoute,
    SkippedRoutes,
)
from llmport.ports.observer import skipped_to

from .conftest import FakeClock, ask, make_policy


class Legacy:
    """An observer written before ``on_skipped``: attempts and breakers only."""

    def __init__(self) -> None:
        self.attempts: list[AttemptEvent] = []

    def on_attempt(self, event: AttemptEvent) -> None:
        self.attempts.append(event)

    def on_breaker(self, transition: BreakerTransition) -> None:
        pass


class Batches(RecordingObserver):
    """Keeps each ``on_skipped`` as it came, besides the attempts."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[SkippedRoutes] = []
        self.order: list[str] = []

    def on_skipped(self, skipped: SkippedRoutes) -> None:
        self.batches.append(skipped)
        self.order.append("skipped:" + ",".join(s.route for s in skipped.routes))
        super().on_skipped(skipped)

    def on_attempt(self, event: AttemptEvent) -> None:
        self.order.append(f"{event.outcome}:{event.route}")
        super().on_attempt(event)


def _down(name: str) -> FakeLLM:
    return FakeLLM(*[ProviderUnavailable("down", status=503)] * 3, name=name)


async def test_one_report_per_request_lists_every_skipped_route(clock: FakeClock) -> None:
    observer = Batches()
    policy = make_policy(_down("a"), _down("b"), clock=clock, observer=observer, retry=RetryPolicy(1, 0, 0),
                         breaker=BreakerConfig(failure_threshold=1, cooldown=30.0))
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())
    observer.batches.clear()
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask(tenant_id="t", metadata={"request_id": "rq-9", "k": "v"}))
    (batch,) = observer.batches
    assert batch == SkippedRoutes((SkippedRoute("a/m-a", "a", "m-a", "CircuitOpen", "open"),
                                   SkippedRoute("b/m-b", "b", "m-b", "CircuitOpen", "open")),
                                  "smart", "rq-9", "t", {"request_id": "rq-9", "k": "v"})
    # the same routes skipped again: the very same values (nothing built per route per request)
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())
    assert all(x is y for x, y in zip(observer.batches[1].routes, batch.routes, strict=True))


async def test_skips_are_reported_before_the_attempt_that_follows_them(clock: FakeClock) -> None:
    observer = Batches()
    policy = make_policy(_down("a"), FakeLLM("fine", name="b"), clock=clock, observer=observer,
                         retry=RetryPolicy(1, 0, 0), breaker=BreakerConfig(failure_threshold=1, cooldown=30.0))
    await policy.complete(ask())  # a fails (its breaker opens), b answers
    observer.order.clear()
    await policy.complete(ask())
    assert observer.order == ["skipped:a/m-a", "ok:b/m-b"]
    async with policy.stream(ask()) as events:
        async for _ in events:
            pass
    assert observer.order[2:] == ["skipped:a/m-a", "ok:b/m-b"]


async def test_an_observer_without_on_skipped_gets_one_attempt_event_per_route(clock: FakeClock) -> None:
    legacy = Legacy()
    policy = make_policy(_down("a"), _down("b"), clock=clock, observer=legacy,  # type: ignore[arg-type]
                         retry=RetryPolicy(1, 0, 0), breaker=BreakerConfig(failure_threshold=1, cooldown=30.0))
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())
    legacy.attempts.clear()
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask(metadata={"request_id": "rq-1"}))
    assert [(e.route, e.attempt, e.outcome, e.error, e.breaker, e.provider, e.model, e.request_id, e.target)
            for e in legacy.attempts] == [
        ("a/m-a", 0, "skipped", "CircuitOpen", "open", "a", "m-a", "rq-1", "smart"),
        ("b/m-b", 0, "skipped", "CircuitOpen", "open", "b", "m-b", "rq-1", "smart")]


def test_fanout_tells_each_observer_its_own_way() -> None:
    legacy, recording = Legacy(), RecordingObserver()
    fanout = FanoutObserver(legacy, recording)  # type: ignore[arg-type]
    skipped = SkippedRoutes((SkippedRoute("p/m", "p", "m", "CoolingDown", "closed"),), "alias", "id-1")
    fanout.on_skipped(skipped)
    assert legacy.attempts == recording.attempts == list(skipped.attempts())
    assert skipped.attempts() == (AttemptEvent("p/m", 0, "skipped", "CoolingDown", None, 0.0, None, "closed",
                                               "alias", provider="p", model="m", request_id="id-1"),)
    assert skipped_to(recording) == recording.on_skipped


async def test_a_raising_observer_does_not_change_the_outcome(clock: FakeClock) -> None:
    class Broken(RecordingObserver):
        def on_skipped(self, skipped: SkippedRoutes) -> None:
            raise RuntimeError("observer bug")

    policy = make_policy(_down("a"), FakeLLM(default="fine", name="b"), clock=clock, observer=Broken(),
                         retry=RetryPolicy(1, 0, 0), breaker=BreakerConfig(failure_threshold=1, cooldown=30.0))
    await policy.complete(ask())
    assert (await policy.complete(ask())).text == "fine"  # a skipped: the broken report is ignored
    alone = make_policy(_down("c"), clock=clock, observer=Broken(), retry=RetryPolicy(1, 0, 0),
                        breaker=BreakerConfig(failure_threshold=1))
    for _ in range(2):  # the second call skips every route: still only AllProvidersFailed
        with pytest.raises(AllProvidersFailed):
            await alone.complete(ask())


async def test_the_logging_observer_counts_a_requests_skips_into_its_summary(clock: FakeClock) -> None:
    lines: list[tuple[str, dict[str, object]]] = []

    class Log:
        def info(self, event: str, **kw: object) -> None:
            lines.append((event, kw))

    observer = StructlogObserver(Log(), SkipSummary(interval=10.0, clock=clock.monotonic))
    batch = SkippedRoutes((SkippedRoute("a/x", "a", "x", "CircuitOpen", "open"),
                           SkippedRoute("b/y", "b", "y", "CoolingDown", "closed")), "alias")
    observer.on_skipped(batch)  # the first skips of an interval: a line at once
    observer.on_skipped(batch)
    observer.on_skipped(batch)
    assert lines == [("llm.skipped", {"target": "alias", "skipped": {"a/x: CircuitOpen": 1, "b/y: CoolingDown": 1}})]
    clock.advance(10.0)
    observer.on_skipped(batch)
    assert lines[1] == ("llm.skipped", {"target": "alias", "skipped": {"a/x: CircuitOpen": 3, "b/y: CoolingDown": 3}})
