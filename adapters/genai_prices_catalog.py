"""The model catalog from the ``genai-prices`` package's bundled data (offline; no network).

Requires the ``prices`` extra. A configured provider maps to a genai-prices provider id by its
kind (``openai`` → ``openai``, ``azure_openai`` → ``azure``, Bedrock → ``aws``, Vertex → ``google``,
an OpenAI-compatible preset by its name); a model genai-prices does not know, or whose price
depends on something llmport does not measure (characters, messages), has no price: ``None``,
never a wrong number.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from llmport.domain.catalog import ModelInfo
from llmport.domain.pricing import ModelPrice, Rate, TieredRate

#: genai-prices provider id per llmport provider kind (OpenAI-compatible presets map by name).
KIND_TO_PROVIDER: dict[str, str] = {
    "openai": "openai", "azure_openai": "azure", "anthropic": "anthropic", "anthropic_bedrock": "aws",
    "anthropic_vertex": "google", "google": "google", "vertex": "google", "bedrock": "aws",
}
_PRICE_FIELDS = {
    "input_mtok": "input_per_mtok", "output_mtok": "output_per_mtok", "cache_read_mtok": "cache_read_per_mtok",
    "cache_write_mtok": "cache_write_per_mtok", "output_reasoning_mtok": "reasoning_per_mtok",
    "requests_kcount": "per_kilo_requests",
}
_NEVER_REPORTED = ("audio", "image", "video", "searches", "code_executions", "citation", "cache_write_5m",
                   "cache_write_1h", "_tool_")


def provider_id(kind: str, preset: str | None = None) -> str | None:
    """The genai-prices provider id of a provider of ``kind`` (and OpenAI-compatible ``preset``)."""
    if kind == "openai_compatible":
        return preset
    return KIND_TO_PROVIDER.get(kind)


def _rate(value: Any) -> Rate:
    from genai_prices.types import TieredPrices

    if isinstance(value, TieredPrices):
        return TieredRate(value.base, tuple((tier.start, tier.price) for tier in value.tiers))
    return Decimal(value)


def convert_price(prices: Any) -> ModelPrice | None:
    """A genai-prices ``ModelPrice`` as llmport's, or ``None`` when it bills something llmport does
    not count (so that a cost is never understated)."""
    given: dict[str, Rate] = {}
    for key, value in vars(prices).items():
        if value is None or key.startswith("_"):
            continue
        name = _PRICE_FIELDS.get(key)
        if name is not None:
            given[name] = _rate(value)
        elif not any(marker in key for marker in _NEVER_REPORTED):
            return None
    if "input_per_mtok" not in given or "output_per_mtok" not in given:
        return None
    return ModelPrice(**given)  # type: ignore[arg-type]


class GenaiPricesCatalog:
    """``ModelCatalog`` over genai-prices. ``providers`` maps configured provider names to
    genai-prices provider ids (``None``: not priced there). Prices are resolved for the current
    date (genai-prices holds dated price changes) and cached per day.

    genai-prices (its data is several MiB once loaded) is imported on the first lookup, not when the
    catalog is built. Its entries carry a price and a context window only: never a capability
    (``FACTS``), so whether a model takes tools or JSON schema is known from the settings alone."""

    #: The ``ModelInfo`` fields a lookup may fill (the others stay ``None``).
    FACTS = ("context_window", "price", "price_source")

    def __init__(self, providers: Mapping[str, str | None]) -> None:
        self.providers = dict(providers)
        self._source: str | None = None
        self._cache: dict[tuple[str, str], tuple[int, ModelInfo]] = {}

    @property
    def source(self) -> str:
        """``genai-prices <version>``: what a price found here is attributed to."""
        if self._source is None:
            import genai_prices

            self._source = f"genai-prices {genai_prices.__version__}"
        return self._source

    def lookup(self, provider: str, model: str) -> ModelInfo:
        day = int(time.time() // 86400)
        key = (provider, model)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == day:
            return hit[1]
        info = self._find(provider, model)
        if len(self._cache) < 4096:
            self._cache[key] = (day, info)
        return info

    def _find(self, provider: str, model: str) -> ModelInfo:
        from genai_prices.data_snapshot import get_snapshot

        pid = self.providers.get(provider)
        if pid is None:
            return ModelInfo(provider, model)
        try:
            _, found = get_snapshot().find_provider_model(model, None, pid, None)
        except LookupError:
            return ModelInfo(provider, model)
        price = convert_price(found.get_prices(datetime.now(UTC)))
        return ModelInfo(provider, model, context_window=found.context_window, price=price,
                         price_source=self.source if price is not None else None)
