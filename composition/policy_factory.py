"""Builds the object behind ``container.llm`` from the settings and the adapters.

Until the failover policy lands this is a pass-through to the first configured provider.
"""

from __future__ import annotations

from llmport.domain import InvalidRequest
from llmport.ports import LLMPort

from .settings import Settings


def build_policy(settings: Settings, adapters: dict[str, LLMPort]) -> LLMPort:
    if not adapters:
        raise InvalidRequest("no providers are configured (set LLMPORT_PROVIDERS__<NAME>__KIND or LLMPORT_CONFIG)")
    return next(iter(adapters.values()))
