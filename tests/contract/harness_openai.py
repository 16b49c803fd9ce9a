"""The OpenAI family in the contract suite: Chat Completions, the Responses API, Azure OpenAI and an
OpenAI-compatible preset, each built by the composition factory over the real ``openai`` SDK and
pointed at the emulator."""

from __future__ import annotations

from typing import Any

from llmport.composition.factories import openai as factory
from llmport.composition.families import provider_settings
from llmport.ports import LLMPort

from .harness import Harness


def _builder(name: str, **settings: Any) -> Any:
    def build(url: str) -> LLMPort:
        values = {k: (v.format(url=url) if isinstance(v, str) else v) for k, v in settings.items()}
        provider = provider_settings(**values)
        return factory.build_adapter(name, factory.build_client(name, provider), provider)
    return build


HARNESSES = [
    Harness("openai-chat", "openai", "gpt-4o-test",
            _builder("openai", kind="openai", api_key="sk-test-contract-key", base_url="{url}/v1"),
            stop_sequence=False, lead_frames=1),
    Harness("openai-responses", "openai", "gpt-5-test",
            _builder("openai-responses", kind="openai", api="responses", api_key="sk-test-contract-key",
                     base_url="{url}/v1"),
            reasoning_signature=True, stop_sequence=False, lead_frames=4),
    Harness("azure-openai", "openai", "my-deployment",
            _builder("azure", kind="azure_openai", api_key="azure-test-key", endpoint="{url}",
                     api_version="2024-10-21"),
            exact_count_tokens=False, stop_sequence=False, lead_frames=1),
    Harness("openai-compatible", "openai", "deepseek-reasoner",
            _builder("deepseek", kind="openai_compatible", preset="deepseek", api_key="sk-test-contract-key",
                     base_url="{url}/v1"),
            exact_count_tokens=False, stop_sequence=False, lead_frames=1),
]
