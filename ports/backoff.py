"""How long to wait before retrying a route, and how many retries traffic can afford."""

from __future__ import annotations

import random
from typing import ClassVar

from llmport.domain import InvalidRequest
from llmport.domain.frozen import valueclass


@valueclass
class RetryPolicy:
    """Attempts per route and exponential backoff with full jitter: the n-th retry waits a uniform
    random time in ``[0, min(max_delay, base_delay * 2**(n-1))]``, or the provider's
    ``retry_after`` when that is longer. A ``retry_after`` beyond ``max_retry_after`` is not waited
    for: the policy moves on to the next route."""

    max_attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 4.0
    max_retry_after: float = 30.0

    PRESETS: ClassVar[dict[str, RetryPolicy]]

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidRequest("retry max_attempts must be at least 1", field="retry")
        if self.base_delay < 0 or self.max_delay < self.base_delay or self.max_retry_after < 0:
            raise InvalidRequest("retry delays must satisfy 0 <= base_delay <= max_delay", field="retry")

    @classmethod
    def preset(cls, name: str) -> RetryPolicy:
        try:
            return cls.PRESETS[name]
        except KeyError:
            raise InvalidRequest(f"unknown retry preset {name!r}; presets: {', '.join(cls.PRESETS)}",
                                 field="retry") from None

    def delay(self, retry: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        cap = min(self.max_delay, self.base_delay * (2 ** (retry - 1)))
        jittered = (rng or random).uniform(0.0, cap)
        return jittered if retry_after is None else max(retry_after, jittered)


RetryPolicy.PRESETS = {
    "aggressive": RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=1.0, max_retry_after=10.0),
    "balanced": RetryPolicy(max_attempts=3, base_delay=0.2, max_delay=4.0, max_retry_after=30.0),
    "conservative": RetryPolicy(max_attempts=2, base_delay=0.5, max_delay=8.0, max_retry_after=60.0),
}


class RetryBudget:
    """Retries (and hedges) allowed as a fraction of recent requests.

    Every request deposits; every extra attempt withdraws. Over the last ``window`` seconds, extra
    attempts may not exceed ``ratio`` times the requests plus a small ``min_retries`` reserve, so
    under sustained failure an outage cannot multiply traffic. Counting uses a ring of time
    buckets: O(1) per call.
    """

    __slots__ = ("_ids", "_requests", "_retries", "_width", "min_retries", "ratio", "window")

    def __init__(self, ratio: float = 0.2, *, min_retries: int = 10, window: float = 10.0, buckets: int = 10) -> None:
        if ratio < 0 or min_retries < 0 or window <= 0 or buckets < 1:
            raise InvalidRequest("retry budget: ratio and min_retries must not be negative, window positive",
                                 field="retry_budget")
        self.ratio = ratio
        self.min_retries = min_retries
        self.window = window
        self._width = window / buckets
        self._ids = [-1] * buckets
        self._requests = [0] * buckets
        self._retries = [0] * buckets

    def _slot(self, now: float) -> int:
        bucket = int(now // self._width)
        i = bucket % len(self._ids)
        if self._ids[i] != bucket:
            self._ids[i] = bucket
            self._requests[i] = 0
            self._retries[i] = 0
        return i

    def deposit(self, now: float) -> None:
        """A request arrived."""
        self._requests[self._slot(now)] += 1

    def try_withdraw(self, now: float) -> bool:
        """Take one extra attempt from the budget, if it allows one."""
        current = self._slot(now)
        oldest = int(now // self._width) - len(self._ids) + 1
        requests = retries = 0
        for i, bucket in enumerate(self._ids):
            if bucket >= oldest:
                requests += self._requests[i]
                retries += self._retries[i]
        if retries + 1 > self.min_retries + self.ratio * requests:
            return False
        self._retries[current] += 1
        return True
