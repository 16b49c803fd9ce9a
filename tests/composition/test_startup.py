"""Start-up pays for what the deployment configures: starting a container with one openai
provider defines no other family's settings, runs no provider detection and loads no blocking
facade, and loads no price data (it loads when a request first needs a route's price)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

START = """
import asyncio, json, sys
from llmport.composition import Container, start, stop
async def main():
    container = Container()
    llm = await start(container)
    await stop(container)
asyncio.run(main())
print(json.dumps(sorted(sys.modules)))
"""


def test_one_openai_provider_loads_only_its_own_family() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPORT_")}
    env |= {"LLMPORT_PROVIDERS__P__KIND": "openai", "LLMPORT_PROVIDERS__P__API_KEY": "sk-test",
            "LLMPORT_PROVIDERS__P__BASE_URL": "http://127.0.0.1:9/v1", "LLMPORT_ALIASES__FAST": "p/m",
            "XDG_CONFIG_HOME": os.devnull, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", START], capture_output=True, text=True, check=True, env=env)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert {"llmport.composition.families.openai", "llmport.composition.factories.openai"} <= loaded
    others = {f"llmport.composition.{p}.{f}" for p in ("families", "factories") for f in ("anthropic", "google",
                                                                                          "bedrock")}
    assert not loaded & others
    assert "llmport.composition.detect" not in loaded  # a provider is configured: nothing to detect
    assert "llmport.composition.sync_llm" not in loaded  # an async host needs no blocking facade
    assert "genai_prices" not in loaded
    assert "difflib" not in loaded  # did-you-mean: only on a settings mistake
