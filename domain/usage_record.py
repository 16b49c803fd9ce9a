"""What the usage ledger keeps: one record per attempt that may have been billed, and totals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from decimal import Decimal
from typing import Literal

from .completion import Usage
from .errors import InvalidRequest
from .frozen import valueclass

# "cached": a response cache answered (zero usage, zero cost: counted as a request, never billed).
RecordOutcome = Literal["ok", "error", "cancelled", "lost", "interrupted", "cached"]


@valueclass
class UsageRecord:
    """One attempt. ``at`` is a UNIX time; ``cost`` is ``None`` when the model's price is unknown;
    ``estimated`` marks usage the vendor did not report (input or output estimated from text)."""

    at: float
    request_id: str
    provider: str
    model: str
    alias: str
    usage: Usage
    cost: Decimal | None
    outcome: RecordOutcome
    tenant: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    estimated: bool = False
    attempt: int = 1
    hedge: bool = False


@valueclass
class UsageTotals:
    """Sums over records. ``cost`` adds the known costs; ``unpriced`` counts records without one."""

    requests: int = 0
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = Decimal(0)
    unpriced: int = 0
    estimated: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, record: UsageRecord, *, new_request: bool) -> UsageTotals:
        u = record.usage
        return UsageTotals(
            self.requests + (1 if new_request else 0), self.attempts + 1,
            self.input_tokens + u.input_tokens, self.output_tokens + u.output_tokens,
            self.cached_input_tokens + u.cached_input_tokens, self.cache_write_tokens + u.cache_write_tokens,
            self.reasoning_tokens + u.reasoning_tokens,
            self.cost + (record.cost or Decimal(0)), self.unpriced + (record.cost is None),
            self.estimated + record.estimated,
        )


def group_key(record: UsageRecord, by: str) -> str | None:
    """The value of ``record`` that ``by`` groups on: ``tenant``, ``provider``, ``model``
    (``provider/model``), ``alias`` or ``tag:<name>``; ``None`` when the record has none."""
    if by == "tenant":
        return record.tenant
    if by == "provider":
        return record.provider
    if by == "model":
        return f"{record.provider}/{record.model}"
    if by == "alias":
        return record.alias
    if by.startswith("tag:"):
        return record.tags.get(by[4:])
    raise InvalidRequest(f"cannot group usage by {by!r}: use tenant, provider, model, alias or tag:<name>",
                         field="by")
