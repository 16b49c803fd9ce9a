"""llmport's cost arithmetic equals genai-prices' own for any usage, on real price data (flat,
tiered, cache reads and writes), and the worst case bounds it."""

from __future__ import annotations

from decimal import Decimal

import genai_prices
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmport.adapters.genai_prices_catalog import GenaiPricesCatalog, convert_price
from llmport.domain import InvalidRequest, Usage
from llmport.domain.pricing import ModelPrice, TieredRate

MODELS = [("anthropic", "claude-haiku-4-5"), ("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o"),
          ("openai", "o3"), ("google", "gemini-2.5-pro"), ("google", "gemini-2.5-flash"),
          ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"), ("groq", "llama-3.3-70b-versatile"),
          ("deepseek", "deepseek-chat"), ("mistral", "mistral-large-latest")]
CATALOG = GenaiPricesCatalog({pid: pid for pid, _ in MODELS})


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    input_tokens = draw(st.integers(0, 400_000))
    cached = draw(st.integers(0, input_tokens))
    write = draw(st.integers(0, input_tokens - cached))
    output = draw(st.integers(0, 50_000))
    reasoning = draw(st.integers(0, output))
    return Usage(input_tokens, output, cached, write, reasoning)


@settings(max_examples=150, deadline=None)
@given(model=st.sampled_from(MODELS), usage=usages())
def test_cost_equals_genai_prices(model: tuple[str, str], usage: Usage) -> None:
    provider, name = model
    info = CATALOG.lookup(provider, name)
    assert info.price is not None, model
    theirs = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                           cache_read_tokens=usage.cached_input_tokens, cache_write_tokens=usage.cache_write_tokens,
                           output_reasoning_tokens=usage.reasoning_tokens),
        name, provider_id=provider).total_price
    ours = info.price.usage_cost(usage)
    assert ours == theirs
    assert info.price.worst_case(usage.input_tokens, usage.output_tokens) >= ours


def test_tiers_apply_to_all_tokens_once_the_input_exceeds_the_start() -> None:
    price = ModelPrice(TieredRate(Decimal(1), ((200_000, Decimal(2)),)), Decimal(10))
    assert price.usage_cost(Usage(200_000, 0)) == Decimal("0.2")
    assert price.usage_cost(Usage(200_001, 0)) == Decimal("0.400002")
    assert price.worst_case(10, 0) == Decimal("0.00002")


def test_separate_rates_only_where_the_model_has_them() -> None:
    flat = ModelPrice.per_mtok(1, 4)
    usage = Usage(1000, 500, cached_input_tokens=600, cache_write_tokens=200, reasoning_tokens=100)
    assert flat.usage_cost(usage) == Decimal("0.003")  # everything at the input/output rates
    full = ModelPrice(Decimal(1), Decimal(4), Decimal("0.1"), Decimal(2), Decimal(8), Decimal(5))
    # 200 uncached + 600 cache reads + 200 cache writes; 400 output + 100 reasoning; one request
    expected = (200 * 1 + 600 * Decimal("0.1") + 200 * 2 + 400 * 4 + 100 * 8) / Decimal(10**6) + Decimal("0.005")
    assert full.usage_cost(usage) == expected


@pytest.mark.parametrize("bad", [-1, float("inf"), float("nan"), "x", True, None, object()])
def test_bad_prices_are_invalid(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        ModelPrice(bad, Decimal(1))  # type: ignore[arg-type]


def test_prices_that_bill_unmeasured_units_are_unknown() -> None:
    from genai_prices.types import ModelPrice as TheirPrice

    assert convert_price(TheirPrice(input_mtok=Decimal(1), output_mtok=Decimal(2), input_mchars=Decimal(1))) is None
    known = convert_price(TheirPrice(input_mtok=Decimal(1), output_mtok=Decimal(2), input_audio_mtok=Decimal(9),
                                     requests_kcount=Decimal(3)))
    assert known == ModelPrice(Decimal(1), Decimal(2), per_kilo_requests=Decimal(3))
    assert convert_price(TheirPrice(input_mtok=Decimal(1))) is None
