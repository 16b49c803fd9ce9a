from __future__ import annotations

from collections.abc import Iterator

import pytest

from .otel_kit import Otel


@pytest.fixture
def otel() -> Iterator[Otel]:
    """The OpenTelemetry SDK with an in-memory span exporter and metric reader, and a ``Telemetry`` on it."""
    o = Otel()
    yield o
    o.tracer_provider.shutdown()
