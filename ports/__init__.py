"""Protocols the core needs, and the failover policy that implements ``LLMPort`` over many.
(Typed structured output, ``llmport.ports.structured``, is imported on first use of its names.)"""

from typing import TYPE_CHECKING, Any

from .backoff import RetryBudget, RetryPolicy
from .breaker import BreakerConfig, CircuitBreaker
from .clock import SYSTEM_CLOCK, Clock, SystemClock
from .failover import FailoverPolicy, PolicyConfig, PolicyStream
from .hedging import HedgeConfig
from .llm import LLMPort
from .memory_state import MemoryPolicyState
from .observer import (
    AttemptEvent,
    BreakerState,
    BreakerTransition,
    FanoutObserver,
    NullObserver,
    PolicyObserver,
    RecordingObserver,
    SkippedRoute,
    SkippedRoutes,
)
from .routing import Route, Router, RouteSet, RouteStats
from .state import BreakerView, Permit, PolicyState
from .strategies import Cheapest, LeastBusy, LowestLatency, Priority, Strategy, Weighted, strategy

if TYPE_CHECKING:
    from .structured import OutputInvalid, OutputValidator, Structured, StructuredLLM, StructuredMode, StructuredUpdate

_STRUCTURED = frozenset({"OutputInvalid", "OutputValidator", "Structured", "StructuredLLM", "StructuredMode",
                         "StructuredUpdate"})


def __getattr__(name: str) -> Any:
    if name not in _STRUCTURED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import structured

    value = getattr(structured, name)
    globals()[name] = value
    return value

__all__ = [
    "SYSTEM_CLOCK", "AttemptEvent", "BreakerConfig", "BreakerState", "BreakerTransition", "BreakerView",
    "Cheapest", "CircuitBreaker", "Clock", "FailoverPolicy", "FanoutObserver", "HedgeConfig", "LLMPort",
    "LeastBusy", "LowestLatency", "MemoryPolicyState", "NullObserver", "Permit", "PolicyConfig", "PolicyObserver",
    "PolicyState", "PolicyStream", "Priority", "RecordingObserver", "RetryBudget", "RetryPolicy", "Route",
    "RouteSet", "RouteStats", "Router", "SkippedRoute", "SkippedRoutes", "Strategy", "SystemClock", "Weighted",
    "strategy",
    "OutputInvalid", "OutputValidator", "Structured", "StructuredLLM", "StructuredMode", "StructuredUpdate",
]
