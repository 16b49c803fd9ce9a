"""OpenTelemetry's cost: a call through the failover policy with telemetry on (the SDK with an
in-memory span exporter and metric reader: spans and metrics really recorded) and off (what the
container builds without ``LLMPORT_TELEMETRY__ENABLED``), each against the bare policy, in process
CPU time over interleaved rounds.

The upstream is ``FakeLLM`` (no network), so the figures are llmport's own CPU time. Targets: on
adds <= 30 us a call; off adds nothing measurable (<= 2 us, the noise floor of these rounds).

The ``SDK floor`` row is what the OpenTelemetry SDK itself charges for the least a traced call
records (a request span and an attempt span with no attributes, the duration and two token-usage
histogram points), with no llmport code: the part of "on" that no instrumentation can avoid.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from benchmarks.harness import Case, complete_text, request, stream_text
from benchmarks.stats import Result, Stat, cpu_batch, interleave, ratios, rounds
from llmport.adapters.testing.fake import FakeLLM
from llmport.composition.telemetry_factory import traced_llm
from llmport.ports import FailoverPolicy, PolicyConfig, PolicyObserver, Route, Router, RouteSet

MODEL, ALIAS = "fake-model", "smart"
TEXT = "Hamlet avenges his father and everyone dies."
ON, OFF = ("overhead", 30e-6), ("overhead", 2e-6)  # targets, seconds


def _policy(observer: PolicyObserver | None = None) -> FailoverPolicy:
    route = Route("fake", MODEL, FakeLLM(default=TEXT, name="fake"))
    kw: dict[str, Any] = {} if observer is None else {"observer": observer}
    return FailoverPolicy(Router([route], {ALIAS: RouteSet(ALIAS, (route,))}), config=PolicyConfig(), **kw)


def _cleared(op: Callable[[], Awaitable[object]], clear: Callable[[], None]) -> Callable[[], Awaitable[object]]:
    """``op``, then the exporter emptied (it keeps every span: memory must not grow over the rounds)."""
    async def run() -> object:
        result = await op()
        clear()
        return result
    return run


@asynccontextmanager
async def cases() -> AsyncIterator[tuple[list[Case], Case]]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llmport.adapters.opentelemetry import Telemetry, TelemetryObserver, TracingLLM

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(tracer_provider, meter_provider)
    bare = _policy()
    on = TracingLLM(_policy(TelemetryObserver(telemetry)), telemetry)
    off = traced_llm(_policy(), None)
    plain = request(ALIAS)

    tracer = tracer_provider.get_tracer("floor")
    meter = meter_provider.get_meter("floor")
    histogram = meter.create_histogram("floor.duration")
    series = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "fake", "gen_ai.request.model": ALIAS}

    async def floor() -> object:
        outer = tracer.start_span("chat")
        tracer.start_span("chat").end()
        outer.end()
        histogram.record(0.1, series)
        histogram.record(10, series)
        histogram.record(20, series)
        exporter.clear()
        return TEXT

    async def nothing() -> object:
        return TEXT

    try:
        yield [
            Case("telemetry on, complete", complete_text(bare, plain),
                 _cleared(complete_text(on, plain), exporter.clear), 1000, TEXT, ON),
            Case("telemetry on, stream", stream_text(bare, plain),
                 _cleared(stream_text(on, plain), exporter.clear), 500, TEXT, ON),
            Case("telemetry off, complete", complete_text(bare, plain), complete_text(off, plain), 2000, TEXT, OFF),
        ], Case("SDK floor (2 spans, 3 histogram points)", nothing, floor, 1000, TEXT)
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


async def measure() -> list[Result]:
    """Every case's two sides in CPU time, interleaved; the floor as an absolute row."""
    out: list[Result] = []
    n_rounds = rounds(9, 3)
    async with cases() as (table, floor):
        for case in table:
            if (await case.baseline(), await case.ours()) != (case.expect, case.expect):
                raise RuntimeError(f"otel {case.name}: baseline and llmport disagree on the answer")
            b, o = await interleave([cpu_batch(case.baseline, case.n, 1), cpu_batch(case.ours, case.n, 1)], n_rounds)
            out.append(Result("otel", case.name, "us", Stat.of(o), Stat.of(b), ratios(b, o)))
            assert case.target is not None
            out.append(Result("otel", f"{case.name}: overhead", "us",
                              Stat.of([y - x for x, y in zip(b, o, strict=True)]), target=case.target[1]))
        (samples,) = await interleave([cpu_batch(floor.ours, floor.n, 1)], n_rounds)
        out.append(Result("otel", floor.name, "us", Stat.of(samples)))
    return out


def run() -> list[Any]:
    return asyncio.run(measure())
