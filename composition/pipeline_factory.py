"""Builds the pipeline behind ``container.llm``: the host's own steps, then context enrichment, the
response cache and (when configured) budgets, ending at the failover policy::

    host steps (e.g. PII redaction) -> ContextEnricher -> CachingLLM -> ... -> FailoverPolicy

A step is present only when configured (the cache unless ``LLMPORT_CACHE__BACKEND=off``, enrichment
when a guidance source is set): with neither, and no host step, the pipeline is its terminal port.
Enrichment comes before the cache, so the cache key covers the guidance added.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from llmport.adapters.cache_memory import MemoryResponseCache
from llmport.domain import LLMError
from llmport.ports import AttemptEvent, BreakerTransition, FailoverPolicy, LLMPort, PolicyObserver, SkippedRoutes
from llmport.ports.ledger import UsageLedger
from llmport.ports.observer import skipped_to
from llmport.ports.pipeline import Step, chain
from llmport.ports.response_cache import CachingLLM, ResponseCache

from .pipeline_settings import CacheSettings, ContextSettings
from .settings import Settings, SettingsError

if TYPE_CHECKING:
    from llmport.ports.context import ContextSource


def build_response_cache(settings: Settings | CacheSettings, redis: Any = None) -> ResponseCache | None:
    """The configured cache store (None when ``LLMPORT_CACHE__BACKEND=off``). ``redis``: the shared
    Redis connection, needed by the redis backend."""
    cache = settings if isinstance(settings, CacheSettings) else settings.cache
    if cache.backend == "off":
        return None
    if cache.backend == "memory":
        return MemoryResponseCache(cache.max_entries, cache.max_bytes)
    if redis is None:
        raise SettingsError("LLMPORT_CACHE__BACKEND: the redis backend needs the shared Redis connection "
                            "(set LLMPORT_STATE__URL)")
    from llmport.adapters.cache_redis import RedisResponseCache

    return RedisResponseCache(redis)


def build_context_source(context: ContextSettings) -> ContextSource | None:
    """Guidance from ``LLMPORT_CONTEXT__DIRECTORY`` (None when unset)."""
    if context.directory is None:
        return None
    from llmport.adapters.context_markdown import ContextFileError, MarkdownContextSource  # only when configured

    try:
        return MarkdownContextSource(context.directory)
    except ContextFileError as exc:
        raise SettingsError(f"LLMPORT_CONTEXT__DIRECTORY: {exc}") from None


def route_set_namer(policy: FailoverPolicy) -> Callable[[str], str]:
    """Names what a request's model resolves to (its routes, in order) for the cache key."""

    @functools.lru_cache(maxsize=4096)
    def name(model: str) -> str:
        return ",".join(route.name for route in policy.router.resolve(model).routes)

    return name


def build_llm(settings: Settings, policy: FailoverPolicy, terminal: LLMPort, cache: ResponseCache | None,
              context: ContextSource | None, host_steps: Sequence[Step], ledger: UsageLedger | None) -> LLMPort:
    """The container's ``llm``: the pipeline over ``terminal`` (the steps around ``policy``). Guidance
    comes from the host's ``context`` source when given, else from ``LLMPORT_CONTEXT__DIRECTORY``."""
    source = context if context is not None else build_context_source(settings.context)
    return build_pipeline(policy, PolicyObserverView(policy), cache_settings=settings.cache,
                          context_settings=settings.context, cache=cache, context=source, host_steps=host_steps,
                          terminal=terminal, ledger=ledger)


class PolicyObserverView:
    """Forwards to whatever observer the policy has now (a host may attach one after start-up), so the
    pipeline's events go where the policy's go."""

    def __init__(self, policy: FailoverPolicy) -> None:
        self.policy = policy

    def on_attempt(self, event: AttemptEvent) -> None:
        self.policy.observer.on_attempt(event)

    def on_skipped(self, skipped: SkippedRoutes) -> None:
        skipped_to(self.policy.observer)(skipped)

    def on_breaker(self, transition: BreakerTransition) -> None:
        self.policy.observer.on_breaker(transition)


def build_pipeline(
    policy: FailoverPolicy,
    observer: PolicyObserver,
    *,
    cache_settings: CacheSettings,
    context_settings: ContextSettings,
    cache: ResponseCache | None = None,
    context: ContextSource | None = None,
    host_steps: Sequence[Step] = (),
    terminal: LLMPort | None = None,
    ledger: UsageLedger | None = None,
) -> LLMPort:
    """The ``LLMPort`` a host gets. ``cache``/``context``: the stores built by the functions above
    (or a host's own ``ContextSource``); ``host_steps`` run first, outermost first; ``terminal``: what
    the last step calls (default: the policy; the container passes the budgets step over it);
    ``ledger``: where cache hits are recorded."""
    steps: list[Step] = list(host_steps)
    if context is not None:
        from llmport.ports.context import ContextEnricher  # only with a context source

        source = context
        steps.append(lambda inner: ContextEnricher(inner, source, max_tokens=context_settings.max_tokens,
                                                   observer=observer))
    if cache is not None:
        store, namer = cache, route_set_namer(policy)
        _check_aliases(cache_settings, namer)
        steps.append(lambda inner: CachingLLM(inner, store, cache_settings.config(), route_set=namer,
                                              observer=observer, ledger=ledger))
    return chain(steps, policy if terminal is None else terminal)


def _check_aliases(cache: CacheSettings, namer: Callable[[str], str]) -> None:
    problems = []
    for alias in cache.aliases:
        try:
            namer(alias)
        except LLMError:
            problems.append(f"LLMPORT_CACHE__ALIASES__{alias.upper()}: {alias!r} is not a configured alias or model")
    if problems:
        raise SettingsError("\n".join(problems))
