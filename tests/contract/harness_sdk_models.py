"""OpenAI Chat Completions, the Responses API and Anthropic read through the SDKs' own models
(``wire_streams = False``, ``wire_replies = False``): the path an adapter falls back to keeps the
whole contract too."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from llmport.ports import LLMPort

from .harness import Harness
from .harness_anthropic import HARNESSES as ANTHROPIC
from .harness_openai import HARNESSES as OPENAI


def _sdk_models(build: Any) -> Any:
    def built(url: str) -> LLMPort:
        adapter = build(url)
        adapter.wire_streams = False
        adapter.wire_replies = False
        return adapter  # type: ignore[no-any-return]
    return built


_FAMILIES = ("openai-chat", "openai-responses", "anthropic")
HARNESSES: list[Harness] = [replace(h, name=f"{h.name}-sdk-models", build=_sdk_models(h.build))
                            for h in (*OPENAI, *ANTHROPIC) if h.name in _FAMILIES]
