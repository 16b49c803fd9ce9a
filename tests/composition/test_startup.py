"""Start-up pays for what the deployment configures: starting a container with one openai
provider defines no other family's settings, runs no provider detection and loads no blocking
facade, loads no price data (it loads when a request first needs a route's price) and builds no
validator for the settings sections it leaves out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

START = """
import asyncio, json, sys
from llmport.composition import Container, start, stop
async def main():
    container = Container()
    llm = await start(container)
    settings = container.settings()
    await stop(container)
    return settings
settings = asyncio.run(main())
print(json.dumps(sorted(sys.modules)))
print(json.dumps({f: type(getattr(settings, f)).__pydantic_complete__
                  for f in ("policy", "logging", "ledger", "cache", "context", "state", "telemetry")}))
"""


def test_one_openai_provider_loads_only_its_own_family() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPORT_")}
    env |= {"LLMPORT_PROVIDERS__P__KIND": "openai", "LLMPORT_PROVIDERS__P__API_KEY": "sk-test",
            "LLMPORT_PROVIDERS__P__BASE_URL": "http://127.0.0.1:9/v1", "LLMPORT_ALIASES__FAST": "p/m",
            "XDG_CONFIG_HOME": os.devnull, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", START], capture_output=True, text=True, check=True, env=env)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-2]))
    built = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"llmport.composition.families.openai", "llmport.composition.factories.openai"} <= loaded
    others = {f"llmport.composition.{p}.{f}" for p in ("families", "factories") for f in ("anthropic", "google",
                                                                                          "bedrock")}
    assert not loaded & others
    assert "llmport.composition.detect" not in loaded  # a provider is configured: nothing to detect
    assert "llmport.composition.sync_llm" not in loaded  # an async host needs no blocking facade
    assert "genai_prices" not in loaded
    assert "difflib" not in loaded  # did-you-mean: only on a settings mistake
    assert "llmport.ports.structured" not in loaded  # typed structured output: hosts that use it
    assert "llmport.adapters.redis" not in loaded  # no shared state configured
    assert built == dict.fromkeys(built, False)  # sections left out build no validator


def test_sections_left_out_equal_their_validated_defaults() -> None:
    from llmport.composition.pipeline_settings import CacheSettings
    from llmport.composition.settings import Settings, SettingsError, validate_settings

    settings = validate_settings({})
    for name in ("policy", "logging", "ledger", "cache", "context", "state", "telemetry"):
        value = getattr(settings, name)
        assert value == type(value).model_validate({}), name
    assert (settings.prices, settings.catalog, settings.budgets) == ({}, {}, {})
    off = CacheSettings(backend="off")
    assert Settings(cache=off).cache is off  # a section given as its model is kept
    given = validate_settings({"cache": {"backend": "off"}, "prices": {"p/m": {"input": 1, "output": 2}}})
    assert given.cache == off and given.prices["p/m"].output == 2
    with pytest.raises(SettingsError) as raised:
        validate_settings({"cache": {"backnd": "off"}, "prices": {"p/m": {"input": -1}}})
    problems = raised.value.problems
    assert any(p.startswith("settings: cache.backnd: unknown setting; did you mean cache.backend?") for p in problems)
    assert any(p.startswith("settings: prices.p/m.input:") for p in problems), problems
