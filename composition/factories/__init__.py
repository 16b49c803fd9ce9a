"""Per-family client and adapter factories, imported only for the kinds a deployment uses.

Each family module (``openai``, ``anthropic``, ``google``, ``bedrock``) exports
``build_client(name, settings) -> client``, ``build_adapter(name, client, settings) -> LLMPort``
and ``async close_client(client)``. The families themselves are registered in
``llmport.composition.families``.
"""

from __future__ import annotations

from llmport.composition.families import FamilyFactory, family_of


def factory_for(kind: str) -> FamilyFactory:
    """The factory module of a provider kind (imports that family's SDK, and only that one)."""
    return family_of(kind).factory()
