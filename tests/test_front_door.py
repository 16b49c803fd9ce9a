"""The front door: one module re-exports what a host needs, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import llmport.composition as front


def test_every_public_name_resolves() -> None:
    for name in front.__all__:
        assert getattr(front, name) is not None, name
    assert len(front.__all__) == len(set(front.__all__))


def test_it_is_the_same_object_as_in_its_layer() -> None:
    from llmport.adapters.testing import FakeLLM
    from llmport.adapters.testing.emulator import VendorEmulator
    from llmport.domain import CompletionRequest, RateLimited
    from llmport.ports import LLMPort

    assert front.FakeLLM is FakeLLM and front.VendorEmulator is VendorEmulator
    assert front.CompletionRequest is CompletionRequest and front.RateLimited is RateLimited
    assert front.LLMPort is LLMPort


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = front.Nope


def test_importing_the_front_door_loads_no_server_library_nor_sdk() -> None:
    # (starlette itself may arrive with dependency-injector's wiring module when it is installed)
    code = ("import sys, llmport.composition; "
            "bad = [m for m in ('uvicorn', 'llmport.adapters.testing.emulator', 'openai', 'anthropic', "
            "'google.genai', 'boto3', 'redis', 'opentelemetry') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_readme_imports_only_from_the_front_door() -> None:
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    imports = [line.strip() for line in readme.splitlines() if line.strip().startswith("from llmport")]
    assert imports, "the README shows how to import llmport"
    assert all(line.startswith("from llmport.composition import") for line in imports), imports
