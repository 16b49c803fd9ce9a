"""Builds the money parts from the settings: the model catalog (genai-prices data under settings
overrides), the metering observer, the usage ledger, budgets and the ``MeteredLLM`` step."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError

from llmport.domain import InvalidRequest
from llmport.domain.budget import BudgetPeriod, BudgetSpec, BudgetThreshold
from llmport.domain.catalog import ModelInfo
from llmport.domain.pricing import ModelPrice
from llmport.ports import FailoverPolicy, FanoutObserver, PolicyObserver
from llmport.ports.budgets import BudgetStore, InMemoryBudgetStore
from llmport.ports.catalog import LayeredCatalog, ModelCatalog
from llmport.ports.ledger import InMemoryUsageLedger, UsageLedger
from llmport.ports.metering import MeteredLLM, MeteringObserver

from .logging import event_logger
from .money_settings import BudgetSettings
from .policy_factory import StructlogObserver
from .settings import LoggingSettings, Settings, SettingsError

_log = event_logger("llmport.money", LoggingSettings.model_construct())  # the stdlib logger "llmport.money"


def _provider_ids(settings: Settings) -> dict[str, str | None]:
    from llmport.adapters.genai_prices_catalog import provider_id

    return {name: provider_id(p.kind, getattr(p, "preset", None)) for name, p in settings.providers.items()}


def catalog_overrides(settings: Settings) -> dict[str, ModelInfo]:
    """Settings entries by ``provider/model`` (``provider/*``): the ``prices`` and ``catalog``
    sections, and each provider's ``price_input``/``price_output``/``context_window``."""
    out: dict[str, ModelInfo] = {}

    def merge(key: str, variable: str, info: ModelInfo) -> None:
        provider, sep, model = key.partition("/")
        if not sep or not model or provider not in settings.providers:
            raise SettingsError(f"{variable}: {key!r} must be 'provider/model' or 'provider/*' with a configured "
                                f"provider ({', '.join(settings.providers) or 'none configured'})")
        out[key] = out[key].merged(info) if key in out else info

    for name, p in settings.providers.items():
        price = None
        if p.price_input is not None or p.price_output is not None:
            price = ModelPrice.per_mtok(p.price_input or 0, p.price_output or 0)
        if price is not None or p.context_window is not None:
            merge(f"{name}/*", f"LLMPORT_PROVIDERS__{name.upper()}", ModelInfo(
                name, "*", context_window=p.context_window, price=price,
                price_source="settings" if price is not None else None))
    for key, o in settings.prices.items():
        if o.input is None or o.output is None:
            raise SettingsError(f"LLMPORT_PRICES: {key!r} needs both input and output (USD per million tokens)")
        price = ModelPrice(o.input, o.output, o.cache_read, o.cache_write)
        merge(key, "LLMPORT_PRICES", ModelInfo(key, key, price=price, price_source="settings"))
    for key, c in settings.catalog.items():
        merge(key, "LLMPORT_CATALOG", ModelInfo(key, key, c.context_window, c.max_output_tokens, c.tools, c.images,
                                                c.json_schema, c.reasoning))
    return out


def build_catalog(settings: Settings) -> LayeredCatalog:
    """genai-prices' data (when the ``prices`` extra is installed) under the settings' overrides."""
    base: ModelCatalog | None = None
    if importlib.util.find_spec("genai_prices") is not None:
        from llmport.adapters.genai_prices_catalog import GenaiPricesCatalog

        base = GenaiPricesCatalog(_provider_ids(settings))
    return LayeredCatalog(base, catalog_overrides(settings))


def _unpriced(provider: str, model: str) -> None:
    _log.warning("llm.price_unknown", provider=provider, model=model,
                 hint="set LLMPORT_PRICES for it; its cost is None")


def build_metering(catalog: ModelCatalog) -> MeteringObserver:
    return MeteringObserver(catalog, on_unpriced=_unpriced)


def policy_observer(metering: MeteringObserver) -> PolicyObserver:
    """The policy's observer: structured logs, and the metering of every attempt."""
    return FanoutObserver(StructlogObserver(), metering)


def build_ledger(settings: Settings, redis: Any = None) -> UsageLedger:
    """The usage ledger: in the shared Redis (every replica's attempts) when the deployment has the
    shared connection ``redis``, else in this process's memory."""
    if redis is not None:
        from llmport.adapters.money_redis import RedisUsageLedger

        return RedisUsageLedger(redis, capacity=settings.ledger.capacity,
                                retention=settings.ledger.retention_days * 86400)
    return InMemoryUsageLedger(settings.ledger.capacity)


async def hold_ledger(ledger: UsageLedger, *after: object) -> AsyncIterator[UsageLedger]:
    """A container resource: the ledger, written out (``aclose``) at shutdown. ``after``: resources
    that must outlive it (the shared state, whose shutdown closes the Redis connection)."""
    try:
        yield ledger
    finally:
        await ledger.aclose()


def build_budget_store(settings: Settings, redis: Any = None) -> BudgetStore:
    """Budget counters: shared by every replica in Redis when ``redis`` is given (with this
    replica's own counters as the fallback while Redis is down), else in memory."""
    if redis is not None:
        from llmport.adapters.money_redis import RedisBudgetStore

        return RedisBudgetStore(redis)
    return InMemoryBudgetStore()


def budget_specs(settings: Settings) -> list[BudgetSpec]:
    specs = []
    for name, b in settings.budgets.items():
        specs.append(_spec(name, b))
    return specs


def _spec(name: str, b: BudgetSettings) -> BudgetSpec:
    try:
        return BudgetSpec(name, b.scope, BudgetPeriod.parse(b.period), b.limit_usd, b.limit_tokens, b.soft_threshold)
    except InvalidRequest as exc:
        field = (exc.field or "scope").upper()
        raise SettingsError(f"LLMPORT_BUDGETS__{name.upper()}__{field}: {exc.message}") from None


class BudgetLogObserver:
    """Logs a warning when a budget crosses its soft threshold."""

    def on_budget(self, event: BudgetThreshold) -> None:
        _log.warning("llm.budget_threshold", budget=event.name, key=event.key, fraction=round(event.fraction, 3),
                     spent_usd=str(event.spent_usd),
                     limit_usd=None if event.limit_usd is None else str(event.limit_usd),
                     spent_tokens=event.spent_tokens, limit_tokens=event.limit_tokens,
                     resets_at=event.resets_at.isoformat())


def build_metered(settings: Settings, policy: FailoverPolicy, metering: MeteringObserver, ledger: UsageLedger,
                  store: BudgetStore, observer: Any = None) -> MeteredLLM:
    """The ``MeteredLLM`` step over the failover policy."""
    return MeteredLLM(policy, metering, routes=lambda model: policy.router.resolve(model).routes, ledger=ledger,
                      budgets=budget_specs(settings), store=store, observer=observer or BudgetLogObserver(),
                      warn=lambda message: _log.error("llm.money", message=message))


def parse_budget(name: str, raw: dict[str, Any]) -> BudgetSpec:
    """A budget from a mapping (as in the settings), for hosts that build budgets in code."""
    try:
        return _spec(name, BudgetSettings.model_validate(raw))
    except ValidationError as exc:
        raise SettingsError(f"LLMPORT_BUDGETS__{name.upper()}: {exc.errors()[0]['msg']}") from None
