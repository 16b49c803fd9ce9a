from __future__ import annotations

import os
import sys

import pytest
from dependency_injector import providers

from llmport.adapters.testing import FakeLLM
from llmport.composition import Container, Settings, open_llm
from llmport.domain import CompletionRequest, InvalidRequest, Message

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


async def test_no_provider_configured_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match="no providers are configured"):
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
