"""``PolicyStream`` and hedged attempts, edges a mutation run found untested: a hand-written
adapter's stream (the policy folds the partial itself), every way a stream can fail after its first
content, closing before or during a read, the stall and deadline timer, and hedges that lose.

Nothing here waits for real time. Streams follow scripts; a step may wait on an event another
attempt sets, or move the event loop's clock (``_LoopTime``) so that the stream's one timer falls
due at a known point of the script."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import (
    AllProvidersFailed,
    Completion,
    CompletionRequest,
    ProviderUnavailable,
    StopReason,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    TextPart,
    Timeout,
    Usage,
    UsageUpdate,
)
from llmport.ports import HedgeConfig, RecordingObserver, RetryPolicy

from .conftest import FakeClock, ask, make_policy

Step = StreamEvent | BaseException | Callable[[], Awaitable[StreamEvent]]


class _Upstream:
    """A stream context whose reads follow ``steps``: an event is returned, an exception raised, a
    callable awaited (and its event returned); past the end, the stream ends."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = list(steps)
        self.exits = 0
        self.closed = asyncio.Event()

    async def __aenter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.exits += 1
        self.closed.set()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __anext__(self) -> StreamEvent:
        if not self.steps:
            raise StopAsyncIteration
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return await step()
        return step


class _Scripted(FakeLLM):
    """An ``LLMPort`` written by hand (its streams have no ``partial``): each call takes the next
    script, a list of stream steps or an async function answering ``complete``."""

    def __init__(self, *scripts: list[Step] | Callable[[], Awaitable[Completion]], name: str) -> None:
        super().__init__(name=name)
        self.scripts = list(scripts)
        self.upstreams: list[_Upstream] = []

    def stream(self, request: CompletionRequest) -> _Upstream:  # type: ignore[override]
        self.requests.append(request)
        script = self.scripts.pop(0)
        assert isinstance(script, list)
        upstream = _Upstream(script)
        self.upstreams.append(upstream)
        return upstream

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        script = self.scripts.pop(0)
        assert callable(script)
        return await script()


