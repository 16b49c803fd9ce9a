"""OpenTelemetry for llmport (extra ``llmport[otel]``: ``opentelemetry-api``; the host brings the SDK).

``TracingLLM`` is a pipeline step: one span per request (``chat {alias-or-model}``), a child of the
host's current span, with GenAI semantic-convention attributes. ``TelemetryObserver`` is a
``PolicyObserver``: one child span per attempt (``chat {model}``, started at the attempt's start),
an event on the request span for a skipped route, and llmport's counters. No prompt or completion
text is recorded unless ``capture_content`` is on; no credential ever reaches an attribute.

Cheap by construction (a host pays this on every call): each span gets its attributes in one call,
the attributes of a route and of a metric series are built once and reused, and llmport's counters
are in-memory sums that observable counters read at collection time (one dict update per event
instead of an SDK measurement).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmport.domain import (
    Completion,
    CompletionRequest,
    LLMError,
    StreamEnd,
    StreamEvent,
    Usage,
    UsageUpdate,
)
from llmport.domain.events import Accumulator
from llmport.domain.pricing import ModelPrice
from llmport.ports import LLMPort
from llmport.ports.correlation import REQUEST_ID_KEY, bind, request_id_of, unbind
from llmport.ports.observer import AttemptEvent, BreakerTransition, SkippedRoutes
from llmport.ports.pipeline import LLMStep
from llmport.ports.routing import Route

from .opentelemetry_content import DETAILS_EVENT, finish_reason, input_attributes, output_attributes
from .opentelemetry_server import server_attributes

_SCOPE = "llmport"
_CHAT = "chat"
_REQUEST = otel_context.create_key("llmport.request")  # the _Request of the call in progress
_CACHE_LIMIT = 4096  # attribute sets kept per kind: more distinct models than this start afresh
_NETWORK = frozenset({"ok", "error", "cancelled", "lost", "interrupted"})
_FAILED = frozenset({"error", "interrupted"})
Attributes = dict[str, Any]


class _Tally:
    """A monotonic sum per attribute set, kept in memory and reported by an observable counter."""

    __slots__ = ("_lock", "names", "sums")

    def __init__(self, *names: str) -> None:
        self.names = names
        self.sums: dict[tuple[Any, ...], float] = {}
        self._lock = threading.Lock()  # event loops in several threads may count at once

    def add(self, key: tuple[Any, ...], value: float = 1) -> None:
        with self._lock:
            self.sums[key] = self.sums.get(key, 0) + value

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            items = list(self.sums.items())
        return [Observation(value, dict(zip(self.names, key, strict=True))) for key, value in items]


class _Counters:
    """llmport's counters of one meter (shared by every ``Telemetry`` on it: the SDK keeps the
    callbacks of an observable instrument's first registration only)."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.attempts = _Tally("llmport.outcome", "llmport.route")
        self.retries = _Tally("llmport.route")
        self.failovers = _Tally("llmport.route")
        self.breaker_changes = _Tally("llmport.route", "llmport.breaker.state")
        self.cost = _Tally("gen_ai.request.model")
        self.cache_hits = _Tally("gen_ai.request.model")
        for name, unit, description, tally in (
            ("llmport.attempts", "{attempt}", "Attempts by outcome", self.attempts),
            ("llmport.retries", "{attempt}", "Retried attempts", self.retries),
            ("llmport.failovers", "{request}", "Requests answered by another route than their first", self.failovers),
            ("llmport.breaker.transitions", "{transition}", "Circuit breaker state changes", self.breaker_changes),
            ("llmport.cost", "USD", "Cost of the requests (every attempt)", self.cost),
            ("llmport.cache.hits", "{request}", "Requests a response cache answered", self.cache_hits),
        ):
            meter.create_observable_counter(name, callbacks=[tally.observe], unit=unit, description=description)


_COUNTERS: weakref.WeakKeyDictionary[Any, _Counters] = weakref.WeakKeyDictionary()
_COUNTERS_LOCK = threading.Lock()


def _counters(meter: metrics.Meter) -> _Counters:
    with _COUNTERS_LOCK:
        found = _COUNTERS.get(meter)
        if found is None:
            found = _COUNTERS[meter] = _Counters(meter)
        return found


