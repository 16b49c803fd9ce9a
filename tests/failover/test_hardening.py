"""Regression tests for the policy decisions that failed under chaos (issue 11, section 2), and for
what the policy raises."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.composition.policy_factory import StructlogObserver
from llmport.composition.skip_summary import SkipSummary
from llmport.domain import (
    AllProvidersFailed,
    AuthenticationFailed,
    Completion,
    CompletionRequest,
    InvalidRequest,
    LLMError,
    Overloaded,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
    TextDelta,
)
from llmport.ports import SYSTEM_CLOCK, BreakerConfig, PolicyConfig, RecordingObserver, RetryPolicy

from .conftest import FakeClock, ask, make_policy


async def _until(predicate: Any) -> None:
    for _ in range(400):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


# -- a straggler's success never closes an open breaker ---------------------------------------------


async def test_a_stragglers_success_does_not_close_an_open_breaker(clock: FakeClock) -> None:
    a = FakeLLM(FakeReply("straggler", latency=0.2), ProviderUnavailable("down", status=503), name="p")
    policy = make_policy(a, clock=clock, retry=RetryPolicy(1, 0, 0),
                         breaker=BreakerConfig(failure_threshold=1, cooldown=10.0))
    straggler = asyncio.create_task(policy.complete(ask()))
    await _until(lambda: len(a.requests) == 1)
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())  # opens the breaker
    assert (await straggler).text == "straggler"  # admitted before it opened, succeeds after
    assert policy.breakers["p/m-p"].state == "open"
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert [a.error for a in info.value.attempts] == ["CircuitOpen"]
    assert len(a.requests) == 2  # failed fast


# -- a hanging primary must not eat the deadline ----------------------------------------------------


async def test_after_a_timeout_the_next_route_goes_before_a_retry_of_the_same(observer: RecordingObserver) -> None:
    primary = FakeLLM(default=FakeReply("never", latency=30.0), name="p")
    backup = FakeLLM("backup", name="b")
    policy = make_policy(primary, backup, clock=SYSTEM_CLOCK, observer=observer, retry=RetryPolicy(3, 0, 0))
    result = await policy.complete(ask(attempt_timeout=0.1, timeout=5.0))
    assert result.text == "backup"
    assert len(primary.requests) == 1
    assert [(e.route, e.outcome, e.error) for e in observer.attempts] == [
        ("p/m-p", "error", "Timeout"), ("b/m-b", "ok", None)]


async def test_a_timed_out_route_is_retried_once_the_others_failed(observer: RecordingObserver) -> None:
    primary = FakeLLM(FakeReply("late", latency=30.0), "second try", name="p")
    backup = FakeLLM(default=ProviderUnavailable("down", status=503), name="b")
    policy = make_policy(primary, backup, clock=SYSTEM_CLOCK, observer=observer, retry=RetryPolicy(2, 0, 0))
    assert (await policy.complete(ask(attempt_timeout=0.1))).text == "second try"
    assert [(e.route, e.attempt, e.outcome) for e in observer.attempts] == [
        ("p/m-p", 1, "error"), ("b/m-b", 1, "error"), ("b/m-b", 2, "error"), ("p/m-p", 2, "ok")]


async def test_without_attempt_timeout_the_first_route_gets_only_a_share_of_the_deadline(
        observer: RecordingObserver) -> None:
    primary = FakeLLM(default=FakeReply("never", latency=30.0), name="p")
    backup = FakeLLM("backup", name="b")
    policy = make_policy(primary, backup, clock=SYSTEM_CLOCK, observer=observer, retry=RetryPolicy(3, 0, 0))
    result = await policy.complete(ask(timeout=0.6))
    assert result.text == "backup"  # with the whole deadline on the primary there would be no time left
    assert len(primary.requests) == 1
    # The primary's limit was a share of the time left, handed to the adapter as its attempt timeout.
    assert primary.requests[0].attempt_timeout is not None
    assert primary.requests[0].attempt_timeout <= 0.6 * PolicyConfig().deadline_share + 1e-6
    assert backup.requests[0].attempt_timeout is not None  # the last route: the rest of the deadline


async def test_a_single_route_gets_the_whole_deadline_and_fails_as_the_callers_deadline() -> None:
    only = FakeLLM(default=FakeReply("never", latency=30.0), name="p")
    policy = make_policy(only, clock=SYSTEM_CLOCK)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask(timeout=0.1))
    assert "(request deadline)" in info.value.attempts[0].message
    assert info.value.status == 504 and info.value.retryable


async def test_every_attempt_gets_the_policys_limit_as_its_attempt_timeout(clock: FakeClock) -> None:
    a = FakeLLM(name="p")
    policy = make_policy(a, clock=clock, attempt_timeout=7.0)
    await policy.complete(ask(timeout=20.0))
    await policy.complete(ask(timeout=3.0))
    await policy.complete(ask())
    assert [r.attempt_timeout for r in a.requests] == [7.0, 3.0, 7.0]


# -- Retry-After: fail over at once, wait only when nothing else can serve -------------------------


async def test_a_retry_after_fails_over_at_once_when_another_route_can_serve(clock: FakeClock) -> None:
    primary = FakeLLM(RateLimited("slow down", status=429, retry_after=2.0), default="primary again", name="p")
    backup = FakeLLM(default="backup", name="b")
    policy = make_policy(primary, backup, clock=clock)
    assert (await policy.complete(ask())).text == "backup"
    assert clock.sleeps == []  # no time spent waiting
    assert (await policy.complete(ask())).text == "backup"  # the primary is cooling: not even tried
    assert len(primary.requests) == 1
    clock.advance(2.0)
    assert (await policy.complete(ask())).text == "primary again"


async def test_a_retry_after_is_waited_for_when_no_other_route_can_serve(clock: FakeClock) -> None:
    primary = FakeLLM(RateLimited("slow down", status=429, retry_after=2.0), "primary", name="p")
    backup = FakeLLM(RateLimited("slow down too", status=429, retry_after=0.5), "backup", name="b")
    policy = make_policy(primary, backup, clock=clock)
    assert (await policy.complete(ask())).text == "backup"  # the one ready first
    assert clock.sleeps == [0.5]


async def test_a_route_cooling_for_another_request_is_waited_for_when_alone(clock: FakeClock) -> None:
    only = FakeLLM(RateLimited("slow down", status=429, retry_after=1.5), default="fine", name="p")
    policy = make_policy(only, clock=clock, retry=RetryPolicy(1, 0, 0))
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())  # one attempt allowed: throttled
    assert info.value.status == 429 and info.value.retry_after == pytest.approx(1.5) and info.value.retryable
    clock.advance(0.5)
    assert (await policy.complete(ask())).text == "fine"  # waited out the cooldown, then served
    assert clock.sleeps == [pytest.approx(1.0)]
    assert len(only.requests) == 2


# -- a dead key is not tried on every request -------------------------------------------------------


@pytest.mark.parametrize("error", [AuthenticationFailed("invalid api key", status=401),
                                   PermissionDenied("not allowed", status=403)])
async def test_rejected_credentials_lock_the_route_out_for_the_long_cooldown(clock: FakeClock,
                                                                             error: LLMError) -> None:
    observer = RecordingObserver()
    bad = FakeLLM(error, default="key fixed", name="p")
    good = FakeLLM(default="fine", name="b")
    policy = make_policy(bad, good, clock=clock, observer=observer, lockout_cooldown=600.0)
    for _ in range(5):
        assert (await policy.complete(ask())).text == "fine"
    assert len(bad.requests) == 1  # not a round trip per request
    assert [(t.route, t.new, t.error) for t in observer.transitions] == [("p/m-p", "open", type(error).__name__)]
    clock.advance(599.0)
    await policy.complete(ask())
    assert len(bad.requests) == 1
    clock.advance(1.0)
    assert (await policy.complete(ask())).text == "key fixed"  # the probe after the cooldown


async def test_a_lockout_is_logged_once_at_error_level(clock: FakeClock) -> None:
    class Log:
        def __init__(self) -> None:
            self.lines: list[tuple[str, str, dict[str, object]]] = []

        def __getattr__(self, level: str) -> Any:
            return lambda event, **kw: self.lines.append((level, event, kw))

    log = Log()
    bad = FakeLLM(default=AuthenticationFailed("invalid api key", status=401), name="p")
    policy = make_policy(bad, FakeLLM(name="b"), clock=clock, observer=StructlogObserver(log))  # type: ignore[arg-type]
    for _ in range(3):
        await policy.complete(ask())
    errors = [(event, kw["route"], kw["error"]) for level, event, kw in log.lines if level == "error"]
    assert errors == [("llm.breaker", "p/m-p", "AuthenticationFailed")]


async def test_skipped_routes_are_counted_into_one_summary_line_per_interval(clock: FakeClock) -> None:
    class Log:
        def __init__(self) -> None:
            self.lines: list[tuple[str, str, dict[str, object]]] = []

        def __getattr__(self, level: str) -> Any:
            return lambda event, **kw: self.lines.append((level, event, kw))

    log = Log()
    bad = FakeLLM(default=AuthenticationFailed("invalid api key", status=401), name="p")
    observer = StructlogObserver(log, SkipSummary(interval=10.0, clock=clock.monotonic))
    policy = make_policy(bad, FakeLLM(name="b"), clock=clock, observer=observer)  # type: ignore[arg-type]
    await policy.complete(ask())  # opens p's breaker
    del log.lines[:]
    for _ in range(5):
        await policy.complete(ask())  # p skipped each time, b answers
    skipped = [(level, kw) for level, event, kw in log.lines if event == "llm.skipped"]
    assert skipped == [("info", {"target": "smart", "skipped": {"p/m-p: CircuitOpen": 1}})]  # the first at once
    assert not [kw for _, event, kw in log.lines if event == "llm.attempt" and kw["outcome"] == "skipped"]
    assert len([e for _, e, _ in log.lines if e == "llm.attempt"]) == 5  # b's answers still one line each
    clock.advance(10.0)
    await policy.complete(ask())
    summaries = [kw["skipped"] for _, event, kw in log.lines if event == "llm.skipped"]
    assert summaries == [{"p/m-p: CircuitOpen": 1}, {"p/m-p: CircuitOpen": 5}]  # 4 counted, then this one


def test_a_skip_summary_holds_the_counts_since_the_last_one() -> None:
    now = [0.0]
    summary = SkipSummary(interval=5.0, clock=lambda: now[0])
    assert summary.drain() is None
    assert summary.count("a", "CircuitOpen") == {"a: CircuitOpen": 1}
    assert summary.count("a", "CircuitOpen") is None
    assert summary.count("b", "CoolingDown") is None
    now[0] = 4.999
    assert summary.count("a", "CircuitOpen") is None
    now[0] = 5.0
    assert summary.count("a", "CircuitOpen") == {"a: CircuitOpen": 3, "b: CoolingDown": 1}
    assert summary.drain() is None
    now[0] = 9.0
    assert summary.count("a", "CircuitOpen") is None
    assert summary.drain() == {"a: CircuitOpen": 1}


# -- errors a host can answer with ------------------------------------------------------------------


async def test_every_route_throttled_says_429_when_to_come_back_and_retryable(clock: FakeClock) -> None:
    a = FakeLLM(default=RateLimited("slow", status=429, retry_after=40.0), name="p")
    b = FakeLLM(default=Overloaded("busy", status=529, retry_after=35.0), name="b")
    policy = make_policy(a, b, clock=clock)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())  # both Retry-Afters beyond max_retry_after (30 s): not waited for
    assert info.value.retryable
    assert info.value.retry_after == pytest.approx(35.0)
    assert info.value.status == 503  # throttled and overloaded: the representative transient status
    assert clock.sleeps == []


async def test_a_dead_key_alone_is_not_retryable_and_keeps_its_status(clock: FakeClock) -> None:
    policy = make_policy(FakeLLM(AuthenticationFailed("invalid api key", status=401), name="p"), clock=clock)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert not info.value.retryable and info.value.status == 401 and info.value.retry_after is None


async def test_one_rule_the_requests_fault_as_is_the_providers_as_all_providers_failed(clock: FakeClock) -> None:
    single = make_policy(FakeLLM(RateLimited("slow", status=429), InvalidRequest("bad", status=400), name="p"),
                         clock=clock, retry=RetryPolicy(1, 0, 0))
    with pytest.raises(AllProvidersFailed):
        await single.complete(ask())
    with pytest.raises(InvalidRequest):
        await single.complete(ask())


class _Buggy(FakeLLM):
    async def complete(self, request: CompletionRequest) -> Completion:  # not through SDKAdapter's mapping
        raise KeyError("secret-looking detail sk-abcdefghijklmnopqrstuv")

    async def count_tokens(self, request: CompletionRequest) -> int:
        raise RuntimeError("boom")


class _BuggyStream(FakeLLM):
    def stream(self, request: CompletionRequest) -> Any:
        raise AttributeError("broken adapter")


async def test_only_llm_errors_leave_the_policy_even_from_a_buggy_adapter(clock: FakeClock) -> None:
    policy = make_policy(_Buggy(name="p"), FakeLLM("fine", name="b"), clock=clock)
    assert (await policy.complete(ask())).text == "fine"
    alone = make_policy(_Buggy(name="p"), clock=clock, retry=RetryPolicy(1, 0, 0))
    with pytest.raises(AllProvidersFailed) as info:
        await alone.complete(ask())
    cause = info.value.__cause__
    assert isinstance(cause, ProviderUnavailable) and "KeyError" in cause.message
    assert "sk-abc" not in str(info.value) and cause.__context__ is None
    with pytest.raises(AllProvidersFailed):
        await alone.count_tokens(ask())
    streaming = make_policy(_BuggyStream(name="p"), clock=clock, retry=RetryPolicy(1, 0, 0))
    with pytest.raises(AllProvidersFailed):
        async with streaming.stream(ask()) as events:
            async for _ in events:
                pass


# -- FakeLLM delivers like the policy -------------------------------------------------------------


async def test_fake_as_policy_delivers_scripted_errors_as_the_policy_does() -> None:
    fake = FakeLLM(RateLimited("slow", status=429, retry_after=1.0), InvalidRequest("bad", field="temperature"),
                   "answer")
    llm = fake.as_policy(PolicyConfig(retry=RetryPolicy(1)))
    with pytest.raises(AllProvidersFailed) as info:
        await llm.complete(ask("any-model"))
    assert info.value.status == 429 and info.value.retry_after == pytest.approx(1.0, abs=0.1)
    with pytest.raises(InvalidRequest):
        await llm.complete(ask("any-model"))
    await asyncio.sleep(1.0)  # the scripted Retry-After cooled the fake's route
    assert (await llm.complete(ask("any-model"))).text == "answer"
    assert [r.model for r in fake.requests] == ["any-model"] * 3
    await llm.aclose()
    assert fake.closed
    with pytest.raises(LLMError):
        await fake.complete(ask())


# -- streams: one deadline for the whole life, and the stall limit ---------------------------------


async def test_a_stalled_stream_fails_at_once_with_the_partial() -> None:
    trickle = FakeLLM(default=FakeReply("one two three four five six", chunk_size=4, chunk_delay=0.4), name="p")
    observer = RecordingObserver()
    policy = make_policy(trickle, clock=SYSTEM_CLOCK, observer=observer, stall_timeout=0.1)
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(StreamInterrupted) as info:
        async with policy.stream(ask(timeout=30.0)) as events:
            async for e in events:
                if isinstance(e, TextDelta):
                    seen.append(e.text)
    assert loop.time() - start < 30.0  # not held until the deadline
    assert info.value.partial.text == "".join(seen) and seen
    assert "stall_timeout" in info.value.message
    assert trickle.open_streams == 0
    assert observer.attempts[-1].outcome == "interrupted"


async def test_a_requests_stall_timeout_wins_and_a_steady_stream_is_not_cut() -> None:
    steady = FakeLLM(default=FakeReply("a b c d e f g h", chunk_size=2, chunk_delay=0.02), name="p")
    policy = make_policy(steady, clock=SYSTEM_CLOCK, stall_timeout=0.01)
    text = []
    async with policy.stream(ask(stall_timeout=1.0)) as events:
        async for e in events:
            if isinstance(e, TextDelta):
                text.append(e.text)
    assert "".join(text) == "a b c d e f g h"


async def test_cancelling_a_stream_reader_is_not_mistaken_for_the_deadline() -> None:
    slow = FakeLLM(default=FakeReply("x y z", chunk_size=1, chunk_delay=5.0), name="p")
    policy = make_policy(slow, clock=SYSTEM_CLOCK)

    async def read() -> None:
        async with policy.stream(ask(timeout=30.0)) as events:
            async for _ in events:
                pass

    task = asyncio.create_task(read())
    await _until(lambda: slow.open_streams == 1)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert slow.open_streams == 0


async def test_an_open_stream_counts_as_in_flight_until_it_ends(clock: FakeClock) -> None:
    from llmport.ports import LeastBusy

    a, b = FakeLLM(default=FakeReply("a a a a", chunk_size=2), name="a"), FakeLLM(default="b", name="b")
    policy = make_policy(a, b, clock=clock)
    policy.strategy = LeastBusy()
    async with policy.stream(ask()) as events:
        await events.__anext__()  # the stream is open on a
        assert policy.stats["a/m-a"].in_flight == 1
        assert (await policy.complete(ask())).text == "b"  # least busy: b
    assert policy.stats["a/m-a"].in_flight == 0


def test_a_skip_summary_counts_runs_of_the_same_skips_and_changes_between_them() -> None:
    @dataclass(frozen=True)
    class Skip:
        route: str
        reason: str

    now = [0.0]
    summary = SkipSummary(interval=5.0, clock=lambda: now[0])
    a, b, a_cooling = Skip("a", "CircuitOpen"), Skip("b", "CircuitOpen"), Skip("a", "CoolingDown")
    assert summary.add((a, b)) == {"a: CircuitOpen": 1, "b: CircuitOpen": 1}
    assert summary.add((a, b)) is None
    assert summary.add((Skip("a", "CircuitOpen"), b)) is None  # an equal value continues the run
    assert summary.add((a_cooling,)) is None
    assert summary.count("b", "CoolingDown") is None
    assert summary.add((a_cooling,)) is None
    assert summary.add((a, b)) is None
    now[0] = 5.0
    assert summary.add(()) == {"a: CircuitOpen": 3, "b: CircuitOpen": 3, "a: CoolingDown": 2,
                               "b: CoolingDown": 1}
    assert summary.drain() is None
    assert summary.add((b,)) is None
    assert summary.drain() == {"b: CircuitOpen": 1}
    assert summary.drain() is None
