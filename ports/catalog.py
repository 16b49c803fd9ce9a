"""The model catalog port: limits, capabilities and price of a provider's model."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from llmport.domain.catalog import ModelInfo


class ModelCatalog(Protocol):
    """Answers what is known of ``model`` served by the configured provider named ``provider``.
    Never raises for an unknown model: its entry has ``None`` fields (``price`` included)."""

    def lookup(self, provider: str, model: str) -> ModelInfo: ...


class LayeredCatalog:
    """Settings over price data: an entry configured for ``provider/model`` wins field by field,
    then one for the whole provider (``provider/*``), then ``base``. Lookups are cached for a day
    (price data holds dated price changes)."""

    def __init__(self, base: ModelCatalog | None, overrides: Mapping[str, ModelInfo] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.base = base
        self.overrides = dict(overrides or {})
        self.clock = clock
        self._cache: dict[tuple[str, str], ModelInfo] = {}
        self._day: int | None = None  # the day the cached lookups belong to

    def lookup(self, provider: str, model: str) -> ModelInfo:
        day = int(self.clock() // 86400)
        if day != self._day:
            self._cache.clear()
            self._day = day
        key = (provider, model)
        found = self._cache.get(key)
        if found is not None:
            return found
        info = self.base.lookup(provider, model) if self.base is not None else ModelInfo(provider, model)
        info = self._overridden(info, provider, model)
        if len(self._cache) < 4096:  # bounded: callers choose model names
            self._cache[key] = info
        return info

    def configured(self, provider: str, model: str) -> ModelInfo:
        """What the overrides alone say of ``model`` (``base`` not asked)."""
        return self._overridden(ModelInfo(provider, model), provider, model)

    def _overridden(self, info: ModelInfo, provider: str, model: str) -> ModelInfo:
        for name in (f"{provider}/*", f"{provider}/{model}"):
            override = self.overrides.get(name)
            if override is not None:
                info = info.merged(override)
        return info