class Telemetry:
    """The tracer, the instruments (from the global providers unless the host passes its own) and
    what is known of the routes (``describe``)."""

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
        self.counters = _counters(meter)
        self._servers: dict[str, dict[str, str | int]] = {}  # provider -> server.address / server.port
        self._prices: dict[str, ModelPrice] = {}  # route name -> price
        self._routes: dict[tuple[str, str, str], Attributes] = {}  # (route, provider, model) -> span attributes
        self._series: dict[tuple[str, str], tuple[Attributes, Attributes, Attributes]] = {}

    def describe(self, routes: Iterable[Route], adapters: Mapping[str, object] | None = None) -> None:
        """Learn each route's vendor endpoint (``server.address``/``server.port`` of its attempt
        spans) and price (``llmport.cost_usd`` of its attempts); ``adapters``: every provider's
        adapter, for the routes a request names on demand (``provider/model``)."""
        for provider, adapter in (adapters or {}).items():
            self._server(provider, adapter)
        for route in routes:
            self._server(route.provider, route.adapter)
            if route.price is not None:
                self._prices[route.name] = route.price
        self._routes.clear()

    def _server(self, provider: str, adapter: object) -> None:
        server = server_attributes(adapter)
        if server:
            self._servers[provider] = server

    def price(self, route: str) -> ModelPrice | None:
        return self._prices.get(route)

    def route_attributes(self, route: str, provider: str, model: str) -> Attributes:
        """The attributes every attempt span of this route shares (built once)."""
        key = (route, provider, model)
        attrs = self._routes.get(key)
        if attrs is None:
            if len(self._routes) >= _CACHE_LIMIT:
                self._routes.clear()
            attrs = self._routes[key] = {
                "gen_ai.operation.name": _CHAT, "gen_ai.provider.name": provider, "gen_ai.request.model": model,
                "llmport.route": route, **self._servers.get(provider, {}),
            }
        return attrs

    def series(self, provider: str, model: str) -> tuple[Attributes, Attributes, Attributes]:
        """The metric attributes of a request for ``model`` answered by ``provider``: the operation's,
        and those of its input and output token counts (built once)."""
        key = (provider, model)
        found = self._series.get(key)
        if found is None:
            if len(self._series) >= _CACHE_LIMIT:
                self._series.clear()
            base = {"gen_ai.operation.name": _CHAT, "gen_ai.provider.name": provider, "gen_ai.request.model": model}
            found = self._series[key] = (base, {**base, "gen_ai.token.type": "input"},
                                         {**base, "gen_ai.token.type": "output"})
        return found


class _Request:
    """One traced request: its span, and what its attempts told about it."""

    __slots__ = ("cache_hit", "first_route", "provider", "request_id", "route", "span")

    def __init__(self, span: trace.Span, request_id: str) -> None:
        self.span = span
        self.request_id = request_id
        self.first_route: str | None = None
        self.route: str | None = None
        self.provider = ""  # the answering route's provider (an answer may not name it)
        self.cache_hit = False


def _request_attributes(request: CompletionRequest, request_id: str) -> Attributes:
    attrs: Attributes = {"gen_ai.operation.name": _CHAT, "gen_ai.request.model": request.model,
                         "llmport.request_id": request_id}
    if request.max_tokens is not None:
        attrs["gen_ai.request.max_tokens"] = request.max_tokens
    if request.temperature is not None:
        attrs["gen_ai.request.temperature"] = request.temperature
    if request.top_p is not None:
        attrs["gen_ai.request.top_p"] = request.top_p
    if request.tenant_id is not None:
        attrs["llmport.tenant"] = request.tenant_id
    for key, value in request.metadata.items():
        if key != REQUEST_ID_KEY:
            attrs[f"llmport.tag.{key}"] = value
    return attrs


def _usage_attributes(attrs: Attributes, usage: Usage | None) -> None:
    if usage is not None and usage.reported:
        attrs["gen_ai.usage.input_tokens"] = usage.input_tokens
        attrs["gen_ai.usage.output_tokens"] = usage.output_tokens


