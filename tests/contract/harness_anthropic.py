"""The Anthropic adapter in the contract suite: first-party API, Vertex AI paths and Claude on
Bedrock (InvokeModel), all through the real ``anthropic`` SDK against the emulator."""

from __future__ import annotations

import anthropic
from pydantic import SecretStr

from llmport.adapters.anthropic import AnthropicAdapter
from llmport.composition.factories import anthropic as factory
from llmport.composition.families import provider_settings
from llmport.ports import LLMPort

from .harness import Harness


def _first_party(url: str) -> LLMPort:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test-key", base_url=url, max_retries=0)
    return AnthropicAdapter(client, provider="anthropic")


def _vertex(url: str) -> LLMPort:
    client = anthropic.AsyncAnthropicVertex(region="us-east5", project_id="test-project",
                                            access_token="ya29.test-token", base_url=f"{url}/v1", max_retries=0)
    return AnthropicAdapter(client, provider="anthropic-vertex")


def _bedrock(url: str) -> LLMPort:
    settings = provider_settings(kind="anthropic_bedrock", base_url=url, region="us-east-1", timeout=5,
                                aws_access_key_id=SecretStr("AKIDTESTING"),
                                aws_secret_access_key=SecretStr("testing-secret"))
    return factory.build_adapter("anthropic-bedrock", factory.build_client("anthropic-bedrock", settings), settings)


HARNESSES = [
    # The emulator's Anthropic frames each carry one content delta (message_start etc. ride along
    # with the first), so no frame precedes the first text.
    Harness("anthropic", "anthropic", "claude-sonnet-test", _first_party, reasoning_signature=True,
            overloaded_status=529, lead_frames=0),
    Harness("anthropic-vertex", "anthropic", "claude-sonnet-test", _vertex, reasoning_signature=True,
            overloaded_status=529, lead_frames=0),
    # Built through the composition factory. Bedrock has no 529: a model without capacity answers
    # ModelNotReadyException (429). The SDK cannot count tokens on Bedrock: the adapter estimates.
    Harness("anthropic-bedrock", "anthropic_bedrock", "anthropic.claude-sonnet-test-v1:0", _bedrock,
            reasoning_signature=True, exact_count_tokens=False, overloaded_status=429, lead_frames=0,
            family="anthropic"),
]
