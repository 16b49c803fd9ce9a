"""Settings sections for money: ``prices``, ``catalog``, ``budgets`` and ``ledger``.

``prices`` and ``catalog`` are keyed by ``provider/model`` (or ``provider/*`` for every model of a
provider); settings win over genai-prices' data field by field::

    [prices."openai/gpt-4o"]          # USD per million tokens
    input = 2.0
    output = 8.0
    cache_read = 0.5
    cache_write = 2.5
    [catalog."local/llama3"]
    context_window = 8192
    max_output_tokens = 2048
    tools = true
    images = false
    json_schema = true
    reasoning = false
    [budgets.daily]                   # LLMPORT_BUDGETS__DAILY__SCOPE=tenant, ...
    scope = "tenant"                  # global | tenant | provider | tag:<metadata key>
    limit_usd = 25
    limit_tokens = 2000000
    period = "day"                    # day | month | a rolling window: 1h, 30m, 7d
    soft_threshold = 0.8
    [ledger]
    capacity = 100000                 # records kept (the newest)
    retention_days = 35               # Redis ledger: hourly totals kept this long
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class PriceOverride(_Strict):
    input: Decimal | None = Field(default=None, ge=0)
    output: Decimal | None = Field(default=None, ge=0)
    cache_read: Decimal | None = Field(default=None, ge=0)
    cache_write: Decimal | None = Field(default=None, ge=0)


class CatalogOverride(_Strict):
    context_window: int | None = Field(default=None, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    tools: bool | None = None
    images: bool | None = None
    json_schema: bool | None = None
    reasoning: bool | None = None


class BudgetSettings(_Strict):
    scope: str = "global"
    limit_usd: Decimal | None = Field(default=None, ge=0)
    limit_tokens: int | None = Field(default=None, ge=0)
    period: str = "day"
    soft_threshold: float | None = Field(default=0.8, gt=0, lt=1)


class LedgerSettings(_Strict):
    capacity: int = Field(default=100_000, ge=1)
    retention_days: float = Field(default=35.0, gt=0)  # Redis ledger: hourly totals kept this long
