"""Builds the ``FailoverPolicy`` behind ``container.llm`` from the settings and the adapters.

Routes: each provider's ``models`` (or its ``default_model``), in configured provider order.
Aliases: ``aliases`` (alias -> ["provider/model", ...]); ``default`` is ``default_model`` when set,
else every route in order. ``policy`` (a mapping, e.g. ``LLMPORT_POLICY__RETRY=aggressive``)::

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
"""

from __future__ import annotations

from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmport.domain import InvalidRequest, ModelRef
from llmport.domain.pricing import ModelPrice
from llmport.ports import (
    AttemptEvent,
    BreakerConfig,
    BreakerTransition,
    FailoverPolicy,
    HedgeConfig,
    LLMPort,
    PolicyConfig,
    PolicyObserver,
    RetryBudget,
    RetryPolicy,
    Route,
    Router,
    RouteSet,
    strategy,
)
from llmport.ports.catalog import ModelCatalog

from .settings import ProviderSettings, Settings, SettingsError
from .skip_summary import SkipSummary

StrategyName = Literal["priority", "weighted", "lowest_latency", "cost", "least_busy"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySettings(_Strict):
    preset: Literal["aggressive", "balanced", "conservative"] = "balanced"
    max_attempts: int | None = Field(default=None, ge=1)
    base_delay: float | None = Field(default=None, ge=0)
    max_delay: float | None = Field(default=None, ge=0)
    max_retry_after: float | None = Field(default=None, ge=0)

    def build(self) -> RetryPolicy:
        base = RetryPolicy.preset(self.preset)
        given = {k: v for k, v in self.model_dump(exclude={"preset"}).items() if v is not None}
        return RetryPolicy(**{**{f: getattr(base, f) for f in ("max_attempts", "base_delay", "max_delay",
                                                                  "max_retry_after")}, **given})


class HedgeSettings(_Strict):
    delay: float | None = Field(default=None, ge=0)
    percentile: float = Field(default=0.95, gt=0, lt=1)
    fallback_delay: float = Field(default=1.0, ge=0)
    max_hedges: int = Field(default=1, ge=1)

    def build(self) -> HedgeConfig:
        return HedgeConfig(self.delay, self.percentile, self.fallback_delay, max_hedges=self.max_hedges)


class BreakerSettings(_Strict):
    failure_threshold: int = Field(default=5, ge=1)
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    window: float = Field(default=30.0, gt=0)
    min_calls: int = Field(default=20, ge=1)
    cooldown: float = Field(default=15.0, ge=0)


class BudgetSettings(_Strict):
    ratio: float = Field(default=0.2, ge=0)
    min_retries: int = Field(default=10, ge=0)
    window: float = Field(default=10.0, gt=0)


class AliasPolicy(_Strict):
    strategy: StrategyName | None = None
    hedge: HedgeSettings | None = None
    retry: RetrySettings | Literal["aggressive", "balanced", "conservative"] | None = None


class PolicySettings(_Strict):
    """The ``policy`` section of the settings."""

    retry: RetrySettings | Literal["aggressive", "balanced", "conservative"] = "balanced"
    strategy: StrategyName = "priority"
    timeout: float | None = Field(default=None, gt=0)
    attempt_timeout: float | None = Field(default=None, gt=0)
    deadline_share: float = Field(default=0.5, gt=0, le=1)
    stall_timeout: float | None = Field(default=None, gt=0)
    lockout_cooldown: float = Field(default=300.0, ge=0)
    failover_on_content_filter: bool = False
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    retry_budget: BudgetSettings = Field(default_factory=BudgetSettings)
    hedge: HedgeSettings | None = None
    aliases: dict[str, AliasPolicy] = Field(default_factory=dict)


def _retry(value: RetrySettings | str | None) -> RetryPolicy | None:
    if value is None:
        return None
    return RetryPolicy.preset(value) if isinstance(value, str) else value.build()


def parse_policy(raw: dict[str, Any]) -> PolicySettings:
    """Validate the ``policy`` mapping, naming the offending key on error."""
    try:
        return PolicySettings.model_validate(raw)
    except ValidationError as exc:
        lines = ["invalid llmport settings:"]
        for err in exc.errors(include_input=False, include_url=False):
            key = "__".join(str(p).upper() for p in err["loc"])
            lines.append(f"  LLMPORT_POLICY__{key}: {err['msg']}")
        raise SettingsError("\n".join(lines)) from None


class StructlogObserver:
    """Logs one structured event per attempt and per breaker change (no prompt text, no secrets)."""

    def __init__(self, logger: Any = None, skips: SkipSummary | None = None) -> None:
        self._log = logger or structlog.get_logger("llmport.policy")
        self._skips = skips or SkipSummary()

    def on_attempt(self, event: AttemptEvent) -> None:
        if event.outcome == "skipped":  # counted; one summary line per interval (an outage skips on every call)
            summary = self._skips.count(event.route, event.error or "")
            if summary is not None:
                self._log.info("llm.skipped", target=event.target, skipped=summary)
            return
        quiet = ("ok", "lost", "skipped", "cached", "enriched")
        level = self._log.info if event.outcome in quiet else self._log.warning
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


def _route(name: str, model: str, adapter: LLMPort, p: ProviderSettings, catalog: ModelCatalog | None = None) -> Route:
    if catalog is not None:  # price and context window from the catalog (settings win inside it)
        info = catalog.lookup(name, model)
        return Route(name, model, adapter, weight=p.weight, context_window=info.context_window, price=info.price,
                     info=info)
    price = None
    if p.price_input is not None or p.price_output is not None:
        price = ModelPrice.per_mtok(p.price_input or 0.0, p.price_output or 0.0)
    return Route(name, model, adapter, weight=p.weight, context_window=p.context_window, price=price)


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
    """The deployment's ``FailoverPolicy`` over ``adapters`` (by provider name); route prices and
    context windows from ``catalog`` when given; its state shared through ``redis`` (the
    deployment's ``RedisConnection``) when given, else in memory."""
    if not adapters:
        raise InvalidRequest("no providers are configured (set LLMPORT_PROVIDERS__<NAME>__KIND or LLMPORT_CONFIG)")
    cfg = parse_policy(settings.policy)
    routes = build_routes(settings, adapters, catalog)
    by_name = {r.name: r for r in routes}

    def lookup(text: str, alias: str) -> Route:
        ref = ModelRef.parse(text, adapters)
        if ref.provider is None:
            found = [r for r in routes if r.model == ref.name]
            if not found:
                raise SettingsError(f"LLMPORT_ALIASES__{alias.upper()}: {text!r} names no configured provider "
                                    f"(use provider/model; providers: {', '.join(adapters)})")
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
                        extra.hedge.build() if extra.hedge else None, _retry(extra.retry))

    sets = {alias: route_set(alias, tuple(lookup(t, alias) for t in targets))
            for alias, targets in settings.aliases.items()}
    unknown = sorted(set(cfg.aliases) - set(sets) - {"default"})
    if unknown:
        raise SettingsError(f"LLMPORT_POLICY__ALIASES: no alias named {', '.join(unknown)}")
    if "default" not in sets:
        if settings.default_model and settings.default_model in sets:
            default = sets[settings.default_model].routes
        elif settings.default_model:
            default = (lookup(settings.default_model, "default"),)
        else:
            default = tuple(routes)
        if default:  # with no model configured anywhere, "default" stays unknown (a clear error)
            sets["default"] = route_set("default", default)
    b = cfg.breaker
    config = PolicyConfig(
        retry=_retry(cfg.retry) or RetryPolicy(),
        breaker=BreakerConfig(b.failure_threshold, b.failure_rate, b.window, b.min_calls, b.cooldown),
        timeout=cfg.timeout,
        attempt_timeout=cfg.attempt_timeout,
        deadline_share=cfg.deadline_share,
        stall_timeout=cfg.stall_timeout,
        lockout_cooldown=cfg.lockout_cooldown,
        failover_on_content_filter=cfg.failover_on_content_filter,
        hedge=cfg.hedge.build() if cfg.hedge else None,
    )
    budget = RetryBudget(cfg.retry_budget.ratio, min_retries=cfg.retry_budget.min_retries,
                         window=cfg.retry_budget.window)
    state = None
    if redis is not None:
        from llmport.adapters.redis.route_state import RedisPolicyState

        state = RedisPolicyState(redis, config.breaker, budget)
    return FailoverPolicy(Router(routes, sets, adapters), config=config, strategy=strategy(cfg.strategy),
                          budget=budget, observer=observer or StructlogObserver(), state=state)
