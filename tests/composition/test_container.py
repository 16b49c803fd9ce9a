from __future__ import annotations

import os
import sys

import pytest
from dependency_injector import providers

from llmport.adapters.testing import FakeLLM
from llmport.composition import Container, Settings, SettingsError, open_llm
from llmport.domain import CompletionRequest, Message

REQ = CompletionRequest(model="default", messages=[Message.user("hi")])


async def test_a_host_swaps_the_llm_for_a_fake_in_its_tests() -> None:
    container = Container()
    container.settings.override(providers.Object(Settings()))
    fake = FakeLLM("scripted answer")
    with container.llm.override(fake):
        llm = container.llm()
        assert llm is fake
        assert (await llm.complete(REQ)).text == "scripted answer"
    assert fake.requests == [REQ]


async def test_no_provider_configured_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="no providers are configured"):
        async with open_llm(Settings()):
            pass


def test_importing_the_composition_root_imports_no_vendor_sdk() -> None:
    import subprocess

    code = ("import sys, llmport.composition, llmport.adapters, llmport.adapters.testing;"
            "print(sorted({m.split('.')[0] for m in sys.modules}"
            " & {'openai','anthropic','google','boto3','botocore'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.stdout.strip() == "[]"


def test_adapters_built_from_settings_scrub_their_provider_credentials() -> None:
    from llmport.composition.adapters_factory import build_adapters, build_clients
    from llmport.domain import ProviderUnavailable

    key = "gw-7f3a9c1e55d04b2a"
    settings = Settings(providers={"gw": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1",
                                          "api_key": key}})
    adapter = build_adapters(settings, build_clients(settings))["gw"]
    error = adapter._attribute(ProviderUnavailable(f"gateway said: bad key {key}"), REQ)  # type: ignore[attr-defined]
    assert key not in str(error)
