"""The request span of a stream at its edges: a stream refused before it opens, an inner stream
failing as it closes, the inner stream's own attributes through the traced one, a hedge that
answers after the primary attempt failed (no failover), and the observer outside any request."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from llmport.adapters.opentelemetry import TelemetryObserver, TracingLLM
from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.domain import CompletionRequest, InvalidRequest, Message, ProviderUnavailable, StreamEvent
from llmport.domain.events import completion_events
from llmport.ports import HedgeConfig, Route
from llmport.ports.observer import AttemptEvent

from .otel_kit import ANSWER, Otel, ask, stack


async def test_a_stream_refused_before_it_opens_records_its_duration(otel: Otel) -> None:
    llm = stack(otel, Route("p1", "m1", FakeLLM(default=ANSWER, name="p1")))
    started = time.perf_counter()
    with pytest.raises(InvalidRequest):
        async with llm.stream(CompletionRequest(model="nope", messages=[Message.user("hi")])):
            pass
    elapsed = time.perf_counter() - started
    (point,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert point.attributes["error.type"] == "InvalidRequest" and 0 < point.sum <= elapsed


class _FailsOnClose:
    """An inner stream that yields a whole answer, then fails as it closes."""

    def __init__(self) -> None:
        self.events = iter(completion_events(ANSWER))
        self.route = "inner-route"

    async def __aenter__(self) -> _FailsOnClose:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        raise ProviderUnavailable("closing failed")

    def __aiter__(self) -> _FailsOnClose:
        return self

    async def __anext__(self) -> StreamEvent:
        try:
            return next(self.events)
        except StopIteration:
            raise StopAsyncIteration from None


class _Inner:
    def stream(self, request: CompletionRequest) -> _FailsOnClose:
        return _FailsOnClose()

    async def complete(self, request: CompletionRequest) -> Any:
        raise NotImplementedError


async def test_an_inner_stream_failing_as_it_closes_ends_the_request_span_as_an_error(otel: Otel) -> None:
    llm = TracingLLM(_Inner(), otel.telemetry)  # type: ignore[arg-type]
    started = time.perf_counter()
    with pytest.raises(ProviderUnavailable, match="closing failed"):
        async with llm.stream(ask()) as events:
            assert [e async for e in events]
    elapsed = time.perf_counter() - started
    root = otel.request_span()
    assert root.status.status_code is StatusCode.ERROR and root.attributes["error.type"] == "ProviderUnavailable"
    assert root.attributes["llmport.outcome"] == "error" and "gen_ai.response.id" not in root.attributes
    (point,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert point.attributes["error.type"] == "ProviderUnavailable" and 0 < point.sum <= elapsed


async def test_the_traced_stream_offers_the_inner_streams_attributes_once_open(otel: Otel) -> None:
    llm = TracingLLM(_Inner(), otel.telemetry)  # type: ignore[arg-type]
    stream = llm.stream(ask())
    assert not hasattr(stream, "_events")  # not open yet: ours, never looked up on the inner stream
    with pytest.raises(AttributeError):
        stream.route  # noqa: B018 - nothing to ask before the stream opens
    with pytest.raises(ProviderUnavailable):
        async with stream as events:
            assert stream.route == "inner-route"
            [e async for e in events]


async def _read(stream: Any) -> list[StreamEvent]:
    async with stream as events:
        return [e async for e in events]


async def test_a_hedge_answering_after_the_primary_failed_is_no_failover(otel: Otel) -> None:
    failing = FakeLLM(default=FakeReply(error=ProviderUnavailable("down", status=503), latency=0.05), name="p1")
    slow = FakeLLM(default=FakeReply(ANSWER, latency=0.3), name="p2")
    llm = stack(otel, Route("p1", "m1", failing), Route("p2", "m2", slow), hedge=HedgeConfig(delay=0.01))
    assert await _read(llm.stream(ask()))
    spans = {s.attributes["llmport.route"]: s for s in otel.attempts()}
    assert spans["p1/m1"].attributes["llmport.outcome"] == "error"
    assert spans["p2/m2"].attributes["llmport.hedge"] is True and spans["p2/m2"].attributes["llmport.outcome"] == "ok"
    root = otel.request_span()
    assert root.attributes["llmport.route"] == "p2/m2" and root.attributes["gen_ai.provider.name"] == "p2"
    assert "llmport.failovers" not in otel.metrics()  # the hedge answered: no failover


@pytest.mark.parametrize("hedge", [False, True])
def test_the_observer_outside_any_request_never_raises(otel: Otel, hedge: bool) -> None:
    """A ``PolicyObserver`` must not raise: in a fan-out, the observers after it would miss the event."""
    event = AttemptEvent("p1/m1", 1, "ok", None, None, 0.01, None, "closed", "a", hedge=hedge, provider="p1",
                         model="m1")
    TelemetryObserver(otel.telemetry).on_attempt(event)  # no request span current: a span of its own
    (span,) = otel.finished()
    assert span.parent is None and span.attributes["llmport.hedge"] is hedge
