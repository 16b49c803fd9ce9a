"""Per-family client and adapter factories, imported only for the kinds a deployment uses.

Each family module (``openai``, ``anthropic``, ``google``, ``bedrock``) exports
``build_client(name, settings) -> client``, ``build_adapter(name, client, settings) -> LLMPort``
and ``async close_client(client)``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

FAMILY_OF_KIND = {
    "openai": "openai",
    "azure_openai": "openai",
    "openai_compatible": "openai",
    "anthropic": "anthropic",
    "anthropic_bedrock": "anthropic",
    "anthropic_vertex": "anthropic",
    "google": "google",
    "vertex": "google",
    "bedrock": "bedrock",
}


def factory_for(kind: str) -> ModuleType:
    """The factory module of a provider kind (imports that family's SDK, and only that one)."""
    return importlib.import_module(f"{__name__}.{FAMILY_OF_KIND[kind]}")
