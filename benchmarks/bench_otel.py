"""OpenTelemetry's cost: a call through the failover policy with telemetry on (the SDK with an
in-memory span exporter and metric reader: spans and metrics really recorded) and off (what the
container builds without ``LLMPORT_TELEMETRY__ENABLED``), each against the bare policy, in process
CPU time over interleaved rounds.

The upstream is ``FakeLLM`` (no network), so the figures are llmport's own CPU time. Targets: on
adds <= 30 us a call; off adds nothing measurable (<= 2 us, the noise floor of these rounds).

The other rows split "on" into the SDK's share and llmport's. Each is a bare policy call followed by
records made with the SDK alone (no llmport code), minus the bare call, in the same rounds, so the
SDK works amid the same code as in a traced call rather than in a tight loop that keeps its caches
warm:

- ``SDK floor``: the least the issue asks of a successful call: a request span and its attempt
  span (kind CLIENT, the child of the request span) with the attributes the issue lists for them,
  the duration histogram point and the two token-usage points.
  The same records made back to back with nothing else (``alone in a tight loop``) show the
  SDK's cost at its most favourable, caches warm.
- ``SDK alone, same records``: exactly what one traced call recorded (captured once: every span
  with its kind, parent, final attributes, events and status; every histogram point with its value
  and attributes), replayed.
- ``llmport's own part``: "on" minus the same records, per round: what llmport adds on top of the
  SDK's work for the records it makes.
- ``llmport's code, no-op providers``: telemetry on with OpenTelemetry's no-op tracer and meter
  providers (the SDK does nothing): llmport's own code alone, a cross-check of the row above.

On a slow shared machine the SDK alone exceeds the 30 us target; these rows show by how much.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from benchmarks.harness import Case, complete_text, request, stream_text
from benchmarks.stats import Result, Stat, cpu_batch, interleave, ratios, rounds
from llmport.adapters.testing.fake import FakeLLM
from llmport.composition.telemetry_factory import traced_llm
from llmport.ports import FailoverPolicy, PolicyConfig, PolicyObserver, Route, Router, RouteSet

MODEL, ALIAS = "fake-model", "smart"
TEXT = "Hamlet avenges his father and everyone dies."
ON, OFF = ("overhead", 30e-6), ("overhead", 2e-6)  # targets, seconds
Op = Callable[[], Awaitable[object]]

# The minimum for one successful call (the benchmark request sets max_tokens).
_REQUEST_SPAN: dict[str, Any] = {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "fake", "gen_ai.request.model": ALIAS,
    "gen_ai.request.max_tokens": 256, "gen_ai.response.model": MODEL, "gen_ai.response.id": "fake-1",
    "gen_ai.response.finish_reasons": ("stop",), "gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 7,
    "llmport.route": f"fake/{MODEL}", "llmport.cache.hit": False, "llmport.outcome": "ok",
    "llmport.request_id": "0123456789abcdef",
}
_ATTEMPT_SPAN: dict[str, Any] = {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "fake", "gen_ai.request.model": MODEL,
    "llmport.route": f"fake/{MODEL}", "llmport.attempt": 1, "llmport.breaker.state": "closed",
    "llmport.hedge": False, "llmport.outcome": "ok", "llmport.request_id": "0123456789abcdef",
}
_SERIES = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "fake", "gen_ai.request.model": ALIAS}


def _policy(observer: PolicyObserver | None = None) -> FailoverPolicy:
    route = Route("fake", MODEL, FakeLLM(default=TEXT, name="fake"))
    kw: dict[str, Any] = {} if observer is None else {"observer": observer}
    return FailoverPolicy(Router([route], {ALIAS: RouteSet(ALIAS, (route,))}), config=PolicyConfig(), **kw)


def _then(op: Op, after: Callable[[], None]) -> Op:
    """``op``, then ``after`` (records replayed, or the exporter emptied: it keeps every span)."""
    async def run() -> object:
        result = await op()
        after()
        return result
    return run


class _Capture:
    """Stands in for one of ``Telemetry``'s histograms during one call: notes every point."""

    def __init__(self, instrument: Any, points: list[tuple[Any, float, Any]]) -> None:
        self.instrument, self.points = instrument, points

    def record(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        self.points.append((self.instrument, amount, attributes))
        self.instrument.record(amount, attributes, context)


_HISTOGRAMS = ("duration", "tokens", "ttft", "per_chunk")


async def _recorded(op: Op, telemetry: Any, exporter: Any) -> tuple[list[Any], list[tuple[Any, float, Any]]]:
    """The spans (in start order) and histogram points of one call of ``op``."""
    exporter.clear()
    points: list[tuple[Any, float, Any]] = []
    real = {name: getattr(telemetry, name) for name in _HISTOGRAMS}
    for name, instrument in real.items():
        setattr(telemetry, name, _Capture(instrument, points))
    try:
        await op()
    finally:
        for name, instrument in real.items():
            setattr(telemetry, name, instrument)
    spans = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)
    exporter.clear()
    return spans, points


