"""Builds one SDK client and one adapter per configured provider, importing only the SDKs in use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from llmport.ports import LLMPort

from .factories import factory_for
from .settings import Settings


@dataclass(frozen=True)
class ProviderClients:
    """The SDK clients of a deployment, by provider name, in configured order."""

    clients: dict[str, Any]


async def provide_clients(settings: Settings) -> AsyncIterator[ProviderClients]:
    """A dependency-injector resource: builds every provider's SDK client, closes them at shutdown."""
    clients: dict[str, Any] = {}
    try:
        for name, provider in settings.ordered_providers.items():
            clients[name] = factory_for(provider.kind).build_client(name, provider)
        yield ProviderClients(clients)
    finally:
        for name, client in clients.items():
            await factory_for(settings.providers[name].kind).close_client(client)


def build_adapters(settings: Settings, clients: ProviderClients) -> dict[str, LLMPort]:
    """One adapter per provider, over its injected client."""
    adapters: dict[str, LLMPort] = {}
    for name, provider in settings.ordered_providers.items():
        adapters[name] = factory_for(provider.kind).build_adapter(name, clients.clients[name], provider)
    return adapters
