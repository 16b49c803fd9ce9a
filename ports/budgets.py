"""The budget store port (reserve before the network, settle after), and its in-memory
implementation; ``BudgetObserver`` receives soft-threshold events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from llmport.domain import BudgetExceeded
from llmport.domain.budget import BudgetSpec, BudgetStatus, BudgetThreshold, Charge

_ZERO = Decimal(0)


class BudgetStore(Protocol):
    """Budget counters. ``reserve`` is all-or-nothing and atomic: either every charge is held (and
    a reservation id returned) or ``BudgetExceeded`` is raised and nothing is. ``settle`` releases
    that reservation and adds what was spent; it returns the status of every budget it touched."""

    async def reserve(self, charges: Sequence[Charge], now: float) -> str: ...

    async def settle(self, reservation: str, reserved: Sequence[Charge], spent: Sequence[Charge],
                     now: float) -> list[BudgetStatus]: ...

    async def status(self, spec: BudgetSpec, key: str, now: float) -> BudgetStatus: ...


class BudgetObserver(Protocol):
    def on_budget(self, event: BudgetThreshold) -> None: ...


def exceeded(charge: Charge, spent_usd: Decimal, spent_tokens: int, resets_at: float) -> BudgetExceeded | None:
    """The error for ``charge`` on top of what is spent and reserved, or ``None`` when it fits."""
    spec = charge.spec
    over_usd = spec.limit_usd is not None and spent_usd + charge.usd > spec.limit_usd
    if not over_usd and (spec.limit_tokens is None or spent_tokens + charge.tokens <= spec.limit_tokens):
        return None
    at = datetime.fromtimestamp(resets_at, UTC)
    where = f" for {spec.scope} {charge.key!r}" if spec.scope != "global" else ""
    if over_usd:
        assert spec.limit_usd is not None
        return BudgetExceeded(
            f"budget {spec.name!r}{where}: ${spent_usd:.6f} spent or reserved of ${spec.limit_usd} "
            f"(this request may cost up to ${charge.usd:.6f}); resets at {at.isoformat()}",
            budget=spec.name, spent=spent_usd, limit=spec.limit_usd, unit="usd", resets_at=at, scope_key=charge.key)
    assert spec.limit_tokens is not None
    return BudgetExceeded(
        f"budget {spec.name!r}{where}: {spent_tokens} tokens spent or reserved of {spec.limit_tokens} "
        f"(this request may use up to {charge.tokens}); resets at {at.isoformat()}",
        budget=spec.name, spent=Decimal(spent_tokens), limit=Decimal(spec.limit_tokens), unit="tokens",
        resets_at=at, scope_key=charge.key)


class _Amount:
    __slots__ = ("tokens", "usd")

    def __init__(self) -> None:
        self.usd = _ZERO
        self.tokens = 0


class _Counter:
    __slots__ = ("reserved_tokens", "reserved_usd", "windows")

    def __init__(self) -> None:
        self.windows: dict[str, _Amount] = {}  # window (or rolling bucket) id -> spent
        self.reserved_usd = _ZERO
        self.reserved_tokens = 0

    def spent(self, spec: BudgetSpec, now: float) -> tuple[Decimal, int, float]:
        period = spec.period
        window, resets_at = period.window(now)
        if period.kind != "rolling":
            amounts = self.windows.get(window)
            if amounts is None:
                return _ZERO, 0, resets_at
            return amounts.usd, amounts.tokens, resets_at
        usd, tokens, oldest = _ZERO, 0, None
        live = period.live_buckets(now)
        for bucket, amounts in self.windows.items():
            if int(bucket) in live:
                usd += amounts.usd
                tokens += amounts.tokens
                oldest = int(bucket) if oldest is None else min(oldest, int(bucket))
        if oldest is not None:
            resets_at = (oldest + 1) * period.bucket_seconds + period.seconds
        return usd, tokens, resets_at

    def add(self, spec: BudgetSpec, now: float, usd: Decimal, tokens: int) -> None:
        period = spec.period
        window, _ = period.window(now)
        if window not in self.windows:
            live = {str(b) for b in period.live_buckets(now)} if period.kind == "rolling" else {window}
            for old in [w for w in self.windows if w not in live]:
                del self.windows[old]
            self.windows[window] = _Amount()
        amounts = self.windows[window]
        amounts.usd += usd
        amounts.tokens += tokens


class InMemoryBudgetStore:
    """Budget counters in this process (one replica). Reserve and settle never await, so under
    asyncio each is atomic."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str], _Counter] = {}

    def _counter(self, charge: Charge) -> _Counter:
        key = (charge.spec.name, charge.key)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter()
        return counter

    async def reserve(self, charges: Sequence[Charge], now: float) -> str:
        for charge in charges:
            counter = self._counter(charge)
            usd, tokens, resets_at = counter.spent(charge.spec, now)
            error = exceeded(charge, usd + counter.reserved_usd, tokens + counter.reserved_tokens, resets_at)
            if error is not None:
                raise error
        for charge in charges:
            counter = self._counter(charge)
            counter.reserved_usd += charge.usd
            counter.reserved_tokens += charge.tokens
        return ""

    async def settle(self, reservation: str, reserved: Sequence[Charge], spent: Sequence[Charge],
                     now: float) -> list[BudgetStatus]:
        for charge in reserved:
            counter = self._counter(charge)
            counter.reserved_usd -= charge.usd
            counter.reserved_tokens -= charge.tokens
        for charge in spent:
            self._counter(charge).add(charge.spec, now, charge.usd, charge.tokens)
        touched = {(c.spec.name, c.key): c.spec for c in (*reserved, *spent)}
        return [await self.status(spec, key, now) for (_, key), spec in touched.items()]

    async def status(self, spec: BudgetSpec, key: str, now: float) -> BudgetStatus:
        counter = self._counters.get((spec.name, key)) or _Counter()
        usd, tokens, resets_at = counter.spent(spec, now)
        return BudgetStatus(spec.name, key, usd, tokens, counter.reserved_usd, counter.reserved_tokens,
                            spec.limit_usd, spec.limit_tokens, datetime.fromtimestamp(resets_at, UTC))
