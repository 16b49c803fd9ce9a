"""Cost on every answer equals genai-prices' own calculation from the vendor's reply, for every
SDK family's usage shape: plain, cached input, cache writes, reasoning, a tiered price."""

from __future__ import annotations

from decimal import Decimal

import genai_prices
import httpx2
import pytest

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Reply, ScriptedUsage
from llmport.composition.container import open_llm
from llmport.composition.settings import load_settings
from llmport.domain import CompletionRequest, Message, StreamEnd, UsageUpdate

from .conftest import FAMILIES, RAW_BODY, deployment

SHAPES = {
    "plain": ScriptedUsage(1200, 340),
    "cached": ScriptedUsage(5000, 100, cached_input_tokens=4000),
    "cache_write": ScriptedUsage(3000, 80, cache_write_tokens=2500),
    "reasoning": ScriptedUsage(900, 1500, reasoning_tokens=1200),
    "everything": ScriptedUsage(8000, 2000, cached_input_tokens=3000, cache_write_tokens=1000, reasoning_tokens=700),
    "tiered": ScriptedUsage(250_000, 1000, cached_input_tokens=50_000),
}
# Combinations a vendor never reports (its wire has no field for them) are left out.
UNSUPPORTED = {("gem", "cache_write"), ("gem", "everything"), ("oai", "cache_write"), ("oair", "cache_write")}


def genai_cost(emu: VendorEmulator, name: str, usage: ScriptedUsage) -> Decimal:
    """What genai-prices computes from the vendor's own reply (its usage extractor and price)."""
    _, model, _, _, provider_id, flavor, path = FAMILIES[name]
    emu.script(Reply("priced answer", usage=usage), tag=name)
    headers = {"authorization": "Bearer k", "x-api-key": "k", "anthropic-version": "2023-06-01", "x-goog-api-key": "k"}
    raw = httpx2.post(emu.url_for(name) + path, json=RAW_BODY[name], headers=headers).json()
    extracted = genai_prices.extract_usage(raw, provider_id=provider_id, api_flavor=flavor)
    found = genai_prices.calc_price(extracted.usage, model, provider_id=provider_id)
    return found.total_price


CASES = [(n, s) for n in FAMILIES for s in SHAPES if (n, s) not in UNSUPPORTED]


@pytest.mark.parametrize(("name", "shape"), CASES)
async def test_completion_cost_matches_genai_prices(emu: VendorEmulator, name: str, shape: str) -> None:
    usage = SHAPES[shape]
    expected = genai_cost(emu, name, usage)
    emu.script(Reply("priced answer", usage=usage), tag=name)
    async with open_llm(deployment(emu, name)) as llm:
        completion = await llm.complete(CompletionRequest(model="default", messages=[Message.user("hi")]))
    assert completion.cost == expected
    assert completion.cost is not None and completion.cost > 0
    assert completion.request_cost == expected  # one attempt


@pytest.mark.parametrize("name", list(FAMILIES))
async def test_stream_carries_the_cost_on_its_last_usage_update_and_end(emu: VendorEmulator, name: str) -> None:
    usage = SHAPES["reasoning"]
    expected = genai_cost(emu, name, usage)
    emu.script(Reply("a streamed and priced answer", usage=usage, chunk_size=5), tag=name)
    request = CompletionRequest(model="default", messages=[Message.user("hi")])
    async with open_llm(deployment(emu, name)) as llm, llm.stream(request) as events:
        seen = [e async for e in events]
    updates = [e for e in seen if isinstance(e, UsageUpdate)]
    end = seen[-1]
    assert isinstance(end, StreamEnd)
    assert updates[-1].cost == expected
    assert end.cost == expected and end.request_cost == expected


async def test_settings_override_the_price(emu: VendorEmulator) -> None:
    emu.script(Reply("x", usage=ScriptedUsage(1_000_000, 1_000_000, cached_input_tokens=500_000)), tag="oai")
    settings = deployment(emu, "oai", prices={"oai/gpt-4o": {"input": 1, "output": 2, "cache_read": "0.1"}})
    async with open_llm(settings) as llm:
        completion = await llm.complete(CompletionRequest(model="default", messages=[Message.user("hi")]))
    assert completion.cost == Decimal("0.5") + Decimal("0.05") + Decimal(2)


async def test_provider_wide_price_from_provider_settings(emu: VendorEmulator) -> None:
    emu.script(Reply("x", usage=ScriptedUsage(2_000_000, 1_000_000)), tag="oai")
    settings = deployment(emu, "oai")
    providers = {"oai": {**settings.providers["oai"].model_dump(), "price_input": 0.5, "price_output": 1.5}}
    async with open_llm(load_settings(providers=providers, logging={"level": "error"})) as llm:
        completion = await llm.complete(CompletionRequest(model="default", messages=[Message.user("hi")]))
    assert completion.cost == Decimal("2.5")


async def test_unknown_model_costs_none_and_warns_once(emu: VendorEmulator,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    settings = deployment(emu, "oai")
    providers = {"oai": {**settings.providers["oai"].model_dump(), "default_model": "my-private-finetune"}}
    s = load_settings(providers=providers, logging={"level": "warning", "configure": True})
    emu.script(then=Reply("x", usage=ScriptedUsage(10, 10)), tag="oai")
    async with open_llm(s) as llm:
        for _ in range(3):
            completion = await llm.complete(CompletionRequest(model="default", messages=[Message.user("hi")]))
            assert completion.cost is None and completion.request_cost is None
    logged = capsys.readouterr()
    assert (logged.out + logged.err).count("llm.price_unknown") == 1
