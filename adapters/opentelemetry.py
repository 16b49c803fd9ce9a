"""OpenTelemetry for llmport (extra ``llmport[otel]``: ``opentelemetry-api``; the host brings the SDK).

``TracingLLM`` is a pipeline step: one span per request (``chat {alias-or-model}``), a child of the
host's current span, with GenAI semantic-convention attributes. ``TelemetryObserver`` is a
``PolicyObserver``: one child span per attempt (``chat {model}``, started at the attempt's start),
an event on the request span for a skipped route, and llmport's metrics. No prompt or completion
text is recorded unless ``capture_content`` is on; no credential ever reaches an attribute.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmport.domain import Completion, CompletionRequest, LLMError, StreamEnd, StreamEvent
from llmport.ports import LLMPort
from llmport.ports.observer import AttemptEvent, BreakerTransition
from llmport.ports.pipeline import LLMStep

_SCOPE = "llmport"
_CHAT = "chat"


class Telemetry:
    """The tracer and instruments (from the global providers unless the host passes its own)."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None, *, capture_content: bool = False) -> None:
        self.tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
        self.capture_content = capture_content
        self.duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s",
                                               description="GenAI operation duration")
        self.tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}",
                                             description="Tokens used per request, by type")
        self.ttft = meter.create_histogram("gen_ai.client.operation.time_to_first_chunk", unit="s",
                                           description="Time to the first content of a stream")
        self.per_chunk = meter.create_histogram("gen_ai.client.operation.time_per_output_chunk", unit="s",
                                                description="Time between output chunks of a stream")
        self.attempts = meter.create_counter("llmport.attempts", unit="{attempt}", description="Attempts by outcome")
        self.retries = meter.create_counter("llmport.retries", unit="{attempt}", description="Retried attempts")
        self.failovers = meter.create_counter("llmport.failovers", unit="{request}",
                                              description="Requests answered by another route than their first")
        self.breaker_changes = meter.create_counter("llmport.breaker.transitions", unit="{transition}",
                                                    description="Circuit breaker state changes")
        self.cost = meter.create_counter("llmport.cost", unit="USD", description="Cost of every attempt")
        self.cache_hits = meter.create_counter("llmport.cache.hits", unit="{request}", description="Cache hits")


def _request_attributes(request: CompletionRequest) -> dict[str, Any]:
    attrs: dict[str, Any] = {"gen_ai.operation.name": _CHAT, "gen_ai.request.model": request.model}
    if request.max_tokens is not None:
        attrs["gen_ai.request.max_tokens"] = request.max_tokens
    if request.temperature is not None:
        attrs["gen_ai.request.temperature"] = request.temperature
    if request.top_p is not None:
        attrs["gen_ai.request.top_p"] = request.top_p
    return attrs


class TracingLLM(LLMStep):
    """The request span around the rest of the pipeline."""

    def __init__(self, inner: LLMPort, telemetry: Telemetry) -> None:
        super().__init__(inner)
        self.telemetry = telemetry

    def _start(self, request: CompletionRequest) -> trace.Span:
        span = self.telemetry.tracer.start_span(f"{_CHAT} {request.model}", kind=SpanKind.CLIENT,
                                                attributes=_request_attributes(request))
        if self.telemetry.capture_content:
            span.add_event("gen_ai.user.message", {"content": "\n".join(m.text for m in request.messages)})
        return span

    async def complete(self, request: CompletionRequest) -> Completion:
        span = self._start(request)
        start = time.perf_counter()
        with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            try:
                answer = await self.inner.complete(request)
            except BaseException as exc:
                self._failed(span, request, exc, time.perf_counter() - start)
                raise
        self._answered(span, request, answer, time.perf_counter() - start)
        return answer

    def stream(self, request: CompletionRequest) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        return self._stream(request)

    @asynccontextmanager
    async def _stream(self, request: CompletionRequest) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        span = self._start(request)
        start = time.perf_counter()
        ctx = trace.set_span_in_context(span)
        token = otel_context.attach(ctx)
        try:
            inner = self.inner.stream(request)
            events = await inner.__aenter__()
        except BaseException as exc:
            self._failed(span, request, exc, time.perf_counter() - start)
            raise
        finally:
            otel_context.detach(token)
        traced = _TracedEvents(events, ctx)
        try:
            yield traced
        except BaseException as exc:
            self._failed(span, request, exc, time.perf_counter() - start)
            await inner.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        token = otel_context.attach(ctx)
        try:
            await inner.__aexit__(None, None, None)
        finally:
            otel_context.detach(token)
        if traced.failure is not None:
            self._failed(span, request, traced.failure, time.perf_counter() - start)
        elif traced.answer is not None:
            self._answered(span, request, traced.answer, time.perf_counter() - start)
        else:  # the caller left before the end
            span.set_attribute("llmport.outcome", "cancelled")
            span.end()

    def _answered(self, span: trace.Span, request: CompletionRequest, answer: Completion | StreamEnd,
                  duration: float) -> None:
        t = self.telemetry
        provider = answer.provider or ""
        attrs: dict[str, Any] = {"gen_ai.provider.name": provider, "llmport.outcome": "ok",
                                 "gen_ai.response.finish_reasons": (answer.stop_reason.kind,)}
        if answer.model:
            attrs["gen_ai.response.model"] = answer.model
        if answer.response_id:
            attrs["gen_ai.response.id"] = answer.response_id
        if answer.request_cost is not None:
            attrs["llmport.cost_usd"] = float(answer.request_cost)
            t.cost.add(float(answer.request_cost), {"gen_ai.request.model": request.model})
        cached = isinstance(answer, Completion) and answer.cached
        attrs["llmport.cache.hit"] = cached
        usage = answer.usage if isinstance(answer, Completion) else None
        if usage is not None and usage.reported:
            attrs["gen_ai.usage.input_tokens"] = usage.input_tokens
            attrs["gen_ai.usage.output_tokens"] = usage.output_tokens
        span.set_attributes(attrs)
        if t.capture_content and isinstance(answer, Completion):
            span.add_event("gen_ai.choice", {"content": answer.text})
        span.end()
        metric = {"gen_ai.operation.name": _CHAT, "gen_ai.provider.name": provider,
                  "gen_ai.request.model": request.model}
        t.duration.record(duration, metric)
        if usage is not None and usage.reported:
            t.tokens.record(usage.input_tokens, {**metric, "gen_ai.token.type": "input"})
            t.tokens.record(usage.output_tokens, {**metric, "gen_ai.token.type": "output"})
        timing = answer.timing
        if timing.time_to_first_token is not None:
            t.ttft.record(timing.time_to_first_token, metric)
            if timing.total is not None and timing.events > 1:
                t.per_chunk.record((timing.total - timing.time_to_first_token) / (timing.events - 1), metric)

    def _failed(self, span: trace.Span, request: CompletionRequest, exc: BaseException, duration: float) -> None:
        kind = type(exc).__name__
        cancelled = not isinstance(exc, Exception)
        span.set_attribute("llmport.outcome", "cancelled" if cancelled else "error")
        if not cancelled:
            span.set_attribute("error.type", kind)
            span.set_status(Status(StatusCode.ERROR, kind))
            if isinstance(exc, LLMError) and exc.request_cost is not None:
                span.set_attribute("llmport.cost_usd", float(exc.request_cost))
            self.telemetry.duration.record(duration, {"gen_ai.operation.name": _CHAT,
                                                      "gen_ai.request.model": request.model, "error.type": kind})
        span.end()


