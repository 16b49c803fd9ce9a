"""The OpenAI adapter in the contract suite: Chat Completions, the Responses API and Azure OpenAI,
each through the real ``openai`` SDK against the emulator."""

from __future__ import annotations

import openai

from llmport.adapters.openai import OpenAIAdapter, OpenAIOptions
from llmport.ports import LLMPort

from .harness import Harness


def _chat(url: str) -> LLMPort:
    client = openai.AsyncOpenAI(api_key="sk-test-contract-key", base_url=f"{url}/v1", max_retries=0)
    return OpenAIAdapter(client, provider="openai",
                         options=OpenAIOptions(count_tokens_endpoint=True, max_tokens_param="max_completion_tokens"))


def _responses(url: str) -> LLMPort:
    client = openai.AsyncOpenAI(api_key="sk-test-contract-key", base_url=f"{url}/v1", max_retries=0)
    return OpenAIAdapter(client, provider="openai-responses",
                         options=OpenAIOptions(api="responses", count_tokens_endpoint=True))


def _azure(url: str) -> LLMPort:
    client = openai.AsyncAzureOpenAI(api_key="azure-test-key", azure_endpoint=url, api_version="2024-10-21",
                                     max_retries=0)
    return OpenAIAdapter(client, provider="azure", options=OpenAIOptions())


HARNESSES = [
    Harness("openai-chat", "openai", "gpt-4o-test", _chat, stop_sequence=False, lead_frames=1),
    Harness("openai-responses", "openai", "gpt-5-test", _responses, reasoning_signature=True, stop_sequence=False,
            lead_frames=4),
    Harness("azure-openai", "openai", "my-deployment", _azure, exact_count_tokens=False, stop_sequence=False,
            lead_frames=1),
]
