"""Builds one SDK client and one adapter per configured provider, importing only the SDKs in use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from llmport.adapters.base import SDKAdapter
from llmport.adapters.keyring import KeyRotatingAdapter
from llmport.ports import LLMPort

from .factories import factory_for
from .settings import Settings


@dataclass(frozen=True)
class ProviderClients:
    """The SDK clients of a deployment, by provider name, in configured order."""

    clients: dict[str, Any]


def build_clients(settings: Settings) -> ProviderClients:
    """Every provider's SDK client (construction is synchronous and does no I/O)."""
    return ProviderClients({
        name: factory_for(provider.kind).build_client(name, provider)
        for name, provider in settings.ordered_providers.items()
    })


async def hold_clients(settings: Settings, clients: ProviderClients,
                       adapters: dict[str, LLMPort] | None = None) -> AsyncIterator[ProviderClients]:
    """A dependency-injector resource: holds the clients open; at shutdown closes every adapter
    (its open streams and worker threads) and then every client, each even if another's close
    failed (the first failure is raised afterwards)."""
    try:
        yield clients
    finally:
        errors: list[BaseException] = []
        for adapter in (adapters or {}).values():
            try:
                await adapter.aclose()
            except Exception as exc:  # every adapter must get its close
                errors.append(exc)
        for name, client in clients.clients.items():
            try:
                await factory_for(settings.providers[name].kind).close_client(client)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def build_adapters(settings: Settings, clients: ProviderClients) -> dict[str, LLMPort]:
    """One adapter per provider, over its injected client."""
    adapters: dict[str, LLMPort] = {}
    for name, provider in settings.ordered_providers.items():
        adapter = factory_for(provider.kind).build_adapter(name, clients.clients[name], provider)
        if isinstance(adapter, SDKAdapter | KeyRotatingAdapter):
            adapter.redact(provider.secret_values())
        adapters[name] = adapter
    return adapters
