"""A circuit breaker per route: closed -> open -> half-open -> closed, every check O(1)."""

from __future__ import annotations

from collections.abc import Callable

from llmport.domain import InvalidRequest
from llmport.domain.frozen import valueclass

from .observer import BreakerState, BreakerTransition


@valueclass
class BreakerConfig:
    """Open after ``failure_threshold`` consecutive failures, or when at least ``min_calls`` calls
    in the last ``window`` seconds failed at a rate of ``failure_rate`` or more. Stay open for
    ``cooldown`` seconds, then let one probe through (half-open)."""

    failure_threshold: int = 5
    failure_rate: float = 0.5
    window: float = 30.0
    min_calls: int = 20
    cooldown: float = 15.0
    buckets: int = 10

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.min_calls < 1 or self.buckets < 1:
            raise InvalidRequest("breaker thresholds must be positive", field="breaker")
        if not 0.0 < self.failure_rate <= 1.0:
            raise InvalidRequest("breaker failure_rate must be in (0, 1]", field="breaker")
        if self.window <= 0 or self.cooldown < 0:
            raise InvalidRequest("breaker window must be positive and cooldown not negative", field="breaker")


class CircuitBreaker:
    """One route's breaker. ``allow`` says whether a call may go out; the caller then reports
    exactly one of ``success``, ``failure`` or ``release`` (the call was abandoned).

    Outcomes are counted in a ring of time buckets, so the failure rate over the window costs a
    fixed ``buckets`` additions, never a scan of history.
    """

    __slots__ = ("_bucket_fail", "_bucket_id", "_bucket_ok", "_consecutive", "_cooldown", "_listener",
                 "_opened_at", "_probing", "_width", "config", "route", "state")

    def __init__(self, route: str, config: BreakerConfig | None = None,
                 listener: Callable[[BreakerTransition], None] | None = None) -> None:
        self.route = route
        self.config = config or BreakerConfig()
        self.state: BreakerState = "closed"
        self._listener = listener
        self._consecutive = 0
        self._opened_at = 0.0
        self._cooldown = self.config.cooldown  # of the current opening (a lockout's is longer)
        self._probing = False
        n = self.config.buckets
        self._width = self.config.window / n
        self._bucket_id = [-1] * n
        self._bucket_ok = [0] * n
        self._bucket_fail = [0] * n

    def allow(self, now: float) -> bool:
        """May a call go out now? In half-open state only one probe at a time is let through."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            if now - self._opened_at < self._cooldown:
                return False
            self._move("half_open", "cooldown elapsed", now)
        if self._probing:
            return False
        self._probing = True
        return True

    def retry_in(self, now: float) -> float:
        """Seconds until an open breaker lets a probe through (0 when it would now)."""
        if self.state != "open":
            return 0.0
        return max(0.0, self._cooldown - (now - self._opened_at))

    def success(self, now: float, *, probe: bool = True) -> None:
        """A call got an answer. ``probe`` False: the call was admitted while the breaker was
        closed (a straggler); it never closes an open or half-open breaker."""
        self._consecutive = 0
        self._count(now, ok=True)
        if probe and self.state != "closed":
            self._probing = False
            self._reset_window()
            self._move("closed", "probe succeeded", now)

    def trip(self, now: float, reason: str, cooldown: float, *, probe: bool = False, error: str | None = None) -> None:
        """Open at once for ``cooldown`` seconds, whatever the state (e.g. credentials rejected).
        ``probe``: the failing call was the half-open probe, whose slot is freed; ``error``: the
        error type that caused it, carried by the transition."""
        if probe:
            self._probing = False
        self._consecutive += 1
        if self.state == "open":  # already open: at most extended, not reported again
            end = max(self._opened_at + self._cooldown, now + cooldown)
            self._opened_at, self._cooldown = now, end - now
            return
        self._open(now, reason, cooldown, error)

    def failure(self, now: float, *, probe: bool = True) -> None:
        """A call failed. ``probe`` False: the call was admitted while the breaker was closed (a
        straggler); it reopens a half-open breaker but leaves the probe in flight the only one."""
        self._consecutive += 1
        if probe:
            self._probing = False
        if self.state != "closed":  # a failure while open leaves its cooldown as it is
            if self.state == "half_open":
                self._open(now, "probe failed" if probe else "a call failed during the probe")
            return
        self._count(now, ok=False)
        cfg = self.config
        ok, fail = self._totals(now)
        total = ok + fail
        if self._consecutive >= cfg.failure_threshold:
            self._open(now, f"{self._consecutive} consecutive failures")
        elif total >= cfg.min_calls and fail >= cfg.failure_rate * total:
            self._open(now, f"failure rate {fail}/{total} over {cfg.window:g}s")

    def release(self) -> None:
        """The allowed call never produced a verdict (cancelled, or not sent after all)."""
        self._probing = False

    def snapshot(self, now: float) -> dict[str, object]:
        """A readable view for the CLI and metrics."""
        ok, fail = self._totals(now)
        return {"route": self.route, "state": self.state, "consecutive_failures": self._consecutive,
                "window_calls": ok + fail, "window_failures": fail, "retry_in": round(self.retry_in(now), 3)}

    def _open(self, now: float, reason: str, cooldown: float | None = None, error: str | None = None) -> None:
        self._opened_at = now
        self._cooldown = self.config.cooldown if cooldown is None else cooldown
        self._move("open", reason, now, error)

    def _move(self, new: BreakerState, reason: str, now: float, error: str | None = None) -> None:
        old, self.state = self.state, new  # every caller changes the state
        if self._listener is not None:
            self._listener(BreakerTransition(self.route, old, new, reason, now, error))

    def _slot(self, now: float) -> int:
        bucket = int(now // self._width)
        i = bucket % len(self._bucket_id)
        if self._bucket_id[i] != bucket:
            self._bucket_id[i] = bucket
            self._bucket_ok[i] = 0
            self._bucket_fail[i] = 0
        return i

    def _count(self, now: float, *, ok: bool) -> None:
        i = self._slot(now)
        if ok:
            self._bucket_ok[i] += 1
        else:
            self._bucket_fail[i] += 1

    def _totals(self, now: float) -> tuple[int, int]:
        oldest = int(now // self._width) - len(self._bucket_id) + 1
        ok = fail = 0
        for i, bucket in enumerate(self._bucket_id):
            if bucket >= oldest:
                ok += self._bucket_ok[i]
                fail += self._bucket_fail[i]
        return ok, fail

    def _reset_window(self) -> None:
        n = len(self._bucket_id)  # zero counts suffice: a bucket id left behind then holds nothing
        self._bucket_ok = [0] * n
        self._bucket_fail = [0] * n
