"""Builds one SDK client and one adapter per configured provider, importing only the SDKs in use.

Everything checkable without a network call is checked here, for every provider at once: the SDK
extra is installed, a credential source exists, the AWS region/profile are usable, the SDK accepts
the settings. Each problem becomes one line of a single ``SettingsError``.
"""

from __future__ import annotations

from typing import Any

from llmport.adapters.base import SDKAdapter
from llmport.adapters.keyring import KeyRotatingAdapter
from llmport.domain.frozen import valueclass
from llmport.ports import LLMPort

from .families import family_of
from .provider_settings import ProviderProblem
from .settings import Settings, SettingsError


@valueclass
class ProviderClients:
    """The SDK clients of a deployment, by provider name, in configured order, and the Redis
    connection the replicas share (None without one): key rings keep their key state there."""

    clients: dict[str, Any]
    redis: Any = None


def build_clients(settings: Settings, redis: Any = None) -> ProviderClients:
    """Every provider's SDK client (construction is synchronous and does no I/O); one
    ``SettingsError`` listing every provider's problem."""
    clients: dict[str, Any] = {}
    problems: list[str] = []
    for name, provider in settings.ordered_providers.items():
        family = family_of(provider.kind)
        try:
            clients[name] = family.factory().build_client(name, provider)
        except ImportError:
            problems.append(f"{settings.where(('providers', name, 'kind'))}: the {family.name} SDK is not installed "
                            f"(pip install 'llmport[{family.extra}]')")
        except ProviderProblem as problem:
            problems.append(f"{settings.where(('providers', name, problem.field))}: {problem.message}")
        except Exception as exc:  # an SDK refusing its arguments; its message may quote a value
            problems.append(f"{settings.where(('providers', name))}: the {family.name} SDK rejected these "
                            f"settings ({type(exc).__name__})")
    if problems:
        raise SettingsError(*problems)
    return ProviderClients(clients, redis)


def build_adapters(settings: Settings, clients: ProviderClients) -> dict[str, LLMPort]:
    """One adapter per provider, over its injected client; one ``SettingsError`` listing every problem."""
    adapters: dict[str, LLMPort] = {}
    problems: list[str] = []
    for name, provider in settings.ordered_providers.items():
        family = family_of(provider.kind)
        try:
            adapter = family.factory().build_adapter(name, clients.clients[name], provider)
        except ProviderProblem as problem:
            problems.append(f"{settings.where(('providers', name, problem.field))}: {problem.message}")
            continue
        if isinstance(adapter, SDKAdapter | KeyRotatingAdapter):
            adapter.redact(provider.secret_values())
        adapters[name] = adapter
    if problems:
        raise SettingsError(*problems)
    share_key_state(clients, adapters)
    return adapters


def share_key_state(clients: ProviderClients, adapters: dict[str, LLMPort]) -> None:
    """With a shared Redis, every key ring keeps its key state there (one ``RedisKeyStates`` for
    all; closed by ``close_all``): a key one replica saw throttled or revoked is skipped by all."""
    rings = [a for a in adapters.values() if isinstance(a, KeyRotatingAdapter)]
    if clients.redis is None or not rings:
        return
    from llmport.adapters.redis.key_state import RedisKeyStates

    states = RedisKeyStates(clients.redis)
    for ring in rings:
        ring.share_state(states)


def _key_states(adapters: dict[str, LLMPort] | None) -> list[Any]:
    """The distinct key-state stores of the key rings among ``adapters``."""
    found: dict[int, Any] = {}
    for adapter in (adapters or {}).values():
        if isinstance(adapter, KeyRotatingAdapter):
            found.setdefault(id(adapter.ring.states), adapter.ring.states)
    return list(found.values())


async def start_key_state(adapters: dict[str, LLMPort]) -> None:
    """Learn the key rings' shared state before the first call (a shared store only; bounded by
    the Redis timeout, and a Redis that does not answer leaves each replica deciding alone)."""
    for states in _key_states(adapters):
        start = getattr(states, "start", None)
        if start is not None:
            await start()


async def close_all(settings: Settings, clients: ProviderClients | None, adapters: dict[str, LLMPort] | None) -> None:
    """Close every adapter (its open streams and worker threads), then every client, each even if
    another's close failed (the first failure is raised afterwards)."""
    errors: list[BaseException] = []
    for adapter in (adapters or {}).values():
        try:
            await adapter.aclose()
        except Exception as exc:  # every adapter must get its close
            errors.append(exc)
    for states in _key_states(adapters):  # flushes what the key rings queued (a no-op in memory)
        try:
            await states.aclose()
        except Exception as exc:
            errors.append(exc)
    for name, client in (clients.clients if clients else {}).items():
        provider = settings.providers.get(name)
        if provider is None:
            continue
        try:
            await family_of(provider.kind).factory().close_client(client)
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