class TracingLLM(LLMStep):
    """The request span around the rest of the pipeline."""

    def __init__(self, inner: LLMPort, telemetry: Telemetry) -> None:
        super().__init__(inner)
        self.telemetry = telemetry

    def _start(self, request: CompletionRequest) -> tuple[_Request, otel_context.Context]:
        rid = request_id_of(request)  # bound for the steps within, so every one reports the same id
        span = self.telemetry.tracer.start_span(f"{_CHAT} {request.model}", kind=SpanKind.CLIENT,
                                                attributes=_request_attributes(request, rid))
        state = _Request(span, rid)
        return state, otel_context.set_value(_REQUEST, state, trace.set_span_in_context(span))

    async def complete(self, request: CompletionRequest) -> Completion:
        state, ctx = self._start(request)
        start = time.perf_counter()
        token = otel_context.attach(ctx)
        bound = bind(state.request_id)
        try:
            answer = await self.inner.complete(request)
        except BaseException as exc:
            self._failed(state, request, exc, time.perf_counter() - start)
            raise
        finally:
            unbind(bound)
            otel_context.detach(token)
        self._answered(state, request, answer, answer.usage, time.perf_counter() - start, answer)
        return answer

    def stream(self, request: CompletionRequest) -> TracedStream:
        return TracedStream(self, request)

    def _answered(self, state: _Request, request: CompletionRequest, answer: Completion | StreamEnd,
                  usage: Usage | None, duration: float, content: Completion | None,
                  chunks: list[float] | None = None) -> None:
        """End the request span of an answered call and record its metrics; ``chunks``: a stream's
        content arrival times (``perf_counter``), None for a whole completion."""
        t = self.telemetry
        provider = answer.provider or state.provider
        attrs: Attributes = {"gen_ai.provider.name": provider, "llmport.outcome": "ok",
                             "gen_ai.response.finish_reasons": (finish_reason(answer.stop_reason),),
                             "llmport.cache.hit": state.cache_hit or (isinstance(answer, Completion) and answer.cached)}
        if answer.model:
            attrs["gen_ai.response.model"] = answer.model
        if answer.response_id:
            attrs["gen_ai.response.id"] = answer.response_id
        if state.route is not None:
            attrs["llmport.route"] = state.route
        cost = answer.request_cost
        if cost is not None:
            attrs["llmport.cost_usd"] = float(cost)
            t.counters.cost.add((request.model,), float(cost))
        _usage_attributes(attrs, usage)
        span = state.span
        span.set_attributes(attrs)
        if t.capture_content and content is not None:
            span.add_event(DETAILS_EVENT, {**input_attributes(request), **output_attributes(content)})
        span.end()
        base, tokens_in, tokens_out = t.series(provider, request.model)
        t.duration.record(duration, base)
        if usage is not None and usage.reported:
            t.tokens.record(usage.input_tokens, tokens_in)
            t.tokens.record(usage.output_tokens, tokens_out)
        if chunks is not None:  # a stream: the two stream metrics (the conventions: for streams only)
            ttft = answer.timing.time_to_first_token
            if ttft is not None:
                t.ttft.record(ttft, base)
            per_chunk = t.per_chunk
            for i in range(1, len(chunks)):  # one point per chunk after the first, as the conventions say
                per_chunk.record(chunks[i] - chunks[i - 1], base)

    def _failed(self, state: _Request, request: CompletionRequest, exc: BaseException, duration: float) -> None:
        if not isinstance(exc, Exception):  # cancelled (or the process is going down)
            self._cancelled(state, request)
            return
        t = self.telemetry
        kind = type(exc).__name__
        span = state.span
        attrs: Attributes = {"llmport.outcome": "error", "error.type": kind}
        if isinstance(exc, LLMError) and exc.request_cost is not None:
            attrs["llmport.cost_usd"] = float(exc.request_cost)
            t.counters.cost.add((request.model,), float(exc.request_cost))
        span.set_attributes(attrs)
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, kind))
        if t.capture_content:
            span.add_event(DETAILS_EVENT, input_attributes(request))
        span.end()
        t.duration.record(duration, {**t.series("", request.model)[0], "error.type": kind})

    def _cancelled(self, state: _Request, request: CompletionRequest) -> None:
        span = state.span
        span.set_attribute("llmport.outcome", "cancelled")
        if self.telemetry.capture_content:
            span.add_event(DETAILS_EVENT, input_attributes(request))
        span.end()


class TracedStream:
    """``TracingLLM.stream``: the inner stream inside the request span. Each event is read with the
    request's context current (attempt spans nest under the request span); the final event, the
    last usage, each content chunk's arrival time and (content capture) the answer are noted for the
    span and the stream metrics. One object serves as the context manager and the event iterator:
    a stream pays one wrapper, not a generator and a wrapper."""

    __slots__ = ("_ctx", "_events", "_inner", "_llm", "_request", "_start", "_state", "answer", "chunks", "content",
                 "failure", "usage")

    def __init__(self, llm: TracingLLM, request: CompletionRequest) -> None:
        self._llm = llm
        self._request = request
        self.answer: StreamEnd | None = None
        self.usage: Usage | None = None
        self.chunks: list[float] = []  # when each content event reached the caller (time per output chunk)
        self.failure: Exception | None = None
        self.content = Accumulator() if llm.telemetry.capture_content else None

    async def __aenter__(self) -> TracedStream:
        llm, request = self._llm, self._request
        self._state, self._ctx = state, ctx = llm._start(request)
        self._start = time.perf_counter()
        token = otel_context.attach(ctx)
        bound = bind(state.request_id)
        try:
            self._inner = llm.inner.stream(request)
            self._events = await self._inner.__aenter__()
        except BaseException as exc:
            llm._failed(state, request, exc, time.perf_counter() - self._start)
            raise
        finally:
            unbind(bound)
            otel_context.detach(token)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        llm, request, state = self._llm, self._request, self._state
        if exc is not None:
            try:
                await self._close(exc)
            finally:  # after the inner stream reported its last attempt, which must nest under this span
                llm._failed(state, request, exc, time.perf_counter() - self._start)
            return
        try:
            await self._close(None)
        except BaseException as failed:
            llm._failed(state, request, failed, time.perf_counter() - self._start)
            raise
        if self.failure is not None:
            llm._failed(state, request, self.failure, time.perf_counter() - self._start)
        elif self.answer is not None:
            content = None
            if self.content is not None:
                self.content.add(self.answer)
                content = self.content.partial()
            llm._answered(state, request, self.answer, self.usage, time.perf_counter() - self._start, content,
                          self.chunks)
        else:  # the caller left before the end
            llm._cancelled(state, request)

    async def _close(self, exc: BaseException | None) -> None:
        """Close the inner stream with the request's context current and its id bound (the
        attempt it ends reports under the request span)."""
        token = otel_context.attach(self._ctx)
        bound = bind(self._state.request_id)
        try:
            if exc is None:
                await self._inner.__aexit__(None, None, None)
            else:
                await self._inner.__aexit__(type(exc), exc, exc.__traceback__)
        finally:
            unbind(bound)
            otel_context.detach(token)

    def __aiter__(self) -> TracedStream:
        return self

    def __getattr__(self, name: str) -> Any:  # ``route`` and the like of the inner stream
        if name.startswith("_"):  # a slot of ours not set yet: never the inner stream's
            raise AttributeError(name)
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
        kind = type(event)
        if kind is StreamEnd:
            self.answer = event  # type: ignore[assignment]
            return event
        if kind is UsageUpdate:
            self.usage = event.usage  # type: ignore[union-attr]
        else:  # a content chunk: its time, for the per-chunk metric recorded when the stream ends
            self.chunks.append(time.perf_counter())
        if self.content is not None:
            self.content.add(event)
        return event


