"""The layered catalog: settings over price data, field by field; cached per day."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llmport.composition.money_factory import catalog_overrides
from llmport.composition.settings import SettingsError, load_settings
from llmport.domain.catalog import ModelInfo
from llmport.domain.pricing import ModelPrice
from llmport.ports.catalog import LayeredCatalog


class Base:
    def __init__(self) -> None:
        self.calls = 0

    def lookup(self, provider: str, model: str) -> ModelInfo:
        self.calls += 1
        return ModelInfo(provider, model, context_window=1000, max_output_tokens=100,
                         price=ModelPrice.per_mtok(1, 2), price_source="data")


def test_model_entry_beats_provider_entry_beats_data() -> None:
    base = Base()
    catalog = LayeredCatalog(base, {
        "p/*": ModelInfo("p", "*", context_window=2000, supports_tools=True),
        "p/m": ModelInfo("p", "m", price=ModelPrice.per_mtok(5, 6), price_source="settings", supports_tools=False),
    })
    m = catalog.lookup("p", "m")
    assert (m.context_window, m.max_output_tokens, m.supports_tools) == (2000, 100, False)
    assert m.price == ModelPrice.per_mtok(5, 6) and m.price_source == "settings"
    other = catalog.lookup("p", "other")
    assert other.price == ModelPrice.per_mtok(1, 2) and other.supports_tools is True
    assert catalog.lookup("q", "m").context_window == 1000
    catalog.lookup("p", "m")
    assert base.calls == 3  # cached


def test_cache_is_renewed_every_day() -> None:
    now = [0.0]
    base = Base()
    catalog = LayeredCatalog(base, clock=lambda: now[0])
    catalog.lookup("p", "m")
    catalog.lookup("p", "m")
    now[0] += 86400
    catalog.lookup("p", "m")
    assert base.calls == 2


def test_the_cache_holds_at_most_4096_lookups() -> None:
    base = Base()
    catalog = LayeredCatalog(base)
    for i in range(4097):
        catalog.lookup("p", f"m{i}")
    catalog.lookup("p", "m0")  # among the first 4,096: cached
    assert base.calls == 4097
    catalog.lookup("p", "m4096")  # beyond the bound: looked up again
    assert base.calls == 4098


def test_settings_overrides_name_their_variable() -> None:
    providers = {"oai": {"kind": "openai", "api_key": "sk-x", "price_input": 1, "price_output": 2}}
    infos = catalog_overrides(load_settings(providers=providers, prices={"oai/gpt-4o": {"input": 3, "output": 4}},
                                            catalog={"oai/gpt-4o": {"context_window": 5}}))
    assert infos["oai/*"].price == ModelPrice.per_mtok(1, 2)
    assert infos["oai/gpt-4o"].price == ModelPrice(Decimal(3), Decimal(4)) and infos["oai/gpt-4o"].context_window == 5
    with pytest.raises(SettingsError, match="LLMPORT_PRICES"):
        catalog_overrides(load_settings(providers=providers, prices={"nobody/gpt-4o": {"input": 3, "output": 4}}))
    with pytest.raises(SettingsError, match="LLMPORT_PRICES"):
        catalog_overrides(load_settings(providers=providers, prices={"oai/gpt-4o": {"input": 3}}))
    with pytest.raises(SettingsError, match="LLMPORT_CATALOG"):
        catalog_overrides(load_settings(providers=providers, catalog={"gpt-4o": {"context_window": 5}}))
