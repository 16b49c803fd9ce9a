"""The Anthropic adapter in the contract suite: first-party API and Vertex AI paths, both through
the real ``anthropic`` SDK against the emulator."""

from __future__ import annotations

import anthropic

from llmport.adapters.anthropic import AnthropicAdapter
from llmport.ports import LLMPort

from .harness import Harness


def _first_party(url: str) -> LLMPort:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test-key", base_url=url, max_retries=0)
    return AnthropicAdapter(client, provider="anthropic")


def _vertex(url: str) -> LLMPort:
    client = anthropic.AsyncAnthropicVertex(region="us-east5", project_id="test-project",
                                            access_token="ya29.test-token", base_url=f"{url}/v1", max_retries=0)
    return AnthropicAdapter(client, provider="anthropic-vertex")


HARNESSES = [
    # The emulator's Anthropic frames each carry one content delta (message_start etc. ride along
    # with the first), so no frame precedes the first text.
    Harness("anthropic", "anthropic", "claude-sonnet-test", _first_party, reasoning_signature=True,
            overloaded_status=529, lead_frames=0),
    Harness("anthropic-vertex", "anthropic", "claude-sonnet-test", _vertex, reasoning_signature=True,
            overloaded_status=529, lead_frames=0),
]
