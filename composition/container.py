"""The composition root: settings → SDK clients → adapters → policy → ``llm``.

The typed entry points are ``open_llm()`` (an async context manager yielding the ``LLMPort``) and
``start(container)`` / ``stop(container)``::

    container = Container()
    llm = await start(container)    # checks every setting, builds clients, adapters and policy
    ...
    await stop(container)           # closes every adapter and SDK client

``start`` is ``await container.init_resources()`` then ``container.llm()``. Everything checkable
without the network is checked there: a misconfiguration is one ``SettingsError``. The container
is restartable (``stop`` then ``start`` builds fresh clients), and the ``llm`` a host holds keeps
its clients until ``stop``, whatever happens to the container object.

In a host's tests: ``container.llm.override(FakeLLM("scripted answer"))``; ``container.llm()`` then
returns the fake. A host's own ``PolicyObserver`` is attached with
``container.observer.override(providers.Object(observer))`` before ``start``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from dependency_injector import containers, providers, resources

from llmport.ports import FailoverPolicy, FanoutObserver, LLMPort, PolicyObserver
from llmport.ports.pipeline import Step

from .adapters_factory import ProviderClients, build_adapters, build_clients, close_all, start_key_state
from .logging import configure_logging
from .loop_guard import LoopBoundLLM
from .money_factory import (
    build_budget_store,
    build_catalog,
    build_ledger,
    build_metered,
    build_metering,
    hold_ledger,
)
from .pipeline_factory import build_llm, build_response_cache
from .policy_factory import build_policy, default_observer, route_problems
from .settings import Settings, SettingsError, load_settings
from .state_factory import build_redis
from .telemetry_factory import build_telemetry, traced_llm, traced_observer

if TYPE_CHECKING:
    from llmport.ports.context import ContextSource

    from .sync_llm import SyncLLM

#: Seconds start-up waits at most for the shared state (Redis down: the replica starts on local state).
STATE_START_WAIT = 1.0


class Runtime:
    """What a started container holds; emptied at shutdown."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.llm: LoopBoundLLM | None = None
        self.policy: FailoverPolicy | None = None
        self.metered: LLMPort | None = None
        self.redis: Any = None
        self.clients: ProviderClients | None = None
        self.adapters: dict[str, LLMPort] | None = None
        self.extra: dict[str, Any] = {}


def _observer(settings: Settings, host: PolicyObserver | None, *more: PolicyObserver) -> PolicyObserver:
    """llmport's logging observer, the other parts' observers (metering) and the host's."""
    observers = [default_observer(settings), *more, *([host] if host is not None else [])]
    return observers[0] if len(observers) == 1 else FanoutObserver(*observers)


class Lifetime(resources.AsyncResource[LLMPort]):
    """A dependency-injector resource: builds clients, adapters, the policy and the steps around it
    (every setting checked), holds them while the container runs, closes them all at shutdown.

    A class, not an async generator: a generator dropped with its container would be finalised by
    the garbage collector, closing the clients of an ``llm`` the host still holds."""

    async def init(self, settings: Settings, runtime: Runtime, clients: Any, adapters: Any, policy: Any,
                   metered: Any, pipeline: Any, redis: Any = None, telemetry: Any = None) -> LLMPort:
        built_clients: ProviderClients | None = None
        built_adapters: dict[str, LLMPort] | None = None
        try:
            try:
                built_clients = clients() if callable(clients) else clients
            except SettingsError as exc:  # also list the alias and default-model problems, found without clients
                more = [p for p in route_problems(settings) if p not in exc.problems]
                if not more:
                    raise
                raise SettingsError(*exc.problems, *more) from None
            built_adapters = adapters(settings, built_clients) if callable(adapters) else adapters
            await start_key_state(built_adapters)
            built_policy = policy(adapters=built_adapters)
            runtime.metered = metered(policy=built_policy)
            # the request span (telemetry on) is outermost: it covers every step
            top = traced_llm(pipeline(policy=built_policy, terminal=runtime.metered), telemetry, built_policy)
        except BaseException:
            runtime.metered = None
            await close_all(settings, built_clients, built_adapters)
            if redis is not None:
                await redis.aclose()
            raise
        starter = getattr(built_policy.state, "start", None)
        if redis is not None and starter is not None:  # learn the fleet's breakers before serving
            await starter(wait=STATE_START_WAIT, routes=[r.name for r in built_policy.router.all_routes()])
        runtime.redis = redis
        runtime.settings = settings
        runtime.clients, runtime.adapters, runtime.policy = built_clients, built_adapters, built_policy
        runtime.llm = LoopBoundLLM(top, asyncio.get_running_loop())
        return runtime.llm

    async def shutdown(self, resource: LLMPort | None) -> None:
        runtime = self.args[1] if len(self.args) > 1 else None
        if not isinstance(runtime, Runtime) or runtime.settings is None:
            return
        settings, clients, adapters = runtime.settings, runtime.clients, runtime.adapters
        policy, redis = runtime.policy, runtime.redis
        runtime.llm = runtime.clients = runtime.adapters = runtime.policy = runtime.metered = None
        runtime.settings = runtime.redis = None
        try:
            await close_all(settings, clients, adapters)
        finally:
            if redis is not None:  # the shared state flushes what it queued, then the connection closes
                try:
                    if policy is not None:
                        await policy.state.aclose()
                finally:
                    await redis.aclose()


