"""Routes (an adapter and a model), route sets (an alias's ordered routes), per-route statistics,
and resolving a request's ``model`` to a route set."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmport.domain import InvalidRequest, ModelRef
from llmport.domain.catalog import ModelInfo
from llmport.domain.pricing import ModelPrice

from .backoff import RetryPolicy
from .hedging import HedgeConfig
from .llm import LLMPort

if TYPE_CHECKING:
    from .strategies import Strategy


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """One way to serve a request: a provider's adapter and the model to ask it for."""

    provider: str
    model: str
    adapter: LLMPort = field(repr=False)
    weight: int = 1
    context_window: int | None = None
    price: ModelPrice | None = None
    info: ModelInfo | None = field(default=None, repr=False)  # the model's facts, for routing by capability
    name: str = field(init=False, default="")  # "provider/model"
    _facts: Callable[[], ModelInfo] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", f"{self.provider}/{self.model}")

    @classmethod
    def deferred(cls, provider: str, model: str, adapter: LLMPort, facts: Callable[[], ModelInfo],
                 weight: int = 1) -> Route:
        """A route whose model facts (``context_window``, ``price``, ``info``) are ``facts()``, called
        once, when one of them is first read (so that price data loads when a request first needs it,
        not at start-up). ``facts`` must not raise."""
        route = Route(provider, model, adapter, weight)
        for name in _FACTS:  # an unset slot: its first read reaches ``_Deferred.__getattr__``
            object.__delattr__(route, name)
        object.__setattr__(route, "_facts", facts)
        object.__setattr__(route, "__class__", _Deferred)
        return route


class _Deferred(Route):
    """A ``Route.deferred`` until its facts are first read, then a plain ``Route`` again: a class with
    a ``__getattr__`` makes every attribute read of its instances slower, the hot path's included."""

    __slots__ = ()

    if not TYPE_CHECKING:  # (hidden from type checkers: a ``__getattr__`` would make any name valid)
        def __getattr__(self, name: str) -> Any:
            facts = self._facts
            if name not in _FACTS:
                raise AttributeError(f"'Route' object has no attribute {name!r}")
            info = facts()
            object.__setattr__(self, "context_window", info.context_window)
            object.__setattr__(self, "price", info.price)
            object.__setattr__(self, "info", info)
            object.__setattr__(self, "_facts", None)
            object.__setattr__(self, "__class__", Route)
            return getattr(self, name)


_Deferred.__qualname__ = _Deferred.__name__ = "Route"  # as a plain route's (``repr``)
_FACTS = ("context_window", "price", "info")


class RouteStats:
    """What the policy has observed of one route: in-flight calls, EWMAs of time to first token
    and of total time, and recent times to first token for a percentile."""

    __slots__ = ("_next", "_samples", "alpha", "in_flight", "last_measured", "total_ewma", "ttft_ewma")

    SAMPLES = 64

    def __init__(self, alpha: float = 0.3) -> None:
        self.alpha = alpha
        self.in_flight = 0
        self.ttft_ewma: float | None = None
        self.total_ewma: float | None = None
        self.last_measured: float | None = None
        self._samples: list[float] = []
        self._next = 0

    def observe(self, now: float, total: float | None, ttft: float | None) -> None:
        a = self.alpha
        if ttft is not None:
            self.ttft_ewma = ttft if self.ttft_ewma is None else a * ttft + (1 - a) * self.ttft_ewma
        if total is not None:
            self.total_ewma = total if self.total_ewma is None else a * total + (1 - a) * self.total_ewma
        first = ttft if ttft is not None else total
        if first is not None:
            if len(self._samples) < self.SAMPLES:
                self._samples.append(first)
            else:
                self._samples[self._next] = first
                self._next = (self._next + 1) % self.SAMPLES
        self.last_measured = now

    @property
    def latency(self) -> float | None:
        """The figure ``lowest_latency`` ranks by: time to first token when known, else total."""
        return self.ttft_ewma if self.ttft_ewma is not None else self.total_ewma

    def percentile(self, q: float, min_samples: int = 5) -> float | None:
        """The ``q`` quantile of recent times to first output, once enough samples exist."""
        if len(self._samples) < min_samples:
            return None
        ordered = sorted(self._samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True, slots=True, eq=False)
class RouteSet:
    """What a request's ``model`` resolved to: routes in configured order, the strategy that orders
    them per request, optional hedging and an optional retry policy of its own."""

    name: str
    routes: tuple[Route, ...]
    strategy: Strategy | None = None
    hedge: HedgeConfig | None = None
    retry: RetryPolicy | None = None


class Router:
    """Resolves a request's ``model``: an alias, ``provider/model`` (that provider only) or a bare
    model name (every route serving it). Anything else is an ``InvalidRequest`` naming what exists."""

    def __init__(self, routes: Sequence[Route], aliases: Mapping[str, RouteSet] | None = None,
                 adapters: Mapping[str, LLMPort] | None = None) -> None:
        self.routes = tuple(routes)
        self.aliases = dict(aliases or {})
        self.adapters: dict[str, LLMPort] = dict(adapters or {})
        for r in self.routes:
            self.adapters.setdefault(r.provider, r.adapter)
        self._cache: dict[str, RouteSet] = {}

    def all_routes(self) -> list[Route]:
        """Every route known so far (configured, in aliases, or resolved on demand)."""
        seen = {r.name: r for r in self._known()}
        for r in (r for s in self._cache.values() for r in s.routes):
            seen.setdefault(r.name, r)
        return list(seen.values())

    def resolve(self, text: str) -> RouteSet:
        found = self._cache.get(text)
        if found is not None:
            return found
        found = self.aliases.get(text) or self._resolve_model(text)
        if len(self._cache) < 4096:  # bounded: callers choose the names
            self._cache[text] = found
        return found

    def _resolve_model(self, text: str) -> RouteSet:
        ref = ModelRef.parse(text, self.adapters)
        if ref.provider is not None:
            same = [r for r in self._known() if r.provider == ref.provider and r.model == ref.name]
            route = same[0] if same else Route(ref.provider, ref.name, self.adapters[ref.provider])
            return RouteSet(text, (route,))
        serving = tuple(r for r in self._known() if r.model == ref.name)
        if serving:
            return RouteSet(text, serving)
        raise InvalidRequest(self._unknown(text), field="model")

    def _known(self) -> list[Route]:
        seen: dict[str, Route] = {}
        for r in (*self.routes, *(r for s in self.aliases.values() for r in s.routes)):
            seen.setdefault(r.name, r)
        return list(seen.values())

    def _unknown(self, text: str) -> str:
        models = sorted({r.model for r in self._known()})
        return (f"unknown model {text!r}: configured aliases are [{', '.join(sorted(self.aliases))}], "
                f"providers [{', '.join(sorted(self.adapters))}] (use provider/model), "
                f"models [{', '.join(models)}]")