class TelemetryObserver:
    """Attempt spans (children of the current request span) and llmport's counters."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def on_skipped(self, skipped: SkippedRoutes) -> None:
        """Each skipped route: an event on the request span, counted as a ``skipped`` attempt."""
        for event in skipped.attempts():
            self.on_attempt(event)

    def on_attempt(self, event: AttemptEvent) -> None:
        t = self.telemetry
        counters = t.counters
        outcome = event.outcome
        route = event.route
        counters.attempts.add((outcome, route))
        state: _Request | None = otel_context.get_value(_REQUEST)  # type: ignore[assignment]
        if outcome not in _NETWORK:
            self._step(event, state)
            return
        attrs: Attributes = {**t.route_attributes(route, event.provider, event.model), "llmport.attempt": event.attempt,
                             "llmport.breaker.state": event.breaker, "llmport.hedge": event.hedge,
                             "llmport.outcome": outcome}
        if event.request_id:
            attrs["llmport.request_id"] = event.request_id
        _usage_attributes(attrs, event.usage)
        if event.usage is not None:
            price = t.price(route)
            if price is not None:
                attrs["llmport.cost_usd"] = float(price.usage_cost(event.usage))
        if event.status is not None:
            attrs["http.response.status_code"] = event.status
        if event.error is not None:
            attrs["error.type"] = event.error
        end = time.time_ns()
        span = t.tracer.start_span(f"{_CHAT} {event.model}", kind=SpanKind.CLIENT, attributes=attrs,
                                   start_time=end - int(event.latency * 1e9))
        if outcome in _FAILED:
            span.set_status(Status(StatusCode.ERROR, event.error or outcome))
        span.end(end_time=end)
        if event.attempt > 1:
            counters.retries.add((route,))
        if state is None:
            return
        if event.hedge:  # an extra attempt in parallel: neither the first route nor a failover
            if outcome == "ok":
                state.route, state.provider = route, event.provider
            return
        if state.first_route is None:  # the primary chain's attempts are reported in the order made
            state.first_route = route
        if outcome == "ok":
            state.route, state.provider = route, event.provider
            if route != state.first_route:
                counters.failovers.add((route,))

    def _step(self, event: AttemptEvent, state: _Request | None) -> None:
        """A route skipped (an event on the request span), or a step that answered without a
        vendor call (a response cache hit)."""
        if event.outcome == "skipped":
            span = state.span if state is not None else trace.get_current_span()
            span.add_event("llmport.route.skipped", {"llmport.route": event.route,
                                                     "llmport.breaker.state": event.breaker,
                                                     "llmport.reason": event.error or ""})
        elif event.outcome == "cached":
            self.telemetry.counters.cache_hits.add((event.target,))
            if state is not None:
                state.cache_hit = True

    def on_breaker(self, transition: BreakerTransition) -> None:
        self.telemetry.counters.breaker_changes.add((transition.route, transition.new))
        state: _Request | None = otel_context.get_value(_REQUEST)  # type: ignore[assignment]
        span = state.span if state is not None else trace.get_current_span()
        span.add_event("llmport.breaker", {"llmport.route": transition.route, "llmport.breaker.state": transition.new,
                                           "llmport.breaker.previous": transition.old})


