"""Builds the ``FailoverPolicy`` behind ``container.llm`` from the settings and the adapters.

Routes: each provider's ``models`` (or its ``default_model``), in configured provider order.
Aliases: ``aliases`` (alias -> ["provider/model", ...]); ``default`` is ``default_model`` when set,
else every route in order. ``policy`` is typed (``policy_settings.PolicySettings``)::

    retry = "balanced"  # or {preset, max_attempts, base_delay, max_delay, max_retry_after}
    strategy = "priority"  # weighted | lowest_latency | cost | least_busy
    timeout = 60.0  # overall deadline per request (seconds)
    attempt_timeout = 20.0
    deadline_share = 0.5  # without attempt_timeout: an attempt's share of the time left while others could serve
    stall_timeout = 10.0  # a stream silent this long after its first content ends at once (StreamInterrupted)
    lockout_cooldown = 300  # a route whose credentials were rejected (401/403) stays out this long
    failover_on_content_filter = false
    breaker = {failure_threshold = 5, failure_rate = 0.5, window = 30, min_calls = 20, cooldown = 15}
    retry_budget = {ratio = 0.2, min_retries = 10, window = 10}
    hedge = {delay = 0.5}  # or {percentile = 0.95}; hedging for every route set
    [policy.aliases.smart]  # per alias: strategy, hedge, retry
    hedge = {percentile = 0.95}

Alias targets, the default model and per-alias policies are checked here, at start-up: every
problem is a ``SettingsError`` naming the variable or file key.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, TypeGuard, cast

from llmport.domain import InvalidRequest, ModelRef
from llmport.domain.catalog import ModelInfo
from llmport.domain.pricing import ModelPrice
from llmport.ports import (
    AttemptEvent,
    BreakerTransition,
    FailoverPolicy,
    FanoutObserver,
    LLMPort,
    PolicyObserver,
    Route,
    Router,
    RouteSet,
    SkippedRoutes,
    strategy,
)
from llmport.ports.catalog import LayeredCatalog, ModelCatalog
from llmport.ports.json_tool import JsonThroughTool

from .logging import EventLogger, event_logger
from .policy_settings import PolicySettings
from .provider_settings import ProviderBase
from .settings import LoggingSettings, Settings, SettingsError
from .skip_summary import SkipSummary


def parse_policy(raw: dict[str, Any]) -> PolicySettings:
    """Validate a ``policy`` mapping (as file keys), naming the offending key on error."""
    from .settings import validate_settings

    return validate_settings({"policy": raw}).policy


_facts_log = event_logger("llmport.money", LoggingSettings.model_construct())  # the stdlib logger "llmport.money"
_QUIET = frozenset({"ok", "lost", "skipped", "cached", "enriched"})  # logged at info; other outcomes at warning


def _always(level: int) -> bool:
    return True


class StructlogObserver:
    """Logs one structured event per attempt and per breaker change (no prompt text, no secrets)."""

    def __init__(self, logger: Any = None, skips: SkipSummary | None = None) -> None:
        self._log = logger or event_logger("llmport.policy", LoggingSettings.model_construct())
        self._skips = skips or SkipSummary()
        # Checked before an attempt's fields are gathered: most calls are below the logger's level.
        self._enabled: Callable[[int], bool] = self._log.enabled if isinstance(self._log, EventLogger) else _always

    def on_skipped(self, skipped: SkippedRoutes) -> None:
        """Counted; one summary line per interval (an outage skips every open route on every call)."""
        summary = self._skips.add(skipped.routes)
        if summary is not None:
            self._log.info("llm.skipped", target=skipped.target, skipped=summary)

    def on_attempt(self, event: AttemptEvent) -> None:
        if event.outcome == "skipped":  # from a step of the host's: counted like the policy's skips
            summary = self._skips.count(event.route, event.error or "")
            if summary is not None:
                self._log.info("llm.skipped", target=event.target, skipped=summary)
            return
        quiet = event.outcome in _QUIET
        if not self._enabled(logging.INFO if quiet else logging.WARNING):
            return
        level = self._log.info if quiet else self._log.warning
        level("llm.attempt", route=event.route, target=event.target, attempt=event.attempt,
              outcome=event.outcome, error=event.error, status=event.status,
              latency_ms=round(event.latency * 1000, 1),
              ttft_ms=None if event.time_to_first_token is None else round(event.time_to_first_token * 1000, 1),
              breaker=event.breaker, hedge=event.hedge, detail=event.detail, request_id=event.request_id,
              tenant=event.tenant, tags=dict(event.tags) if event.tags else None)

    def on_breaker(self, transition: BreakerTransition) -> None:
        if transition.error is not None:  # credentials rejected: an operator must act, once per opening
            self._log.error("llm.breaker", route=transition.route, old=transition.old, new=transition.new,
                            reason=transition.reason, error=transition.error)
            return
        self._log.warning("llm.breaker", route=transition.route, old=transition.old, new=transition.new,
                          reason=transition.reason)


def _route(name: str, model: str, adapter: LLMPort, p: ProviderBase, catalog: ModelCatalog | None = None) -> Route:
    if catalog is not None and _lazy(catalog):
        # genai-prices knows prices and context windows, never capabilities: the settings decide the
        # adapter's shape now; the price data loads when a request first reads the route's facts.
        through_tool = _json_through_tool(catalog.configured(name, model))
        facts = _facts_of(catalog, name, model, through_tool)
        return Route.deferred(name, model, JsonThroughTool(adapter) if through_tool else adapter, facts, p.weight)
    if catalog is not None:  # price and context window from the catalog (settings win inside it)
        info = catalog.lookup(name, model)
        if _json_through_tool(info):
            adapter, info = JsonThroughTool(adapter), dataclasses.replace(info, supports_json_schema=True)
        return Route(name, model, adapter, weight=p.weight, context_window=info.context_window, price=info.price,
                     info=info)
    price = None
    if p.price_input is not None or p.price_output is not None:
        price = ModelPrice.per_mtok(p.price_input or 0.0, p.price_output or 0.0)
    return Route(name, model, adapter, weight=p.weight, context_window=p.context_window, price=price)


def _json_through_tool(info: ModelInfo) -> bool:
    """Whether JSON schema output goes through a forced tool call (the model has tools, not JSON schema)."""
    return info.supports_json_schema is False and info.supports_tools is not False


def _lazy(catalog: ModelCatalog) -> TypeGuard[LayeredCatalog]:
    """Settings over genai-prices: its data may load on first use (it never says what a model supports)."""
    from llmport.adapters.genai_prices_catalog import GenaiPricesCatalog

    return isinstance(catalog, LayeredCatalog) and isinstance(catalog.base, GenaiPricesCatalog)


def _facts_of(catalog: LayeredCatalog, name: str, model: str, through_tool: bool) -> Callable[[], ModelInfo]:
    def facts() -> ModelInfo:
        try:
            info = catalog.lookup(name, model)
        except Exception as exc:  # read by a request: the price data's failure must not fail it
            _facts_log.warning("llm.catalog", route=f"{name}/{model}", error=type(exc).__name__,
                               hint="the price data could not be read; the settings' facts are used")
            info = catalog.configured(name, model)
        return dataclasses.replace(info, supports_json_schema=True) if through_tool else info
    return facts


def build_routes(settings: Settings, adapters: dict[str, LLMPort], catalog: ModelCatalog | None = None) -> list[Route]:
    routes: list[Route] = []
    for name, p in settings.ordered_providers.items():
        if name not in adapters:
            continue
        models = p.models or ([p.default_model] if p.default_model else [])
        routes.extend(_route(name, m, adapters[name], p, catalog) for m in models)
    return routes


def build_policy(settings: Settings, adapters: dict[str, LLMPort],
                 observer: PolicyObserver | None = None, catalog: ModelCatalog | None = None,
                 redis: Any = None) -> FailoverPolicy:
    """The deployment's ``FailoverPolicy`` over ``adapters`` (by provider name), route prices and
    context windows from ``catalog`` when given, its state shared through ``redis`` (the
    deployment's ``RedisConnection``) when given, else in memory; ``SettingsError`` listing every alias target,
    default model or per-alias policy that names nothing configured."""
    if not adapters:
        raise SettingsError("LLMPORT_PROVIDERS: no providers are configured "
                            "(set LLMPORT_PROVIDERS__<NAME>__KIND, or name a file in LLMPORT_CONFIG)")
    cfg = settings.policy
    routes = build_routes(settings, adapters, catalog)
    by_name = {r.name: r for r in routes}
    problems: list[str] = []

    def lookup(text: str, where: tuple[str, ...]) -> Route | None:
        try:
            ref = ModelRef.parse(text, adapters)
        except InvalidRequest:
            problems.append(f"{settings.where(where)}: not a model reference (provider/model or a model name)")
            return None
        if ref.provider is None:
            found = [r for r in routes if r.model == ref.name]
            if not found:
                problems.append(f"{settings.where(where)}: names a model no provider lists (use provider/model, "
                                f"or add it to a provider's models; providers: {', '.join(adapters)})")
                return None
            return found[0]
        route = by_name.get(f"{ref.provider}/{ref.name}")
        if route is None:
            route = by_name[f"{ref.provider}/{ref.name}"] = _route(
                ref.provider, ref.name, adapters[ref.provider], settings.providers[ref.provider], catalog)
        return route

    def route_set(alias: str, members: tuple[Route, ...]) -> RouteSet:
        extra = cfg.aliases.get(alias)
        if extra is None:
            return RouteSet(alias, members)
        return RouteSet(alias, members, strategy(extra.strategy) if extra.strategy else None,
                        extra.hedge, extra.retry)

    sets: dict[str, RouteSet] = {}
    for alias, targets in settings.aliases.items():
        found = [lookup(t, ("aliases", alias)) for t in targets]
        members = tuple(r for r in found if r is not None)
        if not targets:
            problems.append(f"{settings.where(('aliases', alias))}: lists no targets")
        elif len(members) == len(targets):
            sets[alias] = route_set(alias, members)
    for alias in sorted(set(cfg.aliases) - set(settings.aliases) - {"default"}):
        problems.append(f"{settings.where(('policy', 'aliases', alias))}: no alias named so "
                        f"(aliases: {', '.join(settings.aliases) or 'none'})")
    if "default" not in sets and "default" not in settings.aliases:
        default: tuple[Route, ...] = tuple(routes)
        if settings.default_model and settings.default_model in settings.aliases:
            default = sets[settings.default_model].routes if settings.default_model in sets else ()
        elif settings.default_model:
            found_default = lookup(settings.default_model, ("default_model",))
            default = (found_default,) if found_default else ()
        if default:  # with no model configured anywhere, "default" stays unknown (a clear error)
            sets["default"] = route_set("default", default)
    if problems:
        raise SettingsError(*problems)
    config, budget = cfg.config(), cfg.retry_budget.build()
    state = None
    if redis is not None:
        from llmport.adapters.redis.route_state import RedisPolicyState

        state = RedisPolicyState(redis, config.breaker, budget)
    return FailoverPolicy(Router(routes, sets, adapters), config=config, strategy=strategy(cfg.strategy),
                          budget=budget, observer=observer or default_observer(settings), state=state)


def route_problems(settings: Settings) -> tuple[str, ...]:
    """The alias, default-model and per-alias policy problems ``build_policy`` would report, found
    without any client (over stand-in adapters): start-up lists them next to credential problems."""
    stand_ins = {name: cast(LLMPort, object()) for name in settings.providers}
    try:
        build_policy(settings, stand_ins, observer=FanoutObserver())
    except SettingsError as exc:
        return exc.problems
    return ()


def default_observer(settings: Settings) -> StructlogObserver:
    """Logs attempts to the stdlib logger ``llmport.policy``, scrubbing the deployment's secrets."""
    return StructlogObserver(event_logger("llmport.policy", settings.logging, settings.secret_values()))
