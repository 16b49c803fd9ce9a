"""Priming a route's stream, edges a mutation run found untested: a stream that ends before any
event fails over, and a stream that fails before its first content is closed before failing over.

The routes here implement ``LLMPort`` by hand (as a host's own adapter may), so nothing but the
policy closes their stream contexts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import (
    AllProvidersFailed,
    Completion,
    CompletionRequest,
    ProviderUnavailable,
    StreamEvent,
    Usage,
    UsageUpdate,
)
from llmport.ports import RecordingObserver, RetryPolicy

from .conftest import FakeClock, ask, make_policy


class _Stream:
    """A stream context that yields ``events`` then raises ``error`` (or ends), recording its exit."""

    def __init__(self, events: list[StreamEvent], error: Exception | None) -> None:
        self._events = list(events)
        self._error = error
        self.exited = False

    async def __aenter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.exited = True

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._events:
            return self._events.pop(0)
        if self._error is not None:
            raise self._error
        raise StopAsyncIteration


class _HandWritten(FakeLLM):
    """Streams come from ``_Stream``: no adapter base closes anything on the policy's behalf."""

    def __init__(self, events: list[StreamEvent], error: Exception | None, name: str) -> None:
        super().__init__(name=name)
        self._script = (events, error)
        self.streams: list[_Stream] = []

    def stream(self, request: CompletionRequest) -> _Stream:  # type: ignore[override]
        self.requests.append(request)
        opened = _Stream(*self._script)
        self.streams.append(opened)
        return opened

    async def complete(self, request: CompletionRequest) -> Completion:
        raise AssertionError("only streams here")


async def _read(policy: object) -> str:
    async with policy.stream(ask()) as events:  # type: ignore[attr-defined]
        async for _ in events:
            pass
        return events.partial().text  # type: ignore[no-any-return]


async def test_a_stream_that_ends_without_any_event_fails_over(clock: FakeClock) -> None:
    empty = _HandWritten([], None, name="p")
    observer = RecordingObserver()
    policy = make_policy(empty, FakeLLM(default="backup", name="b"), clock=clock, observer=observer,
                         retry=RetryPolicy(1, 0, 0))
    assert await _read(policy) == "backup"
    failed = observer.attempts[0]
    assert (failed.route, failed.outcome, failed.error) == ("p/m-p", "error", "ProviderUnavailable")
    assert [s.exited for s in empty.streams] == [True]


async def test_a_stream_failing_before_content_is_closed_before_the_next_route(clock: FakeClock) -> None:
    broken = _HandWritten([UsageUpdate(Usage(input_tokens=3))], ProviderUnavailable("reset", provider="p"), name="p")
    policy = make_policy(broken, FakeLLM(default="backup", name="b"), clock=clock, retry=RetryPolicy(1, 0, 0))
    assert await _read(policy) == "backup"
    assert [s.exited for s in broken.streams] == [True]


async def test_an_empty_stream_on_the_only_route_says_so(clock: FakeClock) -> None:
    policy = make_policy(_HandWritten([], None, name="p"), clock=clock, retry=RetryPolicy(1, 0, 0))
    with pytest.raises(AllProvidersFailed) as info:
        await _read(policy)
    cause = info.value.__cause__
    assert isinstance(cause, ProviderUnavailable) and "without any event" in cause.message
