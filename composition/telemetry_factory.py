"""Builds the OpenTelemetry pieces when ``LLMPORT_TELEMETRY__ENABLED`` is on; with it off nothing of
OpenTelemetry is imported."""

from __future__ import annotations

from typing import Any

from llmport.ports import FailoverPolicy, FanoutObserver, LLMPort, PolicyObserver

from .settings import Settings, SettingsError


def build_telemetry(settings: Settings, tracer_provider: Any = None, meter_provider: Any = None) -> Any:
    """The ``Telemetry`` (global providers unless a host injects its own), or None when disabled."""
    if not settings.telemetry.enabled:
        return None
    try:
        from llmport.adapters.opentelemetry import Telemetry
    except ImportError:
        raise SettingsError("LLMPORT_TELEMETRY__ENABLED needs opentelemetry-api: install llmport[otel]") from None
    return Telemetry(tracer_provider, meter_provider, capture_content=settings.telemetry.capture_content)


def traced_observer(observer: PolicyObserver, telemetry: Any) -> PolicyObserver:
    """``observer`` plus the attempt spans when telemetry is on."""
    if telemetry is None:
        return observer
    from llmport.adapters.opentelemetry import TelemetryObserver

    return FanoutObserver(observer, TelemetryObserver(telemetry))


def traced_llm(llm: LLMPort, telemetry: Any, policy: FailoverPolicy | None = None) -> LLMPort:
    """``llm`` inside the request span when telemetry is on (outermost: the span covers every step);
    ``policy``'s routes and adapters give attempt spans their vendor endpoint and price."""
    if telemetry is None:
        return llm
    from llmport.adapters.opentelemetry import TracingLLM

    if policy is not None:
        telemetry.describe(policy.router.all_routes(), policy.router.adapters)
    return TracingLLM(llm, telemetry)
