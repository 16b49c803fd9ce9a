"""OpenTelemetry's cost: a call through the failover policy with telemetry on (the SDK with an
in-memory span exporter and metric reader: spans and metrics really recorded) and off (what the
container builds without ``LLMPORT_TELEMETRY__ENABLED``), each against the bare policy.

The upstream is ``FakeLLM`` (no network), so the figures are llmport's own CPU time. Targets: on
adds <= 30 us a call; off adds nothing measurable (<= 2 us, the noise floor of these rounds).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from benchmarks.harness import Case, complete_text, measure_cases, request, stream_text
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


@asynccontextmanager
async def cases() -> AsyncIterator[list[Case]]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llmport.adapters.opentelemetry import Telemetry, TelemetryObserver, TracingLLM

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    telemetry = Telemetry(tracer_provider, meter_provider)
    bare = _policy()
    on = TracingLLM(_policy(TelemetryObserver(telemetry)), telemetry)
    off = traced_llm(_policy(), None)
    plain = request(ALIAS)

    async def on_complete() -> object:
        text = (await on.complete(plain)).text
        exporter.clear()  # the exporter keeps every span: the memory must not grow over the rounds
        return text

    try:
        yield [
            Case("telemetry on, complete", complete_text(bare, plain), on_complete, 1000, TEXT, ON),
            Case("telemetry on, stream", stream_text(bare, plain), stream_text(on, plain), 500, TEXT, ON),
            Case("telemetry off, complete", complete_text(bare, plain), complete_text(off, plain), 2000, TEXT, OFF),
        ]
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


def run() -> list[Any]:
    return asyncio.run(measure_cases("otel", cases()))
