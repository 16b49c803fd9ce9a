"""The composition root: settings → SDK clients (resources) → adapters → policy → ``llm``.

At start-up and shutdown::

    container = Container()
    await container.init_resources()       # configures logging, builds the SDK clients
    llm = container.llm()                  # the LLMPort
    ...
    await container.shutdown_resources()   # closes every SDK client

In a host's tests: ``container.llm.override(FakeLLM("scripted answer"))``; ``container.llm()``
then returns the fake. The ``llm`` chain is synchronous (building clients does no I/O); only the
``client_lifetime`` resource is asynchronous, so that shutdown can await each adapter's and client's close.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from dependency_injector import containers, providers

from llmport.ports import LLMPort
from llmport.ports.context import ContextSource
from llmport.ports.pipeline import Step

from .adapters_factory import build_adapters, build_clients, hold_clients
from .logging import configure_logging
from .money_factory import (
    build_budget_store,
    build_catalog,
    build_ledger,
    build_metered,
    build_metering,
    hold_ledger,
    policy_observer,
)
from .pipeline_factory import build_llm, build_response_cache
from .policy_factory import build_policy
from .settings import Settings, load_settings
from .state_factory import build_redis, hold_state
from .sync_llm import SyncLLM
from .telemetry_factory import build_telemetry, traced_llm, traced_observer


class Container(containers.DeclarativeContainer):
    """llmport's dependency-injector container. ``llm`` is the ``LLMPort`` a host calls."""

    settings = providers.Singleton(load_settings)
    logging = providers.Resource(configure_logging, settings)
    clients = providers.Singleton(build_clients, settings)
    adapters = providers.Singleton(build_adapters, settings, clients)
    # Closes the adapters (streams, worker pools) and then the clients at shutdown.
    client_lifetime = providers.Resource(hold_clients, settings, clients, adapters)
    # money: catalog (genai-prices + settings), metering of every attempt, ledger, budgets
    catalog = providers.Singleton(build_catalog, settings)
    metering = providers.Singleton(build_metering, catalog)
    # the Redis connection replicas share (None without LLMPORT_STATE__URL); closed at shutdown
    redis = providers.Singleton(build_redis, settings)
    # OpenTelemetry (None unless LLMPORT_TELEMETRY__ENABLED); a host may inject its own providers
    tracer_provider: providers.Provider[Any] = providers.Object(None)
    meter_provider: providers.Provider[Any] = providers.Object(None)
    telemetry = providers.Singleton(build_telemetry, settings, tracer_provider, meter_provider)
    policy = providers.Singleton(build_policy, settings, adapters,
                                 providers.Singleton(traced_observer, providers.Singleton(policy_observer, metering),
                                                     telemetry),
                                 catalog, redis=redis)
    state_lifetime = providers.Resource(hold_state, policy, redis)
    # The ledger and budgets are shared by the replicas through Redis when the state has a URL.
    ledger = providers.Singleton(build_ledger, settings, redis)
    # Writes out the ledger's queued records at shutdown (before the Redis connection closes).
    ledger_lifetime = providers.Resource(hold_ledger, ledger, state_lifetime)
    budget_store = providers.Singleton(build_budget_store, settings, redis)
    metered = providers.Singleton(build_metered, settings, policy, metering, ledger, budget_store)
    # pipeline: host steps -> context enrichment -> response cache -> metered (budgets) -> policy
    pipeline_steps: providers.Provider[Sequence[Step]] = providers.Object(())  # a host's own, outermost first
    context_source: providers.Provider[ContextSource | None] = providers.Object(None)  # else LLMPORT_CONTEXT__*
    response_cache = providers.Singleton(build_response_cache, settings, redis)
    llm = providers.Singleton(traced_llm, providers.Singleton(build_llm, settings, policy, metered, response_cache,
                                                              context_source, pipeline_steps, ledger), telemetry)
    # The blocking facade for synchronous hosts: owns this container's lifecycle on a private loop thread.
    __self__ = providers.Self()
    sync_llm = providers.Singleton(SyncLLM, __self__)


@asynccontextmanager
async def open_llm(settings: Settings | None = None, **overrides: Any) -> AsyncIterator[LLMPort]:
    """Build the container (from ``settings`` or the environment), yield ``llm``, close everything."""
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    elif overrides:
        container.settings.override(providers.Object(load_settings(**overrides)))
    try:
        await _settle(container.init_resources())
        llm: LLMPort = container.llm()
        yield llm
    finally:
        await _settle(container.shutdown_resources())


async def _settle(result: Awaitable[None] | None) -> None:
    # dependency-injector returns an awaitable only when some resource is asynchronous.
    if result is not None:
        await result
