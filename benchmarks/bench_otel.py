"""OpenTelemetry's cost: a call through the failover policy with telemetry on (the SDK with an
in-memory span exporter and metric reader: spans and metrics really recorded) and off (what the
container builds without ``LLMPORT_TELEMETRY__ENABLED``), each against the bare policy, in process
CPU time over interleaved rounds.

The upstream is ``FakeLLM`` (no network), so the figures are llmport's own CPU time. Targets: on
adds <= 30 us a call; off adds nothing measurable (<= 2 us, the noise floor of these rounds).

Two rows put "on" in context. ``SDK floor`` is what the OpenTelemetry SDK itself charges for the
least a traced call records (a request span and an attempt span without attributes, the duration
and two token-usage histogram points), with no llmport code. ``SDK, same records`` replays exactly
the spans (with their final attributes) and metric points one traced call produced, again with no
llmport code: "on" minus this row is llmport's own share. On a slow shared machine the SDK alone
can exceed the 30 us target; the rows show by how much.
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
async def cases() -> AsyncIterator[tuple[list[Case], list[Case]]]:
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

    # One traced call's records, replayed by the SDK alone (attributes as the spans ended with).
    exporter.clear()
    await on.complete(plain)
    root, attempt = sorted(exporter.get_finished_spans(), key=lambda s: s.parent is not None)
    exporter.clear()
    root_attrs, attempt_attrs = dict(root.attributes or {}), dict(attempt.attributes or {})
    usage = telemetry.series("fake", ALIAS)

    async def same_records() -> object:
        outer = tracer.start_span(root.name, attributes=root_attrs)
        tracer.start_span(attempt.name, attributes=attempt_attrs).end()
        outer.end()
        telemetry.duration.record(0.1, usage[0])
        telemetry.tokens.record(10, usage[1])
        telemetry.tokens.record(20, usage[2])
        exporter.clear()
        return TEXT

    try:
        yield [
            Case("telemetry on, complete", complete_text(bare, plain),
                 _cleared(complete_text(on, plain), exporter.clear), 1000, TEXT, ON),
            Case("telemetry on, stream", stream_text(bare, plain),
                 _cleared(stream_text(on, plain), exporter.clear), 500, TEXT, ON),
            Case("telemetry off, complete", complete_text(bare, plain), complete_text(off, plain), 2000, TEXT, OFF),
        ], [Case("SDK floor (2 spans, 3 histogram points)", nothing, floor, 1000, TEXT),
            Case("SDK, same records as one traced call", nothing, same_records, 1000, TEXT)]
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


async def measure() -> list[Result]:
    """Every case's two sides in CPU time, interleaved; the SDK's own rows as absolute rows."""
    out: list[Result] = []
    n_rounds = rounds(9, 3)
    async with cases() as (table, sdk):
        for case in table:
            if (await case.baseline(), await case.ours()) != (case.expect, case.expect):
                raise RuntimeError(f"otel {case.name}: baseline and llmport disagree on the answer")
            b, o = await interleave([cpu_batch(case.baseline, case.n, 1), cpu_batch(case.ours, case.n, 1)], n_rounds)
            out.append(Result("otel", case.name, "us", Stat.of(o), Stat.of(b), ratios(b, o)))
            assert case.target is not None
            out.append(Result("otel", f"{case.name}: overhead", "us",
                              Stat.of([y - x for x, y in zip(b, o, strict=True)]), target=case.target[1]))
        samples = await interleave([cpu_batch(case.ours, case.n, 1) for case in sdk], n_rounds)
        out.extend(Result("otel", case.name, "us", Stat.of(s)) for case, s in zip(sdk, samples, strict=True))
    return out


def run() -> list[Any]:
    return asyncio.run(measure())
