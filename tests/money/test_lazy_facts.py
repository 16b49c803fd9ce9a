"""The price data loads when a request first needs a route's facts, not at start-up: routes over
genai-prices are ``Route.deferred``, their facts looked up once, on first read."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

from llmport.adapters.genai_prices_catalog import GenaiPricesCatalog
from llmport.adapters.testing.fake import FakeLLM
from llmport.composition.money_factory import catalog_overrides
from llmport.composition.policy_factory import build_policy
from llmport.composition.settings import validate_settings
from llmport.domain.catalog import ModelInfo
from llmport.domain.pricing import ModelPrice
from llmport.ports import Route
from llmport.ports.catalog import LayeredCatalog
from llmport.ports.json_tool import JsonThroughTool


def test_a_deferred_route_asks_for_its_facts_once_on_first_read() -> None:
    calls: list[int] = []
    info = ModelInfo("p", "m", context_window=5, price=ModelPrice.per_mtok(1, 2))

    def facts() -> ModelInfo:
        calls.append(1)
        return info

    route = Route.deferred("p", "m", FakeLLM(name="p"), facts, weight=3)
    assert isinstance(route, Route) and (route.name, route.weight, calls) == ("p/m", 3, [])
    assert route.price == ModelPrice.per_mtok(1, 2)
    assert (route.context_window, route.info, calls) == (5, info, [1])
    assert "context_window=5" in repr(route) and calls == [1]
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        route.missing  # type: ignore[attr-defined]  # noqa: B018
    plain = Route("p", "m", FakeLLM(name="p"))
    assert (plain.context_window, plain.price, plain.info) == (None, None, None)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        plain.missing  # type: ignore[attr-defined]  # noqa: B018


class CountingCatalog(GenaiPricesCatalog):
    def __init__(self, providers: dict[str, str | None], fail: bool = False) -> None:
        super().__init__(providers)
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    def lookup(self, provider: str, model: str) -> ModelInfo:
        self.calls.append((provider, model))
        if self.fail:
            raise RuntimeError("the price data is broken")
        return super().lookup(provider, model)


def _policy(catalog_section: dict[str, Any] | None = None, fail: bool = False) -> tuple[Any, CountingCatalog]:
    settings = validate_settings({
        "providers": {"oai": {"kind": "openai", "api_key": "sk-test", "models": ["gpt-4o"]}},
        "catalog": catalog_section or {},
    })
    base = CountingCatalog({"oai": "openai"}, fail=fail)
    catalog = LayeredCatalog(base, catalog_overrides(settings))
    return build_policy(settings, {"oai": FakeLLM(name="oai")}, catalog=catalog), base


def test_routes_over_genai_prices_look_their_facts_up_on_first_read() -> None:
    policy, base = _policy()
    route = policy.router.resolve("oai/gpt-4o").routes[0]
    assert base.calls == []  # built: nothing looked up yet
    assert route.context_window == 128_000
    assert route.price is not None and route.price.input_per_mtok == Decimal("2.5")
    assert route.info is not None and route.info.price_source == base.source
    assert base.calls == [("oai", "gpt-4o")]
    assert type(route.adapter) is FakeLLM


def test_json_through_a_tool_is_decided_from_the_settings_at_start_up() -> None:
    policy, base = _policy({"oai/gpt-4o": {"json_schema": False, "tools": True}})
    route = policy.router.resolve("oai/gpt-4o").routes[0]
    assert isinstance(route.adapter, JsonThroughTool) and base.calls == []
    assert route.info is not None and route.info.supports_json_schema is True  # the wrapped route serves it
    assert route.context_window == 128_000


def test_unreadable_price_data_leaves_the_settings_facts_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    policy, base = _policy({"oai/gpt-4o": {"context_window": 4096}}, fail=True)
    route = policy.router.resolve("oai/gpt-4o").routes[0]
    with caplog.at_level(logging.WARNING, logger="llmport.money"):
        assert (route.context_window, route.price) == (4096, None)
    assert base.calls == [("oai", "gpt-4o")]
    assert "llm.catalog" in caplog.text and "RuntimeError" in caplog.text and "oai/gpt-4o" in caplog.text


def test_the_catalog_imports_genai_prices_on_first_lookup_only() -> None:
    catalog = GenaiPricesCatalog({"oai": "openai"})
    assert catalog._source is None
    assert catalog.lookup("oai", "gpt-4o").price_source == catalog.source
    assert catalog.source.startswith("genai-prices ")


def test_configured_is_the_settings_alone() -> None:
    class Base:
        def lookup(self, provider: str, model: str) -> ModelInfo:
            raise AssertionError("not asked")

    catalog = LayeredCatalog(Base(), {"p/*": ModelInfo("p", "*", context_window=10, supports_tools=True),
                                      "p/m": ModelInfo("p", "m", supports_tools=False)})
    assert catalog.configured("p", "m") == ModelInfo("p", "m", context_window=10, supports_tools=False)
    assert catalog.configured("q", "m") == ModelInfo("q", "m")


def test_a_deferred_route_is_a_route_in_every_other_way() -> None:
    calls: list[int] = []

    def facts() -> ModelInfo:
        calls.append(1)
        return ModelInfo("p", "m", context_window=9)

    route = Route.deferred("p", "m", FakeLLM(name="p"), facts)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        route.missing  # type: ignore[attr-defined]  # noqa: B018
    assert calls == [] and route.weight == 1
    text = repr(route)
    assert calls == [1] and "info=" not in text and "_facts" not in text and "context_window=9" in text
    assert route._facts is None  # the lookup is dropped once done
    assert type(route) is Route  # a plain route from then on (attribute reads at full speed)
    assert repr(Route.deferred("p", "m", FakeLLM(name="p"), facts)).startswith("Route(")
    with pytest.raises(TypeError):
        Route("p", "m", FakeLLM(name="p"), name="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Route("p", "m", FakeLLM(name="p"), _facts=facts)  # type: ignore[call-arg]


def test_a_host_catalog_is_asked_at_start_up_and_may_route_json_through_a_tool() -> None:
    class HostCatalog:
        def __init__(self) -> None:
            self.calls = 0

        def lookup(self, provider: str, model: str) -> ModelInfo:
            self.calls += 1
            return ModelInfo(provider, model, context_window=777, supports_json_schema=False)

    settings = validate_settings({"providers": {"oai": {"kind": "openai", "api_key": "sk-test",
                                                        "models": ["m1"]}}})
    host = HostCatalog()
    policy = build_policy(settings, {"oai": FakeLLM(name="oai")}, catalog=host)
    assert host.calls == 1  # looked up while building: a host's catalog may say what a model supports
    route = policy.router.resolve("oai/m1").routes[0]
    assert isinstance(route.adapter, JsonThroughTool) and route.context_window == 777
    assert route.info is not None and route.info.supports_json_schema is True
    plain = build_policy(settings, {"oai": FakeLLM(name="oai")}, catalog=LayeredCatalog(None))
    assert type(plain.router.resolve("oai/m1").routes[0].adapter) is FakeLLM


@pytest.mark.parametrize(("prices", "expected"), [({}, None), ({"price_input": 2}, (2, 0)),
                                                  ({"price_output": 3}, (0, 3)), ({"price_input": 2, "price_output": 3},
                                                                                   (2, 3))])
def test_without_a_catalog_the_provider_prices_price_its_routes(prices: dict[str, float],
                                                                expected: tuple[int, int] | None) -> None:
    settings = validate_settings({"providers": {"oai": {"kind": "openai", "api_key": "sk-test", "models": ["m1"],
                                                        **prices}}})
    route = build_policy(settings, {"oai": FakeLLM(name="oai")}).router.resolve("oai/m1").routes[0]
    assert route.price == (None if expected is None else ModelPrice.per_mtok(*expected))
