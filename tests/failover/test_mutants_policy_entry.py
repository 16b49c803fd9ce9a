"""The policy's entry points a mutation run found untested: its config checks, the ``of`` shorthand,
``count_tokens`` across routes, and ``aclose``."""

from __future__ import annotations

import asyncio

import pytest

from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.domain import (
    AllProvidersFailed,
    Completion,
    CompletionRequest,
    ContextLengthExceeded,
    InvalidRequest,
    LLMError,
    Message,
    ProviderUnavailable,
    StopReason,
    TextPart,
    Usage,
)
from llmport.domain.catalog import ModelInfo
from llmport.ports import (
    AttemptEvent,
    BreakerConfig,
    FailoverPolicy,
    HedgeConfig,
    PolicyConfig,
    RecordingObserver,
    RetryPolicy,
    Route,
    Router,
    RouteSet,
    failover,
)
from llmport.ports.memory_state import MemoryPolicyState
from llmport.ports.state import ASK, Admission, Permit

from .conftest import FakeClock, ask, make_policy


@pytest.mark.parametrize(("values", "field"), [
    ({"stall_timeout": 0.0}, "stall_timeout"),
    ({"deadline_share": 0.0}, "deadline_share"),
    ({"deadline_share": 1.5}, "deadline_share"),
    ({"lockout_cooldown": -1.0}, "lockout_cooldown"),
])
def test_policy_config_refuses_values_it_cannot_use(values: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        PolicyConfig(**values)  # type: ignore[arg-type]
    assert info.value.field == field


def test_of_turns_alias_lists_into_route_sets() -> None:
    a, b = FakeLLM(name="a"), FakeLLM(name="b")
    ra, rb = Route("a", "m", a), Route("b", "m", b)
    policy = FailoverPolicy.of(ra, rb, aliases={"both": [rb, ra]})
    assert policy.router.resolve("both").routes == (rb, ra)


class Counting(FakeLLM):
    """Counts tokens, or raises what it was given, and counts its closes."""

    def __init__(self, name: str, error: Exception | None = None, tokens: int = 7) -> None:
        super().__init__(name=name)
        self.error, self.tokens, self.closes = error, tokens, 0

    async def count_tokens(self, request: CompletionRequest) -> int:
        if self.error is not None:
            raise self.error
        return self.tokens

    async def aclose(self) -> None:
        self.closes += 1
        await super().aclose()


async def test_count_tokens_fails_over_and_reports_every_route(clock: FakeClock) -> None:
    clock.advance(100.0)  # durations are differences of the clock's readings, not readings
    long = "x" * 300
    down, bug, ok = Counting("p", ProviderUnavailable(long, status=503)), Counting("q", RuntimeError("bug")), \
        Counting("r", tokens=42)
    assert await make_policy(down, bug, ok, clock=clock).count_tokens(ask()) == 42
    with pytest.raises(AllProvidersFailed) as info:
        await make_policy(down, bug, clock=clock).count_tokens(ask())
    first, second = info.value.attempts
    assert (first.route, first.error, first.status, first.attempt) == ("p/m-p", "ProviderUnavailable", 503, 1)
    assert first.message == long[:200] and first.duration == 0.0
    assert second.route == "q/m-q" and second.attempt == 1
    assert info.value.__cause__ is None or isinstance(info.value.__cause__, LLMError)


async def test_count_tokens_raises_the_requests_own_fault_at_once(clock: FakeClock) -> None:
    bad, ok = Counting("p", InvalidRequest("too long", status=400)), Counting("r", tokens=3)
    with pytest.raises(InvalidRequest):
        await make_policy(bad, ok, clock=clock).count_tokens(ask())


async def test_count_tokens_skips_open_routes(clock: FakeClock) -> None:
    flaky = FakeLLM(ProviderUnavailable("503", status=503), name="p")
    policy = make_policy(flaky, clock=clock, retry=RetryPolicy(1, 0, 0),
                         breaker=BreakerConfig(failure_threshold=1, cooldown=30))
    with pytest.raises(AllProvidersFailed):
        await policy.complete(ask())  # opens the breaker
    with pytest.raises(AllProvidersFailed) as info:
        await policy.count_tokens(ask())
    (skipped,) = info.value.attempts
    assert (skipped.error, skipped.attempt, skipped.duration, skipped.status) == ("CircuitOpen", 0, 0.0, None)
    assert info.value.status is None
    assert not flaky.requests[1:]  # never asked to count


async def test_aclose_closes_each_adapter_once_and_only_once() -> None:
    shared = Counting("p")
    policy = FailoverPolicy.of(Route("p", "a", shared), Route("p", "b", shared))
    await policy.aclose()
    await policy.aclose()
    assert shared.closes == 1
    with pytest.raises(LLMError):
        await shared.complete(CompletionRequest(model="m", messages=[Message.user("hi")]))


class _Broken(RecordingObserver):
    """Records each event, then fails as a buggy observer would."""

    def on_attempt(self, event: AttemptEvent) -> None:
        super().on_attempt(event)
        raise RuntimeError("observer bug")


@pytest.mark.parametrize("observer", [RecordingObserver(), _Broken(), None])
async def test_a_route_that_cannot_serve_is_reported_in_full_and_never_called(
        clock: FakeClock, observer: RecordingObserver | None) -> None:
    small = FakeLLM(name="small")
    big = FakeLLM(default="from big", name="big")
    limited = Route("small", "s", small, info=ModelInfo("small", "s", max_output_tokens=100))
    unlimited = Route("big", "b", big)
    policy = FailoverPolicy.of(limited, unlimited, aliases={"smart": [limited, unlimited]}, clock=clock,
                               observer=observer)
    assert (await policy.complete(ask(max_tokens=500))).text == "from big"
    assert small.requests == []
    if observer is None:
        return
    skipped, ok = observer.attempts
    assert skipped == AttemptEvent(
        "small/s", 0, "skipped", "unservable", None, 0.0, None, "closed", "smart",
        detail="max_tokens 500 is above the model's output limit 100", provider="small", model="s",
    )
    assert (ok.route, ok.outcome) == ("big/b", "ok")


# -- hedged attempts finishing together, a policy used on two event loops ---------------------------


def _answering_after(gate: asyncio.Event, reply: Completion | BaseException) -> FakeLLM:
    """An adapter whose ``complete`` waits for ``gate``, then answers or raises ``reply``."""

    class Waiting(FakeLLM):
        async def complete(self, request: CompletionRequest) -> Completion:
            await gate.wait()
            if isinstance(reply, BaseException):
                raise reply
            return reply

    return Waiting(name="p")


def _opening(gate: asyncio.Event, reply: Completion | BaseException) -> FakeLLM:
    """An adapter whose ``complete`` opens ``gate`` and answers at once: the other attempt finishes
    in the loop's next turn, before the policy looks at what is done."""

    class Opening(FakeLLM):
        async def complete(self, request: CompletionRequest) -> Completion:
            gate.set()
            if isinstance(reply, BaseException):
                raise reply
            return reply

    return Opening(name="b")


def _answer(text: str) -> Completion:
    return Completion((TextPart(text),), StopReason("end_turn", "end_turn"), Usage(1, 1))


async def test_an_answer_wins_over_the_requests_own_fault_finishing_in_the_same_instant(clock: FakeClock) -> None:
    gate = asyncio.Event()
    policy = make_policy(_answering_after(gate, InvalidRequest("bad", status=400)), _opening(gate, _answer("hedged")),
                         clock=clock, hedge=HedgeConfig(delay=0.0))
    assert (await policy.complete(ask())).text == "hedged"


class _Abort(BaseException):
    """Not an ``Exception``: what an adapter may let through that is no error of the taxonomy."""


async def test_a_base_exception_from_a_hedged_attempt_propagates(clock: FakeClock) -> None:
    never = asyncio.Event()
    policy = make_policy(_answering_after(never, _answer("never")), _opening(asyncio.Event(), _Abort()), clock=clock,
                         hedge=HedgeConfig(delay=0.0))
    with pytest.raises(_Abort):
        await policy.complete(ask())


def test_a_policy_used_on_two_event_loops_limits_attempts_on_each() -> None:
    slow = FakeLLM(FakeReply(latency=5.0), FakeReply(latency=5.0), name="p")
    observer = RecordingObserver()
    policy = make_policy(slow, FakeLLM(default="backup", name="b"), observer=observer, attempt_timeout=0.01,
                         retry=RetryPolicy(1, 0, 0))
    for _ in range(2):
        assert asyncio.run(policy.complete(ask())).text == "backup"
    assert [(e.route, e.error) for e in observer.attempts] == [("p/m-p", "Timeout"), ("b/m-b", None)] * 2


class _Waits(FakeLLM):
    """``complete`` moves the policy's clock by ``advance``, then waits for ``gate`` (never, when
    None: only cancelling ends it) and answers with its name."""

    def __init__(self, name: str, clock: FakeClock, gate: asyncio.Event | None = None, advance: float = 0.0) -> None:
        super().__init__(name=name)
        self.clock, self.gate, self.advance = clock, gate or asyncio.Event(), advance

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        self.clock.advance(self.advance)
        await self.gate.wait()
        return _answer(f"from {self.name}")


async def _spin() -> None:
    for _ in range(20):  # many turns of the loop: whatever the policy starts now has started
        await asyncio.sleep(0)


async def test_hedges_stop_at_max_hedges(clock: FakeClock) -> None:
    gate = asyncio.Event()
    p, q, r = _Waits("p", clock), _Waits("q", clock, gate), FakeLLM(default="from r", name="r")
    policy = make_policy(p, q, r, clock=clock, hedge=HedgeConfig(delay=0.0, max_hedges=1))
    call = asyncio.ensure_future(policy.complete(ask()))
    await _spin()
    assert (len(p.requests), len(q.requests), r.requests) == (1, 1, [])  # one hedge, no third route
    gate.set()
    assert (await call).text == "from q"


async def test_no_hedge_before_its_delay(clock: FakeClock) -> None:
    gate = asyncio.Event()
    p, b = _Waits("p", clock, gate), FakeLLM(default="from b", name="b")
    policy = make_policy(p, b, clock=clock, hedge=HedgeConfig(delay=1000.0))
    call = asyncio.ensure_future(policy.complete(ask()))
    await _spin()
    assert b.requests == []
    gate.set()
    assert (await call).text == "from p"


class _SlowAdmission(MemoryPolicyState):
    """Every admission takes the awaited round trip; the first takes ``seconds`` on the policy's clock."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__(BreakerConfig())
        self.clock, self.seconds = clock, seconds

    def admit_now(self, route: str, now: float) -> Admission:  # type: ignore[override]
        return ASK

    async def admit(self, route: str, now: float) -> Permit | None:
        self.clock.advance(self.seconds)
        self.seconds = 0.0
        return MemoryPolicyState.admit_now(self, route, now)


async def test_the_time_an_attempt_already_took_counts_toward_the_hedge_delay(clock: FakeClock) -> None:
    """The first attempt's admission took the whole delay (on the policy's clock): hedge at once."""
    p, b = _Waits("p", clock), FakeLLM(default="from b", name="b")
    routes = [Route("p", "m-p", p), Route("b", "m-b", b)]
    policy = FailoverPolicy(Router(routes, {"smart": RouteSet("smart", tuple(routes))}), clock=clock,
                            state=_SlowAdmission(clock, 1000.0), config=PolicyConfig(hedge=HedgeConfig(delay=1000.0)))
    assert (await policy.complete(ask())).text == "from b"


async def test_count_tokens_skips_a_route_cooling_for_less_than_a_second(clock: FakeClock) -> None:
    cooling, ok = Counting("p", tokens=1), Counting("q", tokens=42)
    policy = make_policy(cooling, ok, clock=clock)
    policy.state.note_retry_after("p/m-p", clock.now, 0.5)
    assert await policy.count_tokens(ask()) == 42


async def test_count_tokens_fails_over_on_an_error_only_another_route_may_not_share(clock: FakeClock) -> None:
    small, big = Counting("p", ContextLengthExceeded("too long", status=400)), Counting("q", tokens=42)
    assert await make_policy(small, big, clock=clock).count_tokens(ask()) == 42


@pytest.mark.parametrize("given", [False, True])
async def test_aclose_closes_the_state_only_when_the_policy_made_it(
        monkeypatch: pytest.MonkeyPatch, given: bool) -> None:
    closed: list[MemoryPolicyState] = []

    async def record(state: MemoryPolicyState) -> None:
        closed.append(state)

    monkeypatch.setattr(MemoryPolicyState, "aclose", record)
    state = MemoryPolicyState() if given else None
    policy = FailoverPolicy.of(Route("p", "m", FakeLLM(name="p")), state=state)
    await policy.aclose()
    assert closed == ([] if given else [policy.state])


def test_the_shared_skipped_route_values_are_bounded_at_4096(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route names can come from callers: the cache of skipped-route values starts over when full."""
    monkeypatch.setattr(failover, "_SKIPPED", {})
    adapter = FakeLLM(name="p")
    for i in range(4096):
        failover._skipped(Route("p", f"m{i}", adapter), "CircuitOpen", "open")
    assert len(failover._SKIPPED) == 4096
    failover._skipped(Route("p", "one more", adapter), "CircuitOpen", "open")
    assert list(failover._SKIPPED) == [("p/one more", "CircuitOpen", "open")]


async def test_the_next_hedge_waits_its_delay_from_the_newest_attempt(clock: FakeClock) -> None:
    """The first admission takes the whole delay: the first hedge starts at once; the second waits a
    full delay counted from the first hedge's start, not from the first attempt's."""
    gate = asyncio.Event()
    p, q, r = _Waits("p", clock), _Waits("q", clock, gate), FakeLLM(default="from r", name="r")
    state = _SlowAdmission(clock, 1000.0)
    routes = [Route("p", "m-p", p), Route("q", "m-q", q), Route("r", "m-r", r)]
    policy = FailoverPolicy(Router(routes, {"smart": RouteSet("smart", tuple(routes))}), clock=clock, state=state,
                            config=PolicyConfig(hedge=HedgeConfig(delay=1000.0, max_hedges=2)))
    call = asyncio.ensure_future(policy.complete(ask()))
    await _spin()
    assert (len(p.requests), len(q.requests), r.requests) == (1, 1, [])
    gate.set()
    assert (await call).text == "from q"
