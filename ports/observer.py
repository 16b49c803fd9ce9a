"""What the policy reports: one event per attempt and one per breaker state change.

The policy never logs by itself (``ports`` may not import a logging library); the composition root
connects an observer to its logger and metrics. Events carry no prompt text and no secrets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from llmport.domain import Usage

BreakerState = Literal["closed", "open", "half_open"]
Outcome = Literal["ok", "error", "skipped", "cancelled", "lost", "interrupted", "cached", "enriched"]


@dataclass(frozen=True, slots=True)
class AttemptEvent:
    """One try of one route. ``outcome``: ``ok``; ``error``; ``skipped`` (open breaker, no network);
    ``cancelled`` (the caller gave up); ``lost`` (a hedge another attempt beat); ``interrupted``
    (a stream that failed after its first content reached the caller).

    Pipeline steps before the policy report through the same events: ``cached`` (a response cache
    answered; route ``"cache"``, no upstream call, cost 0) and ``enriched`` (route ``"context"``:
    guidance added; ``detail`` names the snippets used and those dropped by the token cap)."""

    route: str
    attempt: int
    outcome: Outcome
    error: str | None
    status: int | None
    latency: float
    time_to_first_token: float | None
    breaker: BreakerState
    target: str = ""  # the requested alias / model
    hedge: bool = False
    detail: str | None = None
    provider: str = ""
    model: str = ""
    # The attempt's usage as far as known: the answer's, or a cut/cancelled stream's so far (its
    # output estimated from the text received when the vendor had not reported it: ``estimated``).
    # None when the attempt produced no usage report (errors, cancellations before any output).
    usage: Usage | None = None
    estimated: bool = False
    # Correlation: the request's id (the host's ``metadata["request_id"]`` or a generated one), its
    # tenant and metadata tags, so a host can join these events to its own request.
    request_id: str = ""
    tenant: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SkippedRoute:
    """A route a request passed over without a call: ``reason`` is ``CircuitOpen`` (its breaker
    is open, or its half-open probe is out) or ``CoolingDown`` (a Retry-After is running)."""

    route: str
    provider: str
    model: str
    reason: str
    breaker: BreakerState


@dataclass(frozen=True, slots=True)
class SkippedRoutes:
    """The routes one request skipped, reported once (an outage skips every open route of every
    request: one event per route would cost more than the request). Correlation as in
    ``AttemptEvent``."""

    routes: tuple[SkippedRoute, ...]
    target: str = ""
    request_id: str = ""
    tenant: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def attempts(self) -> tuple[AttemptEvent, ...]:
        """The same as one ``skipped`` ``AttemptEvent`` per route (attempt 0, no latency)."""
        return tuple(AttemptEvent(s.route, 0, "skipped", s.reason, None, 0.0, None, s.breaker, self.target,
                                  provider=s.provider, model=s.model, request_id=self.request_id,
                                  tenant=self.tenant, tags=self.tags) for s in self.routes)


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """A route's circuit breaker changed state. ``error``: the error type that forced it open
    at once (``AuthenticationFailed``, ``PermissionDenied``: an operator must act), else None."""

    route: str
    old: BreakerState
    new: BreakerState
    reason: str
    at: float
    error: str | None = None


class PolicyObserver(Protocol):
    """Receives the policy's events; must be fast and must not raise.

    ``on_skipped`` receives the routes a request skipped (open breakers, Retry-After cooldowns),
    once per request. An observer written before it existed (only ``on_attempt`` and
    ``on_breaker``) still works: it is given one ``skipped`` ``AttemptEvent`` per route instead
    (see ``skipped_to``)."""

    def on_attempt(self, event: AttemptEvent) -> None: ...

    def on_skipped(self, skipped: SkippedRoutes) -> None: ...

    def on_breaker(self, transition: BreakerTransition) -> None: ...


def skipped_to(observer: object) -> Callable[[SkippedRoutes], None]:
    """How ``observer`` is told of skipped routes: its ``on_skipped``, or, for an observer without
    one, one ``on_attempt`` per skipped route."""
    own = getattr(observer, "on_skipped", None)
    if callable(own):
        return own  # type: ignore[no-any-return]
    on_attempt = observer.on_attempt  # type: ignore[attr-defined]

    def each(skipped: SkippedRoutes) -> None:
        for event in skipped.attempts():
            on_attempt(event)
    return each


class NullObserver:
    """Discards everything (the default)."""

    __slots__ = ()

    def on_attempt(self, event: AttemptEvent) -> None:
        pass

    def on_skipped(self, skipped: SkippedRoutes) -> None:
        pass

    def on_breaker(self, transition: BreakerTransition) -> None:
        pass


class RecordingObserver:
    """Keeps every event in memory: for tests, the demo's table and the CLI. Skipped routes are
    kept as ``skipped`` attempt events, in order among the others."""

    def __init__(self) -> None:
        self.attempts: list[AttemptEvent] = []
        self.transitions: list[BreakerTransition] = []

    def on_attempt(self, event: AttemptEvent) -> None:
        self.attempts.append(event)

    def on_skipped(self, skipped: SkippedRoutes) -> None:
        self.attempts.extend(skipped.attempts())

    def on_breaker(self, transition: BreakerTransition) -> None:
        self.transitions.append(transition)


class FanoutObserver:
    """Passes every event to several observers."""

    def __init__(self, *observers: PolicyObserver) -> None:
        self.observers = observers
        self._skipped = tuple(skipped_to(o) for o in observers)

    def on_attempt(self, event: AttemptEvent) -> None:
        for o in self.observers:
            o.on_attempt(event)

    def on_skipped(self, skipped: SkippedRoutes) -> None:
        for tell in self._skipped:
            tell(skipped)

    def on_breaker(self, transition: BreakerTransition) -> None:
        for o in self.observers:
            o.on_breaker(transition)
