"""The ``policy`` section of the settings, typed with the ports' own configuration types.

``retry``, ``breaker`` and ``hedge`` are validated straight into ``RetryPolicy``, ``BreakerConfig``
and ``HedgeConfig`` (pydantic reads their fields, types and defaults), and the other fields of
``PolicyConfig`` (``timeout``, ``deadline_share``, ...) are generated from it: nothing is re-declared
here, so a field added to a port is a setting at once. Unknown keys are errors, and the ports' own
checks (e.g. ``base_delay <= max_delay``) run at load. This module adds only sane ranges
(``BOUNDS``), so that absurd values (a 1e-320 s window, a 1e308 s delay) stop start-up instead of
breaking requests, the preset names of ``retry``, and what is not ``PolicyConfig``'s: the strategy,
the retry budget and per-alias overrides.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from llmport.ports import BreakerConfig, HedgeConfig, PolicyConfig, RetryBudget, RetryPolicy
from llmport.ports.strategies import STRATEGIES

from .provider_settings import field_error
from .settings_sources import close_matches as _close

T = TypeVar("T")

#: Sane ranges (inclusive) of the ports' numeric fields, by field name.
BOUNDS: dict[str, tuple[float, float]] = {
    "max_attempts": (1, 100),
    "base_delay": (0, 3_600),
    "max_delay": (0, 3_600),
    "max_retry_after": (0, 86_400),
    "failure_threshold": (1, 1_000_000),
    "failure_rate": (1e-6, 1),
    "window": (1e-3, 86_400),
    "min_calls": (1, 1_000_000),
    "cooldown": (0, 86_400),
    "buckets": (1, 1_000),
    "delay": (0, 3_600),
    "percentile": (1e-6, 1 - 1e-6),
    "fallback_delay": (0, 3_600),
    "min_delay": (0, 3_600),
    "max_hedges": (1, 16),
    "timeout": (1e-3, 86_400),
    "attempt_timeout": (1e-3, 86_400),
    "stall_timeout": (1e-3, 86_400),
    "deadline_share": (1e-3, 1),
    "lockout_cooldown": (0, 86_400),
}


def _bounded(value: T) -> T:
    """Every numeric field of a port dataclass within ``BOUNDS`` (reported under that field)."""
    for f in dataclasses.fields(value):  # type: ignore[arg-type]
        number = getattr(value, f.name)
        low, high = BOUNDS.get(f.name, (None, None))
        if isinstance(number, int | float) and low is not None and high is not None and not low <= number <= high:
            raise field_error(f.name, f"must be between {low:g} and {high:g}")
    return value


def _retry_preset(value: Any) -> Any:
    """``"aggressive"`` or ``{preset = "aggressive", base_delay = 0.1}``: a preset and overrides."""
    if isinstance(value, str):
        value = {"preset": value}
    if isinstance(value, dict) and "preset" in value:
        name = value["preset"]
        if name not in RetryPolicy.PRESETS:
            close = _close(str(name), RetryPolicy.PRESETS)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise field_error("preset", f"unknown retry preset{hint} (presets: {', '.join(RetryPolicy.PRESETS)})")
        base = dataclasses.asdict(RetryPolicy.PRESETS[name])
        return {**base, **{k: v for k, v in value.items() if k != "preset"}}
    return value


#: ``retry``: a preset name, a table with a ``preset`` and overrides, or a full ``RetryPolicy``.
Retry = Annotated[RetryPolicy, BeforeValidator(_retry_preset), AfterValidator(_bounded)]
Breaker = Annotated[BreakerConfig, AfterValidator(_bounded)]
Hedge = Annotated[HedgeConfig, AfterValidator(_bounded)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, allow_inf_nan=False)


#: ``PolicyConfig``'s fields that are not a port type of their own (``timeout``, ``deadline_share``, ...).
_NESTED = {"retry", "breaker", "hedge"}
CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(PolicyConfig) if f.name not in _NESTED)


def _config_fields() -> dict[str, Any]:
    hints = typing.get_type_hints(PolicyConfig)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(PolicyConfig):
        if f.name in _NESTED:
            continue
        low, high = BOUNDS.get(f.name, (None, None))
        out[f.name] = (hints[f.name], Field(default=f.default, ge=low, le=high))
    return out


if typing.TYPE_CHECKING:
    _ConfigFields = Strict
else:
    _ConfigFields = create_model("_ConfigFields", __base__=Strict, __module__=__name__, **_config_fields())


def _strategy(value: str | None) -> str | None:
    if value is not None and value not in STRATEGIES:
        close = _close(value, STRATEGIES)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown strategy{hint} (strategies: {', '.join(STRATEGIES)})")
    return value


class BudgetSettings(Strict):
    """``retry_budget``: the arguments of ``RetryBudget`` (a stateful object, built per policy)."""

    ratio: float = Field(default=0.2, ge=0, le=100)
    min_retries: int = Field(default=10, ge=0, le=1_000_000)
    window: float = Field(default=10.0, ge=1e-3, le=86_400)
    buckets: int = Field(default=10, ge=1, le=1_000)

    def build(self) -> RetryBudget:
        return RetryBudget(self.ratio, min_retries=self.min_retries, window=self.window, buckets=self.buckets)


class AliasPolicy(Strict):
    """Per-alias overrides (``[policy.aliases.<alias>]``)."""

    strategy: str | None = None
    hedge: Hedge | None = None
    retry: Retry | None = None

    _check_strategy = field_validator("strategy")(_strategy)


class PolicySettings(_ConfigFields):
    """The ``policy`` section: ``PolicyConfig``'s values (its scalar fields generated from it), the
    strategy, the retry budget and per-alias overrides."""

    retry: Retry = Field(default_factory=lambda: RetryPolicy.PRESETS["balanced"])
    breaker: Breaker = Field(default_factory=BreakerConfig)
    hedge: Hedge | None = None
    strategy: str = "priority"
    retry_budget: BudgetSettings = Field(default_factory=BudgetSettings)
    aliases: dict[str, AliasPolicy] = Field(default_factory=dict)

    _check_strategy = field_validator("strategy")(_strategy)

    @model_validator(mode="after")
    def _port_accepts(self) -> PolicySettings:
        self.config()  # PolicyConfig's own checks; its InvalidRequest is a ValueError, reported as one
        return self

    def config(self) -> PolicyConfig:
        """The ``PolicyConfig`` these settings describe."""
        return PolicyConfig(retry=self.retry, breaker=self.breaker, hedge=self.hedge,
                            **{name: getattr(self, name) for name in CONFIG_FIELDS})