def _replay(tracer: Any, exporter: Any, spans: Sequence[Any], points: Sequence[tuple[Any, float, Any]]
            ) -> Callable[[], None]:
    """The SDK alone making ``spans`` (same tree, kinds, attributes, events, status) and ``points``."""
    from opentelemetry.trace import set_span_in_context

    plan = []  # (name, kind, attributes, index of the parent or -1, events, status)
    index = {s.context.span_id: i for i, s in enumerate(spans)}
    for s in spans:
        parent = index.get(s.parent.span_id, -1) if s.parent is not None else -1
        events = [(e.name, dict(e.attributes or {})) for e in s.events]
        plan.append((s.name, s.kind, dict(s.attributes or {}), parent, events, s.status))

    def replay() -> None:
        made: list[Any] = []
        for name, kind, attributes, parent, events, status in plan:
            context = set_span_in_context(made[parent]) if parent >= 0 else None
            span = tracer.start_span(name, context=context, kind=kind, attributes=attributes)
            for event, event_attributes in events:
                span.add_event(event, event_attributes)
            if not status.is_unset:
                span.set_status(status)
            made.append(span)
        for span in reversed(made):  # children first
            span.end()
        for instrument, amount, attributes in points:
            instrument.record(amount, attributes)
        exporter.clear()
    return replay


@dataclass(frozen=True, slots=True)
class _Sides:
    """One kind of call (complete or stream), measured side by side in the same rounds."""

    kind: str
    n: int
    bare: Op
    on: Op
    noop: Op
    same: Op  # the bare call, then the SDK alone making the records of one traced call
    floor: Op | None = None  # the bare call, then the SDK alone making the minimum
    floor_alone: Op | None = None  # the minimum alone, back to back (the SDK's caches warm)


@asynccontextmanager
async def cases() -> AsyncIterator[tuple[list[_Sides], Case]]:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, set_span_in_context

    from llmport.adapters.opentelemetry import Telemetry, TelemetryObserver, TracingLLM

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(tracer_provider, meter_provider)
    noop = Telemetry(trace.NoOpTracerProvider(), metrics.NoOpMeterProvider())
    bare = _policy()
    on = TracingLLM(_policy(TelemetryObserver(telemetry)), telemetry)
    on_noop = TracingLLM(_policy(TelemetryObserver(noop)), noop)
    off = traced_llm(_policy(), None)
    plain = request(ALIAS)
    tracer = tracer_provider.get_tracer("sdk-alone")

    def floor() -> None:
        outer = tracer.start_span(f"chat {ALIAS}", kind=SpanKind.CLIENT, attributes=_REQUEST_SPAN)
        tracer.start_span(f"chat {MODEL}", context=set_span_in_context(outer), kind=SpanKind.CLIENT,
                          attributes=_ATTEMPT_SPAN).end()
        outer.end()
        telemetry.duration.record(0.001, _SERIES)
        telemetry.tokens.record(11, {**_SERIES, "gen_ai.token.type": "input"})
        telemetry.tokens.record(7, {**_SERIES, "gen_ai.token.type": "output"})
        exporter.clear()

    async def _text() -> object:
        return TEXT

    sides = []
    for kind, call, n in (("complete", complete_text, 1000), ("stream", stream_text, 500)):
        spans, points = await _recorded(call(on, plain), telemetry, exporter)
        sides.append(_Sides(
            kind, n, call(bare, plain), _then(call(on, plain), exporter.clear), call(on_noop, plain),
            _then(call(bare, plain), _replay(tracer, exporter, spans, points)),
            _then(call(bare, plain), floor) if kind == "complete" else None,
            _then(_text, floor) if kind == "complete" else None,
        ))
    try:
        yield sides, Case("telemetry off, complete", complete_text(bare, plain), complete_text(off, plain), 2000,
                          TEXT, OFF)
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


def _less(a: Sequence[float], b: Sequence[float]) -> Stat:
    """Per round, ``a`` minus ``b`` (sides measured in the same round)."""
    return Stat.of([x - y for x, y in zip(a, b, strict=True)])


async def measure() -> list[Result]:
    """Every side in CPU time, interleaved per kind of call; differences taken per round."""
    out: list[Result] = []
    n_rounds = rounds(9, 3)
    async with cases() as (table, off):
        for s in table:
            ops = [s.bare, s.on, s.noop, s.same] + [op for op in (s.floor, s.floor_alone) if op is not None]
            for op in ops:
                if await op() != TEXT:
                    raise RuntimeError(f"otel {s.kind}: a side gave another answer")
            samples = await interleave([cpu_batch(op, s.n, 1) for op in ops], n_rounds)
            bare, on, noop, same = samples[:4]
            name = f"telemetry on, {s.kind}"
            out += [
                Result("otel", name, "us", Stat.of(on), Stat.of(bare), ratios(bare, on)),
                Result("otel", f"{name}: overhead", "us", _less(on, bare), target=ON[1]),
                Result("otel", f"  {s.kind}: SDK alone, same records", "us", _less(same, bare)),
                Result("otel", f"  {s.kind}: llmport's own part", "us", _less(on, same)),
                Result("otel", f"  {s.kind}: llmport's code, no-op SDK", "us", _less(noop, bare)),
            ]
            if s.floor is not None and s.floor_alone is not None:
                out += [Result("otel", f"  {s.kind}: SDK floor (issue's minimum)", "us", _less(samples[4], bare)),
                        Result("otel", f"  {s.kind}: SDK floor, alone in a tight loop", "us", Stat.of(samples[5]))]
        if (await off.baseline(), await off.ours()) != (TEXT, TEXT):
            raise RuntimeError("otel off: baseline and llmport disagree on the answer")
        b, o = await interleave([cpu_batch(off.baseline, off.n, 1), cpu_batch(off.ours, off.n, 1)], n_rounds)
        assert off.target is not None
        out += [Result("otel", off.name, "us", Stat.of(o), Stat.of(b), ratios(b, o)),
                Result("otel", f"{off.name}: overhead", "us", _less(o, b), target=off.target[1])]
    return out


def run() -> list[Any]:
    return asyncio.run(measure())
