"""Budgets: what a budget limits, over which period, and its status (pure values and arithmetic)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from .errors import InvalidRequest
from .frozen import valueclass

_ROLLING = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: A rolling window is kept as this many buckets: spend leaves the window one bucket at a time.
ROLLING_BUCKETS = 60
# The current calendar window per kind: (start, end, id); recomputed when "now" leaves it.
_CALENDAR: dict[str, tuple[float, float, str]] = {}


@valueclass
class BudgetPeriod:
    """``day`` and ``month`` (UTC calendar periods) or a rolling window of ``seconds``."""

    kind: str  # "day" | "month" | "rolling"
    seconds: int = 0

    @classmethod
    def parse(cls, text: str) -> BudgetPeriod:
        value = text.strip().lower()
        if value in ("day", "month"):
            return cls(value)
        match = _ROLLING.match(value)
        if match is None or int(match.group(1)) <= 0:
            raise InvalidRequest(f"budget period must be day, month or a window like 1h/30m/7d, not {text!r}",
                                 field="period")
        return cls("rolling", int(match.group(1)) * _UNIT_SECONDS[match.group(2)])

    @property
    def bucket_seconds(self) -> float:
        return self.seconds / ROLLING_BUCKETS

    def window(self, now: float) -> tuple[str, float]:
        """The id of the window (or rolling bucket) holding ``now``, and when that window ends
        (for a rolling window: when the bucket's spend leaves the window)."""
        if self.kind == "rolling":
            bucket = int(now // self.bucket_seconds)
            return str(bucket), (bucket + 1) * self.bucket_seconds + self.seconds
        cached = _CALENDAR.get(self.kind)
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[2], cached[1]
        window, start, end = self._calendar(now)
        _CALENDAR[self.kind] = (start, end, window)
        return window, end

    def _calendar(self, now: float) -> tuple[str, float, float]:
        at = datetime.fromtimestamp(now, UTC)
        if self.kind == "day":
            start = at.replace(hour=0, minute=0, second=0, microsecond=0)
            return start.strftime("%Y-%m-%d"), start.timestamp(), (start + timedelta(days=1)).timestamp()
        start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return start.strftime("%Y-%m"), start.timestamp(), nxt.timestamp()

    def live_buckets(self, now: float) -> range:
        """Rolling windows: the bucket numbers still inside the window at ``now``."""
        current = int(now // self.bucket_seconds)
        return range(current - ROLLING_BUCKETS + 1, current + 1)


@valueclass
class BudgetSpec:
    """One configured budget. ``scope``: ``global``, ``tenant``, ``provider`` or ``tag:<name>``
    (a metadata key: one budget per value). ``soft_threshold`` (a fraction of a limit) makes the
    metering step emit a ``BudgetThreshold`` event once spend crosses it."""

    name: str
    scope: str
    period: BudgetPeriod
    limit_usd: Decimal | None = None
    limit_tokens: int | None = None
    soft_threshold: float | None = 0.8

    def __post_init__(self) -> None:
        if self.scope not in ("global", "tenant", "provider") and not (
                self.scope.startswith("tag:") and len(self.scope) > 4):
            raise InvalidRequest(f"budget {self.name!r}: scope must be global, tenant, provider or tag:<name>, "
                                 f"not {self.scope!r}", field="scope")
        if self.limit_usd is None and self.limit_tokens is None:
            raise InvalidRequest(f"budget {self.name!r} needs limit_usd and/or limit_tokens", field="limit_usd")
        if (self.limit_usd is not None and self.limit_usd < 0) or (
                self.limit_tokens is not None and self.limit_tokens < 0):
            raise InvalidRequest(f"budget {self.name!r}: limits must not be negative", field="limit_usd")
        if self.soft_threshold is not None and not 0 < self.soft_threshold < 1:
            raise InvalidRequest(f"budget {self.name!r}: soft_threshold must be in (0, 1)", field="soft_threshold")

    def key(self, tenant: str | None, tags: Mapping[str, str], provider: str | None = None) -> str | None:
        """What this budget counts a request under, or ``None`` when it does not apply to it (no
        tenant for a tenant budget, no such tag for a tag budget)."""
        if self.scope == "global":
            return "*"
        if self.scope == "tenant":
            return tenant
        if self.scope == "provider":
            return provider
        return tags.get(self.scope[4:])


@valueclass
class BudgetStatus:
    """Where one budget (for one scope key) stands now. ``reserved`` is held by requests in flight."""

    name: str
    key: str
    spent_usd: Decimal
    spent_tokens: int
    reserved_usd: Decimal
    reserved_tokens: int
    limit_usd: Decimal | None
    limit_tokens: int | None
    resets_at: datetime

    @property
    def remaining_usd(self) -> Decimal | None:
        if self.limit_usd is None:
            return None
        return max(Decimal(0), self.limit_usd - self.spent_usd - self.reserved_usd)

    @property
    def remaining_tokens(self) -> int | None:
        if self.limit_tokens is None:
            return None
        return max(0, self.limit_tokens - self.spent_tokens - self.reserved_tokens)


@valueclass
class BudgetThreshold:
    """Spend of a budget crossed its soft threshold (emitted once per budget, key and window)."""

    name: str
    key: str
    fraction: float
    spent_usd: Decimal
    spent_tokens: int
    limit_usd: Decimal | None
    limit_tokens: int | None
    resets_at: datetime


@valueclass
class Charge:
    """An amount to reserve or spend against one budget and scope key."""

    spec: BudgetSpec
    key: str
    usd: Decimal
    tokens: int