class _TracedEvents:
    """The inner events, each read with the request span current (so attempt spans nest under it)."""

    __slots__ = ("_ctx", "_events", "answer", "failure")

    def __init__(self, events: AsyncIterator[StreamEvent], ctx: otel_context.Context) -> None:
        self._events = events
        self._ctx = ctx
        self.answer: StreamEnd | None = None
        self.failure: Exception | None = None

    def __aiter__(self) -> _TracedEvents:
        return self

    def __getattr__(self, name: str) -> Any:  # ``route`` and the like of the inner stream
        return getattr(self._events, name)

    async def __anext__(self) -> StreamEvent:
        token = otel_context.attach(self._ctx)
        try:
            event = await self._events.__anext__()
        except StopAsyncIteration:
            raise
        except Exception as exc:
            self.failure = exc
            raise
        finally:
            otel_context.detach(token)
        if type(event) is StreamEnd:
            self.answer = event
        return event


class TelemetryObserver:
    """Attempt spans (children of the current request span) and llmport's counters."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._first: dict[int, str] = {}  # request span id -> the route its first attempt used

    def on_attempt(self, event: AttemptEvent) -> None:
        t = self.telemetry
        parent = trace.get_current_span()
        outcome = event.outcome
        t.attempts.add(1, {"llmport.outcome": outcome, "llmport.route": event.route})
        if outcome == "skipped":
            parent.add_event("llmport.route.skipped", {"llmport.route": event.route,
                                                       "llmport.breaker.state": event.breaker})
            return
        if outcome == "cached":
            t.cache_hits.add(1, {"gen_ai.request.model": event.target})
            parent.set_attribute("llmport.cache.hit", True)
            return
        if outcome == "enriched":
            return
        if event.attempt > 1:
            t.retries.add(1, {"llmport.route": event.route})
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": _CHAT, "gen_ai.provider.name": event.provider,
            "gen_ai.request.model": event.model, "llmport.route": event.route, "llmport.attempt": event.attempt,
            "llmport.breaker.state": event.breaker, "llmport.hedge": event.hedge, "llmport.outcome": outcome,
        }
        if event.request_id:
            attrs["llmport.request_id"] = event.request_id
        if event.usage is not None:
            attrs["gen_ai.usage.input_tokens"] = event.usage.input_tokens
            attrs["gen_ai.usage.output_tokens"] = event.usage.output_tokens
        if event.status is not None:
            attrs["http.response.status_code"] = event.status
        if event.error is not None:
            attrs["error.type"] = event.error
        end = time.time_ns()
        span = t.tracer.start_span(f"{_CHAT} {event.model}", kind=SpanKind.CLIENT, attributes=attrs,
                                   start_time=end - int(event.latency * 1e9))
        if outcome == "error" or outcome == "interrupted":
            span.set_status(Status(StatusCode.ERROR, event.error or outcome))
        if event.time_to_first_token is not None:
            t.ttft.record(event.time_to_first_token, {"gen_ai.provider.name": event.provider,
                                                      "gen_ai.request.model": event.model})
        span.end(end_time=end)
        key = parent.get_span_context().span_id
        first = self._first.setdefault(key, event.route) if key else event.route
        if outcome == "ok":
            self._first.pop(key, None)
            parent.set_attribute("llmport.route", event.route)
            if first != event.route:
                t.failovers.add(1, {"llmport.route": event.route})
        elif len(self._first) > 4096:  # requests that never succeeded: forget the oldest
            self._first.pop(next(iter(self._first)))

    def on_breaker(self, transition: BreakerTransition) -> None:
        self.telemetry.breaker_changes.add(1, {"llmport.route": transition.route, "llmport.breaker.state":
                                               transition.new})
        trace.get_current_span().add_event("llmport.breaker", {"llmport.route": transition.route,
                                                               "llmport.breaker.state": transition.new})