def sync_facade(container: Any) -> SyncLLM:
    """The blocking facade over ``container`` (its module is imported by hosts that use it only)."""
    from .sync_llm import SyncLLM

    return SyncLLM(container)


def current_llm(runtime: Runtime) -> LLMPort:
    """The started container's ``llm``."""
    if runtime.llm is None:
        raise RuntimeError("the llmport container is not started: await container.init_resources() "
                           "(or llmport.composition.start(container)) before container.llm()")
    return runtime.llm


class Container(containers.DeclarativeContainer):
    """llmport's dependency-injector container. ``llm`` is the ``LLMPort`` a host calls."""

    settings = providers.Singleton(load_settings)
    observer: providers.Provider[PolicyObserver | None] = providers.Object(None)
    logging = providers.Resource(configure_logging, settings)
    # the Redis connection replicas share (None without LLMPORT_STATE__URL); closed at shutdown
    redis = providers.Singleton(build_redis, settings)
    # Factories: each start builds fresh clients and adapters (the container is restartable);
    # key rings keep their key state in the shared Redis when there is one.
    clients = providers.Factory(build_clients, settings, redis)
    adapters = providers.Object(build_adapters)
    # money: catalog (genai-prices + settings), metering of every attempt, ledger, budgets
    catalog = providers.Singleton(build_catalog, settings)
    metering = providers.Singleton(build_metering, catalog)
    # The ledger and budgets are shared by the replicas through Redis when the state has a URL.
    ledger = providers.Singleton(build_ledger, settings, redis)
    budget_store = providers.Singleton(build_budget_store, settings, redis)
    # OpenTelemetry (None unless LLMPORT_TELEMETRY__ENABLED); a host may inject its own providers
    tracer_provider: providers.Provider[Any] = providers.Object(None)
    meter_provider: providers.Provider[Any] = providers.Object(None)
    telemetry = providers.Singleton(build_telemetry, settings, tracer_provider, meter_provider)
    policy_observer = providers.Callable(traced_observer, providers.Callable(_observer, settings, observer, metering),
                                         telemetry)
    # Called by ``lifetime`` with the adapters it built (``policy``) and the policy (``stack``).
    new_policy = providers.Factory(build_policy, settings, observer=policy_observer, catalog=catalog, redis=redis)
    new_metered = providers.Factory(build_metered, settings, metering=metering, ledger=ledger, store=budget_store)
    # pipeline: host steps -> context enrichment -> response cache -> metered (budgets) -> policy
    pipeline_steps: providers.Provider[Sequence[Step]] = providers.Object(())  # a host's own, outermost first
    context_source: providers.Provider[ContextSource | None] = providers.Object(None)  # else LLMPORT_CONTEXT__*
    response_cache = providers.Singleton(build_response_cache, settings, redis)
    new_pipeline = providers.Factory(build_llm, settings, cache=response_cache, context=context_source,
                                     host_steps=pipeline_steps, ledger=ledger)
    runtime = providers.Singleton(Runtime)
    # Each start builds adapters, policy, budgets step and pipeline anew (the ``new_*`` factories).
    lifetime = providers.Resource(Lifetime, settings, runtime, clients.provider, adapters, new_policy.provider,
                                  new_metered.provider, new_pipeline.provider, redis, telemetry)
    # Writes out the ledger's queued records at shutdown, before ``lifetime`` closes the Redis connection.
    ledger_lifetime = providers.Resource(hold_ledger, ledger, lifetime)
    llm = providers.Callable(current_llm, runtime)
    # The parts of the started container (for hosts' tests and tools).
    policy = providers.Callable(lambda runtime: runtime.policy, runtime)
    metered = providers.Callable(lambda runtime: runtime.metered, runtime)
    # The blocking facade for synchronous hosts: owns this container's lifecycle on a private loop thread.
    __self__ = providers.Self()
    sync_llm = providers.Singleton(sync_facade, __self__)


async def start(container: Container) -> LLMPort:
    """Start ``container`` (check every setting, build everything) and return its ``llm``."""
    await _settle(container.init_resources())
    llm: LLMPort = container.llm()
    return llm


async def stop(container: Container) -> None:
    """Close everything ``container`` built and forget what it read: ``start`` may be called again
    and reads the settings anew (overrides stay)."""
    try:
        await _settle(container.shutdown_resources())
    finally:
        container.reset_singletons()


@asynccontextmanager
async def open_llm(settings: Settings | None = None, **overrides: Any) -> AsyncIterator[LLMPort]:
    """Build the container (from ``settings`` or the environment), yield ``llm``, close everything."""
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    elif overrides:
        container.settings.override(providers.Object(load_settings(**overrides)))
    try:
        yield await start(container)
    finally:
        await stop(container)


async def _settle(result: Awaitable[None] | None) -> None:
    # dependency-injector returns an awaitable only when some resource is asynchronous.
    if result is not None:
        await result
