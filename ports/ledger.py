"""The usage ledger port, and its bounded in-memory implementation."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Protocol

from llmport.domain.usage_record import UsageRecord, UsageTotals, group_key


class UsageLedger(Protocol):
    """Keeps one record per attempt that may have been billed, and sums them."""

    async def record(self, records: Sequence[UsageRecord]) -> None: ...

    async def totals(self, by: str, *, since: float | None = None,
                     until: float | None = None) -> dict[str, UsageTotals]:
        """Totals grouped ``by`` ``tenant``, ``provider``, ``model``, ``alias`` or ``tag:<name>``,
        over records with ``since <= at < until`` (UNIX times; ``None``: unbounded)."""
        ...

    async def records(self, *, since: float | None = None, until: float | None = None) -> list[UsageRecord]: ...

    async def aclose(self) -> None:
        """Write out anything still queued (a ledger may write in the background)."""
        ...


def sum_records(records: Iterable[UsageRecord], by: str) -> dict[str, UsageTotals]:
    """Group and total ``records`` (a request counts once per group, on its first record)."""
    out: dict[str, UsageTotals] = {}
    seen: set[tuple[str, str]] = set()
    for r in records:
        key = group_key(r, by)
        if key is None:
            continue
        first = (key, r.request_id) not in seen
        if first:
            seen.add((key, r.request_id))
        out[key] = out.get(key, UsageTotals()).add(r, new_request=first)
    return out


class InMemoryUsageLedger:
    """The newest ``capacity`` records, in memory (one process: a replica's own view)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._records: deque[UsageRecord] = deque(maxlen=capacity)

    async def record(self, records: Sequence[UsageRecord]) -> None:
        self._records.extend(records)

    async def records(self, *, since: float | None = None, until: float | None = None) -> list[UsageRecord]:
        return [r for r in self._records
                if (since is None or r.at >= since) and (until is None or r.at < until)]

    async def aclose(self) -> None:
        pass

    async def totals(self, by: str, *, since: float | None = None,
                     until: float | None = None) -> dict[str, UsageTotals]:
        return sum_records(await self.records(since=since, until=until), by)
