"""Settings of OpenTelemetry (``telemetry``; needs ``llmport[otel]``).

As environment variables::

    LLMPORT_TELEMETRY__ENABLED=true          # spans and metrics through the global (or injected) providers
    LLMPORT_TELEMETRY__CAPTURE_CONTENT=true  # also prompt and answer text, as the GenAI content event (default off)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TelemetrySettings(BaseModel):
    """``telemetry``: OpenTelemetry spans and metrics, off by default."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    enabled: bool = False
    capture_content: bool = False
