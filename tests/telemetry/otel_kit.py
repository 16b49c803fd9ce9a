"""What the telemetry tests share: the OpenTelemetry SDK with an in-memory span exporter and metric
reader, a traced policy over routes, the prompt no attribute may carry, and the check for it."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmport.adapters.opentelemetry import Telemetry, TelemetryObserver, TracingLLM
from llmport.domain import Completion, CompletionRequest, Message, StopReason, TextPart, Usage
from llmport.ports import FailoverPolicy, RetryPolicy, Route, Router, RouteSet
from llmport.ports.failover import PolicyConfig

PROMPT = "the secret plan is in the attic"
ANSWER = Completion((TextPart("fine answer"),), StopReason("end_turn"), Usage(3, 5), response_id="resp-1")


class Otel:
    def __init__(self, *, capture_content: bool = False) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(tracer_provider, self.meter_provider,
                                   capture_content=capture_content)
        self.tracer_provider = tracer_provider

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def request_span(self) -> ReadableSpan:
        (span,) = [s for s in self.finished() if s.name == "chat a"]
        return span

    def attempts(self) -> list[ReadableSpan]:
        root = self.request_span()
        return [s for s in self.finished() if s.parent is not None and s.parent.span_id == root.context.span_id]

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    found.setdefault(m.name, []).extend(m.data.data_points)
        return found


def stack(otel: Otel, *routes: Route, **config: Any) -> TracingLLM:
    policy = FailoverPolicy(Router(list(routes), {"a": RouteSet("a", tuple(routes))}),
                            config=PolicyConfig(retry=RetryPolicy(2, base_delay=0.0), **config),
                            observer=TelemetryObserver(otel.telemetry))
    return TracingLLM(policy, otel.telemetry)


def ask() -> CompletionRequest:
    return CompletionRequest(model="a", messages=[Message.user(PROMPT)], max_tokens=50, temperature=0.5,
                             top_p=0.9)


def no_prompt_anywhere(otel: Otel, *secrets: str) -> None:
    for span in otel.finished():
        texts = [str(v) for v in span.attributes.values()] + [
            str(v) for e in span.events for v in (e.attributes or {}).values()]
        for text in texts:
            assert PROMPT not in text
            for secret in secrets:
                assert secret not in text