class _LoopTime:
    """The running loop's clock, moved only by ``advance`` (timers fall due when it passes them)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        loop = asyncio.get_running_loop()
        self.now = loop.time()
        monkeypatch.setattr(loop, "time", lambda: self.now)

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for _ in range(3):  # let the loop run what fell due
            await asyncio.sleep(0)


def _done(text: str, usage: Usage) -> Completion:
    return Completion((TextPart(text),), StopReason("end_turn", "end_turn"), usage)


def _end() -> StreamEnd:
    return StreamEnd(StopReason("end_turn", "end_turn"))


def _after(action: Callable[[], object], event: StreamEvent) -> Callable[[], Awaitable[StreamEvent]]:
    async def step() -> StreamEvent:
        result = action()
        if isinstance(result, Awaitable):
            await result
        return event
    return step


def _outcomes(observer: RecordingObserver) -> list[tuple[str, str]]:
    return [(e.route, e.outcome) for e in observer.attempts]


# -- a hand-written adapter's stream -------------------------------------------------------------


async def test_the_policy_folds_a_hand_written_stream_and_times_the_answer(clock: FakeClock) -> None:
    p = _Scripted([TextDelta("hel"), _after(lambda: clock.advance(1.5), TextDelta("lo")),
                   UsageUpdate(Usage(input_tokens=4, output_tokens=2)), _end()], name="p")
    observer = RecordingObserver()
    policy = make_policy(p, clock=clock, observer=observer)
    async with policy.stream(ask()) as stream:
        before = (stream.route, stream.partial().text)  # nothing opened yet
        texts = [e.text async for e in stream if isinstance(e, TextDelta)]
        assert (before, stream.route) == ((None, ""), "p/m-p")
        assert (stream.partial().text, stream.partial().usage.output_tokens) == ("hello", 2)
    assert texts == ["hel", "lo"]
    assert policy.stats["p/m-p"].total_ewma == 1.5  # the stream's whole time, on the policy clock
    ok = observer.attempts[-1]
    assert (ok.outcome, ok.latency, ok.usage) == ("ok", 1.5, Usage(input_tokens=4, output_tokens=2))
    assert p.upstreams[0].exits == 1


async def test_a_stream_whose_opening_failed_is_over(clock: FakeClock) -> None:
    p = _Scripted([ProviderUnavailable("down", status=503)], [TextDelta("never")], name="p")
    policy = make_policy(p, clock=clock, retry=RetryPolicy(1, 0, 0))
    stream = policy.stream(ask())
    with pytest.raises(AllProvidersFailed):
        await stream.__anext__()
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()  # not a second run of the policy
    assert len(p.requests) == 1


async def test_closing_a_stream_never_read_opens_nothing(clock: FakeClock) -> None:
    p = _Scripted([TextDelta("never")], name="p")
    observer = RecordingObserver()
    policy = make_policy(p, clock=clock, observer=observer)
    stream = policy.stream(ask())
    await stream.aclose()
    await stream.aclose()
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert (p.requests, observer.attempts) == ([], [])


# -- failing after the first content -------------------------------------------------------------


async def _interrupted(policy: object) -> tuple[StreamInterrupted, str]:
    """Read a stream that fails after its first content: the error and the text before it."""
    stream = policy.stream(ask())  # type: ignore[attr-defined]
    seen: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        async for event in stream:
            if isinstance(event, TextDelta):
                seen.append(event.text)
    return info.value, "".join(seen)


async def test_a_stream_ending_without_its_final_event_is_interrupted(clock: FakeClock) -> None:
    p = _Scripted([TextDelta("par"), TextDelta("tial")], name="p")
    observer = RecordingObserver()
    policy = make_policy(p, clock=clock, observer=observer)
    error, seen = await _interrupted(policy)
    assert isinstance(error.cause, ProviderUnavailable)
    assert error.cause.message == "stream ended without a final event"
    assert (seen, error.partial.text, error.provider) == ("partial", "partial", "p")
    assert _outcomes(observer) == [("p/m-p", "interrupted")]
    assert p.upstreams[0].exits == 1


@pytest.mark.parametrize("stall", [None, 60.0])
@pytest.mark.parametrize("raised", [ValueError("adapter bug: key sk-123"), TimeoutError()])
async def test_an_adapters_own_exception_mid_stream_is_interrupted_with_its_type_only(
        clock: FakeClock, raised: Exception, stall: float | None) -> None:
    """A ``TimeoutError`` the adapter raises is its own (the stream's timer did not fire), with or
    without a timer running."""
    p = _Scripted([TextDelta("a"), raised], name="p")
    policy = make_policy(p, clock=clock, stall_timeout=stall)
    error, seen = await _interrupted(policy)
    assert isinstance(error.cause, ProviderUnavailable)
    assert error.cause.message == f"the p adapter raised {type(raised).__name__}"
    assert (seen, error.partial.text) == ("a", "a")
    assert "sk-123" not in repr(error) + str(error)


async def test_a_stream_interrupted_by_the_adapter_itself_reaches_the_caller_as_is(clock: FakeClock) -> None:
    own = StreamInterrupted("cut", partial=_done("a", Usage.UNKNOWN), provider="p")
    p = _Scripted([TextDelta("a"), own], name="p")
    observer = RecordingObserver()
    policy = make_policy(p, clock=clock, observer=observer)
    error, _ = await _interrupted(policy)
    assert error is own
    assert _outcomes(observer) == [("p/m-p", "interrupted")]


class _Abort(BaseException):
    """Not an ``Exception``: a ``KeyboardInterrupt`` or ``SystemExit`` in the upstream's read."""


async def test_a_base_exception_mid_stream_propagates_after_closing_the_upstream(clock: FakeClock) -> None:
    p = _Scripted([TextDelta("a"), _Abort()], name="p")
    observer = RecordingObserver()
    policy = make_policy(p, clock=clock, observer=observer)
    stream = policy.stream(ask())
    assert await stream.__anext__() == TextDelta("a")
    with pytest.raises(_Abort):
        await stream.__anext__()
    assert p.upstreams[0].exits == 1  # before anyone closes the PolicyStream
    assert _outcomes(observer) == [("p/m-p", "cancelled")]


async def test_closing_during_a_read_reports_and_closes_once(clock: FakeClock) -> None:
    reading = asyncio.Event()
    upstreams: list[_Upstream] = []

    async def read_until_closed() -> StreamEvent:
        reading.set()
        await upstreams[0].closed.wait()
        raise StopAsyncIteration  # closing the upstream ends its read

    p = _Scripted([TextDelta("a"), read_until_closed], name="p")
    upstreams = p.upstreams
    observer = RecordingObserver()
    policy = make_policy(p, clock=clock, observer=observer)
    stream = policy.stream(ask())
    assert await stream.__anext__() == TextDelta("a")
    reader = asyncio.ensure_future(stream.__anext__())
    await reading.wait()
    await stream.aclose()
    with pytest.raises(StreamInterrupted):
        await reader
    assert _outcomes(observer) == [("p/m-p", "cancelled")]
    assert p.upstreams[0].exits == 1


# -- the stream's timer -------------------------------------------------------------------------


async def test_events_arriving_within_the_stall_limit_keep_it_from_firing(
        clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = _LoopTime(monkeypatch)
    steps: list[Step] = [TextDelta("a")]
    steps += [_after(lambda: loop.advance(0.3), TextDelta(c)) for c in "bcd"]  # 0.9 s in all, 0.3 s apart
    p = _Scripted([*steps, _end()], name="p")
    policy = make_policy(p, clock=clock, stall_timeout=0.5)
    async with policy.stream(ask()) as stream:
        texts = [e.text async for e in stream if isinstance(e, TextDelta)]
    assert texts == ["a", "b", "c", "d"]


async def test_a_stall_between_events_interrupts_the_stream(
        clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = _LoopTime(monkeypatch)
    p = _Scripted([TextDelta("a"), _after(lambda: loop.advance(0.3), TextDelta("b")),
                   _after(lambda: loop.advance(0.6), TextDelta("c")), _end()], name="p")
    policy = make_policy(p, clock=clock, stall_timeout=0.5)
    error, seen = await _interrupted(policy)
    assert isinstance(error.cause, Timeout) and error.cause.message == "no event for 0.5s (stall_timeout)"
    assert seen == "ab"


async def test_a_deadline_passing_between_reads_ends_the_stream_at_the_next_read(
        clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = _LoopTime(monkeypatch)
    p = _Scripted([TextDelta("a"), TextDelta("b"), _end()], name="p")
    observer = RecordingObserver()
    policy = make_policy(p, clock=clock, observer=observer)
    stream = policy.stream(ask(timeout=5.0))
    assert await stream.__anext__() == TextDelta("a")
    await loop.advance(6.0)  # the caller is slow: the deadline passes while nothing is awaited
    with pytest.raises(StreamInterrupted) as info:
        await stream.__anext__()
    assert isinstance(info.value.cause, Timeout)
    assert info.value.cause.message == "the request deadline passed while streaming"
    assert info.value.partial.text == "a"
    assert _outcomes(observer) == [("p/m-p", "interrupted")]
    assert policy.breakers["p/m-p"].state == "closed"  # the caller's deadline, not the route's health


# -- hedges that lose ---------------------------------------------------------------------------


async def test_the_losing_hedge_is_cancelled_at_once_and_reported_lost(clock: FakeClock) -> None:
    cancelled = asyncio.Event()

    async def hangs() -> Completion:
        try:
            await asyncio.Event().wait()  # never answers: only cancelling ends it
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    async def answers() -> Completion:
        return _done("hedged", Usage(input_tokens=1, output_tokens=1))

    p, b = _Scripted(hangs, name="p"), _Scripted(answers, name="b")
    observer = RecordingObserver()
    policy = make_policy(p, b, clock=clock, observer=observer, hedge=HedgeConfig(delay=0.0))
    assert (await policy.complete(ask())).text == "hedged"
    assert cancelled.is_set()
    assert sorted((e.route, e.outcome, e.hedge) for e in observer.attempts) == [
        ("b/m-b", "ok", True), ("p/m-p", "lost", False)]


async def test_a_hedge_answering_in_the_same_instant_as_the_winner_is_reported_lost_with_its_usage(
        clock: FakeClock) -> None:
    """Both answers are there when the policy looks: one wins, the other's answer is dropped."""
    gate = asyncio.Event()

    async def waits() -> Completion:
        await gate.wait()
        return _done("from p", Usage(input_tokens=3, output_tokens=4))

    async def opens_the_gate() -> Completion:
        gate.set()  # p answers in the loop's next turn: before the policy looks at what finished
        clock.advance(0.25)
        return _done("from b", Usage(input_tokens=5, output_tokens=6))

    observer = RecordingObserver()
    policy = make_policy(_Scripted(waits, name="p"), _Scripted(opens_the_gate, name="b"), clock=clock,
                         observer=observer, hedge=HedgeConfig(delay=0.0))
    answer = await policy.complete(ask())
    events = {e.outcome: e for e in observer.attempts}
    assert sorted(events) == ["lost", "ok"]
    winner, loser = ("p", "b") if answer.text == "from p" else ("b", "p")
    assert (events["ok"].route, events["lost"].route) == (f"{winner}/m-{winner}", f"{loser}/m-{loser}")
    assert events["lost"].usage == (Usage(3, 4) if loser == "p" else Usage(5, 6))
    assert events["lost"].latency == 0.25


async def test_a_hedged_stream_primed_in_the_same_instant_as_the_winner_is_closed_with_its_usage(
        clock: FakeClock) -> None:
    gate = asyncio.Event()
    p = _Scripted([_after(gate.wait, UsageUpdate(Usage(input_tokens=1))), UsageUpdate(Usage(input_tokens=10)),
                   TextDelta("from p"), _end()], name="p")
    b = _Scripted([_after(gate.set, UsageUpdate(Usage(input_tokens=2))), UsageUpdate(Usage(input_tokens=20)),
                   TextDelta("from b"), _end()], name="b")
    observer = RecordingObserver()
    policy = make_policy(p, b, clock=clock, observer=observer, hedge=HedgeConfig(delay=0.0))
    async with policy.stream(ask()) as stream:
        texts = [e.text async for e in stream if isinstance(e, TextDelta)]
        winner = stream.route
    loser, lost_usage = (b, Usage(input_tokens=20)) if winner == "p/m-p" else (p, Usage(input_tokens=10))
    assert winner is not None and texts == [f"from {winner[0]}"]
    assert loser.upstreams[0].exits == 1
    lost = [e for e in observer.attempts if e.outcome == "lost"]
    assert [(e.route, e.usage) for e in lost] == [(f"{loser.name}/m-{loser.name}", lost_usage)]
