"""Hedging: when the first attempt is slow to produce output, start the next route in parallel."""

from __future__ import annotations

from llmport.domain import InvalidRequest
from llmport.domain.frozen import valueclass


@valueclass
class HedgeConfig:
    """Start a hedge after ``delay`` seconds without a first token, or, with ``delay`` None, after
    the route's observed ``percentile`` time to first token (``fallback_delay`` until enough
    samples exist), never sooner than ``min_delay``. At most ``max_hedges`` extra attempts run."""

    delay: float | None = None
    percentile: float = 0.95
    fallback_delay: float = 1.0
    min_delay: float = 0.01
    max_hedges: int = 1

    def __post_init__(self) -> None:
        if self.delay is not None and self.delay < 0:
            raise InvalidRequest("hedge delay must not be negative", field="hedge")
        if not 0.0 < self.percentile < 1.0 or self.max_hedges < 1 or self.fallback_delay < 0:
            raise InvalidRequest("hedge percentile must be in (0, 1) and max_hedges at least 1", field="hedge")

    def delay_for(self, observed: float | None) -> float:
        """The wait before hedging, given the route's observed percentile (None if unknown)."""
        if self.delay is not None:
            return self.delay
        return max(self.min_delay, observed if observed is not None else self.fallback_delay)
