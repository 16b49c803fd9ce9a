"""Observer wiring a mutation run found untested: a fan-out must forward breaker transitions too."""

from __future__ import annotations

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import ProviderUnavailable
from llmport.ports import BreakerConfig, FanoutObserver, RecordingObserver, RetryPolicy

from .conftest import FakeClock, ask, make_policy


async def test_fanout_forwards_attempts_and_breaker_transitions_to_every_observer(clock: FakeClock) -> None:
    first, second = RecordingObserver(), RecordingObserver()
    primary = FakeLLM(ProviderUnavailable("503", status=503), name="p")
    backup = FakeLLM(default="backup", name="b")
    policy = make_policy(primary, backup, clock=clock, observer=FanoutObserver(first, second),  # type: ignore[arg-type]
                         retry=RetryPolicy(1, 0, 0), breaker=BreakerConfig(failure_threshold=1, cooldown=10))
    assert (await policy.complete(ask())).text == "backup"
    for seen in (first, second):
        assert [(e.route, e.outcome) for e in seen.attempts] == [("p/m-p", "error"), ("b/m-b", "ok")]
        assert [(t.route, t.old, t.new) for t in seen.transitions] == [("p/m-p", "closed", "open")]
