"""Protocols the core needs, and the failover policy that implements ``LLMPort`` over many."""

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
from .structured import OutputInvalid, OutputValidator, Structured, StructuredLLM, StructuredMode, StructuredUpdate

__all__ = [
    "SYSTEM_CLOCK", "AttemptEvent", "BreakerConfig", "BreakerState", "BreakerTransition", "BreakerView",
    "Cheapest", "CircuitBreaker", "Clock", "FailoverPolicy", "FanoutObserver", "HedgeConfig", "LLMPort",
    "LeastBusy", "LowestLatency", "MemoryPolicyState", "NullObserver", "Permit", "PolicyConfig", "PolicyObserver",
    "PolicyState", "PolicyStream", "Priority", "RecordingObserver", "RetryBudget", "RetryPolicy", "Route",
    "RouteSet", "RouteStats", "Router", "SkippedRoute", "SkippedRoutes", "Strategy", "SystemClock", "Weighted",
    "strategy",
    "OutputInvalid", "OutputValidator", "Structured", "StructuredLLM", "StructuredMode", "StructuredUpdate",
]
