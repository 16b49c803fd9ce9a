"""The failover policy's state behind one port: route health (circuit breakers and Retry-After
cooldowns), the retry budget, in-flight counts and latency statistics.

``FailoverPolicy`` keeps no state of its own: every decision it makes about a route asks a
``PolicyState``. The in-memory implementation (``MemoryPolicyState``) is the default; a shared
implementation (Redis, in ``adapters``) gives many replicas one view.

Contract (every implementation; ``tests/state/contract.py`` checks it):

- **Time.** ``now`` is always the policy clock's monotonic time in seconds; durations are seconds.
  A shared implementation converts to its own time base (e.g. wall clock) for what it stores
  remotely; the policy never compares instants across processes.
- **Route names** (``"provider/model"``) are chosen by callers: state kept per route must stay
  bounded whatever names arrive (evict idle routes; every remote key expires).
- **Only ``admit`` and ``aclose`` are async.** ``admit`` may do one remote round trip, only to
  acquire a half-open probe (atomically, with an owner token that expires so a probe that dies
  frees it); a closed or open route is answered from the local view without I/O, and
  ``admit_now`` gives that answer synchronously (``ASK`` when only ``admit`` can decide). Every
  other method is synchronous, never blocks and never raises: a shared implementation applies it
  to its local view at once and queues the remote write off the hot path.
- **A failing backend degrades, never fails a request.** If the remote store is down or slow
  (calls time out within tens of milliseconds) the implementation falls back to its local view
  (``admit`` then answers as the in-memory state would, granting at most one local probe), logs
  the degradation once, and resynchronises when the store returns.
- **Permits.** ``admit`` returns a ``Permit`` or None (do not send). For each permit the policy
  reports exactly one outcome (``record_success``, ``record_failure``, ``record_lockout``) or
  ``release``; reporting again for the same permit is a no-op (idempotent). The policy may build
  ``Permit(route)`` (not a probe) itself to report a failure after its permit's verdict (a stream
  failing after it opened).
- **Only the probe closes a breaker.** A success on a non-probe permit (a straggler admitted
  before the breaker opened) counts in the statistics but never closes an open or half-open
  breaker; a straggler's failure during half-open reopens the breaker but leaves the probe in
  flight the only one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal, Protocol, TypeAlias

from .observer import BreakerState, BreakerTransition
from .routing import RouteStats


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to send one attempt to ``route``, from ``PolicyState.admit``. ``probe``: the
    half-open breaker's single probe; ``token`` identifies that probe to its owner (opaque)."""

    route: str
    probe: bool = False
    token: str | None = None


class Undecided(Enum):
    """``PolicyState.admit_now``'s answer when the local view cannot decide (``ASK``)."""

    ASK = "ask"


#: ``admit_now``: only ``admit`` can decide (a half-open probe to acquire from a shared store).
ASK: Final = Undecided.ASK
Admission: TypeAlias = Permit | Literal[Undecided.ASK] | None


class BreakerView(Protocol):
    """A read-only view of one route's breaker, for the CLI, metrics and tests."""

    @property
    def state(self) -> BreakerState: ...

    def snapshot(self, now: float) -> dict[str, object]: ...


class PolicyState(Protocol):
    """Everything the failover policy remembers between requests, one method per decision."""

    # -- may this route be tried now -------------------------------------------------------------

    async def admit(self, route: str, now: float) -> Permit | None:
        """A permit to send an attempt to ``route`` now, or None: its breaker is open, its
        half-open probe is taken, or a Retry-After is cooling it. Closed/open answers come from
        the local view; only acquiring the half-open probe may go remote."""
        ...

    def admit_now(self, route: str, now: float) -> Admission:
        """``admit``'s answer from the local view, without awaiting: a permit, None (refused), or
        ``ASK`` when only ``admit`` can decide. The policy calls it first: an outage refuses every
        route of a request without a single await."""
        ...

    def retry_in(self, route: str, now: float) -> float:
        """Seconds until ``route`` may be tried again (0.0 when it may now): the longer of its
        breaker's remaining cooldown and its Retry-After cooldown. Local view, no I/O."""
        ...

    def breaker_state(self, route: str, now: float) -> BreakerState:
        """The route's breaker state as the local view sees it (``closed`` for an unknown route)."""
        ...

    def refusal(self, route: str, now: float) -> tuple[BreakerState, float]:
        """``(breaker_state, retry_in)`` in one read: why a refused route was refused, and for how
        long (the fail-fast path asks it for every route of every request during an outage)."""
        ...

    # -- record this outcome ------------------------------------------------------------------------

    def record_success(self, permit: Permit, now: float) -> None:
        """The attempt got an answer (the provider is healthy, even if it refused the request).
        Closes a half-open breaker only when ``permit`` is its current probe."""
        ...

    def record_failure(self, permit: Permit, now: float) -> None:
        """The provider failed the attempt (a retryable error). Counts towards opening the breaker
        (consecutive failures, failure rate over the window); a probe's failure reopens it."""
        ...

    def record_lockout(self, permit: Permit, now: float, cooldown: float, error: str) -> None:
        """The provider rejected the credentials (``error``: the error type, e.g.
        ``AuthenticationFailed``): open the breaker at once for ``cooldown`` seconds (longer than
        the usual cooldown), whatever its state, freeing the probe if this was it. One transition
        carrying ``error`` is reported per opening (none while it is already open that long)."""
        ...

    def release(self, permit: Permit) -> None:
        """The admitted attempt produced no verdict (cancelled, abandoned, or never sent): a probe
        permit frees the probe; anything else is a no-op."""
        ...

    def note_retry_after(self, route: str, now: float, seconds: float) -> None:
        """The provider asked to be left alone for ``seconds``: ``admit`` refuses the route until
        then (for every request, on every replica). A later, longer note extends the cooldown; a
        shorter one never shortens it."""
        ...

    # -- reserve a retry --------------------------------------------------------------------------

    def note_request(self, now: float) -> None:
        """A request arrived (deposits into the retry budget)."""
        ...

    def reserve_retry(self, now: float) -> bool:
        """Take one extra attempt (a retry or a hedge) from the budget, if it allows one."""
        ...

    # -- in-flight counts and latency ---------------------------------------------------------------

    def in_flight_up(self, route: str) -> None:
        """An attempt on ``route`` started."""
        ...

    def in_flight_down(self, route: str) -> None:
        """An attempt on ``route`` ended (every ``in_flight_up`` is matched by exactly one)."""
        ...

    def observe_latency(self, route: str, now: float, total: float | None, ttft: float | None) -> None:
        """A successful attempt's total time and/or time to first token, in seconds."""
        ...

    def stats(self) -> Mapping[str, RouteStats]:
        """Per-route statistics for the strategies (``least_busy``, ``lowest_latency``) and hedging,
        from the local view (may lag a shared store by its refresh interval)."""
        ...

    # -- observing and lifecycle ------------------------------------------------------------------

    def listen(self, listener: Callable[[BreakerTransition], None]) -> None:
        """Call ``listener`` on every breaker transition this state makes or learns of. A raising
        listener must not change any decision."""
        ...

    def breakers(self) -> Mapping[str, BreakerView]:
        """Every route's breaker the local view holds, by route name."""
        ...

    async def aclose(self) -> None:
        """Stop background work and flush what is queued (best effort); idempotent."""
        ...
