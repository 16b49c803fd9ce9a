"""Model prices and cost arithmetic (pure, on ``Decimal``; no price list is built in).

A ``ModelPrice`` holds USD per million tokens for each kind of token a vendor bills. The cost of a
``Usage`` follows the vendor's (and genai-prices') rules: cache reads and cache writes are billed
at their own rate when the model has one and at the input rate otherwise; reasoning tokens are
output unless the model prices them separately; a tiered rate applies the tier that the request's
total input tokens reach to all of that kind's tokens (the "cliff" model vendors use).
"""

from __future__ import annotations

from decimal import Decimal

from .completion import Completion, Usage
from .errors import InvalidRequest
from .frozen import valueclass
from .request import CompletionRequest

#: Output tokens assumed for a request without ``max_tokens`` when estimating its cost.
DEFAULT_OUTPUT_ESTIMATE = 512
_MTOK = Decimal(1_000_000)
_KILO = Decimal(1_000)
_ZERO = Decimal(0)


def _decimal(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise InvalidRequest(f"price {name} must be a number, got {type(value).__name__}", field="price")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        raise InvalidRequest(f"price {name} must be a number, got {value!r}", field="price") from None
    if not number.is_finite() or number < 0:
        raise InvalidRequest(f"price {name} must be a finite non-negative number, got {value!r}", field="price")
    return number


@valueclass
class TieredRate:
    """A rate that changes once a request's input tokens exceed a tier's ``start``: ``tiers`` is
    ``((start, rate), ...)``; the highest tier exceeded applies to all tokens of that kind."""

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", _decimal(self.base, "base"))
        tiers = tuple(sorted((int(start), _decimal(rate, "tier")) for start, rate in self.tiers))
        object.__setattr__(self, "tiers", tiers)

    def at(self, input_tokens: int) -> Decimal:
        for start, rate in reversed(self.tiers):
            if input_tokens > start:
                return rate
        return self.base

    @property
    def highest(self) -> Decimal:
        return max((self.base, *(rate for _, rate in self.tiers)))


Rate = Decimal | TieredRate


def _rate(value: object, name: str) -> Rate | None:
    if value is None or isinstance(value, TieredRate):
        return value
    return _decimal(value, name)


def _at(rate: Rate, input_tokens: int) -> Decimal:
    return rate if isinstance(rate, Decimal) else rate.at(input_tokens)


@valueclass
class ModelPrice:
    """USD per million tokens (``per_kilo_requests``: USD per thousand requests). Numbers are
    stored as ``Decimal``; ``None`` means the model has no separate rate for that kind."""

    input_per_mtok: Rate
    output_per_mtok: Rate
    cache_read_per_mtok: Rate | None = None
    cache_write_per_mtok: Rate | None = None
    reasoning_per_mtok: Rate | None = None
    per_kilo_requests: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok",
                     "reasoning_per_mtok", "per_kilo_requests"):
            value = _rate(getattr(self, name), name)
            if value is None and name in ("input_per_mtok", "output_per_mtok"):
                raise InvalidRequest(f"price {name} is required", field="price")
            object.__setattr__(self, name, value)

    @classmethod
    def per_mtok(cls, input: float | Decimal, output: float | Decimal, cache_read: float | Decimal | None = None,
                 cache_write: float | Decimal | None = None) -> ModelPrice:
        """A flat price from plain numbers (USD per million tokens)."""
        def dec(value: float | Decimal | None, name: str) -> Decimal | None:
            return None if value is None else _decimal(value, name)

        return cls(_decimal(input, "input"), _decimal(output, "output"), dec(cache_read, "cache_read"),
                   dec(cache_write, "cache_write"))

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        """The cost of plain input and output tokens."""
        return self.usage_cost(Usage(input_tokens, output_tokens))

    def usage_cost(self, usage: Usage) -> Decimal:
        """The cost of ``usage`` as the vendor bills it (see the module docstring)."""
        tokens_in = usage.input_tokens
        uncached = tokens_in
        total = _ZERO
        if self.cache_read_per_mtok is not None and usage.cached_input_tokens:
            uncached -= usage.cached_input_tokens
            total += _at(self.cache_read_per_mtok, tokens_in) * usage.cached_input_tokens
        if self.cache_write_per_mtok is not None and usage.cache_write_tokens:
            uncached -= usage.cache_write_tokens
            total += _at(self.cache_write_per_mtok, tokens_in) * usage.cache_write_tokens
        plain_out = usage.output_tokens
        if self.reasoning_per_mtok is not None and usage.reasoning_tokens:
            plain_out -= usage.reasoning_tokens
            total += _at(self.reasoning_per_mtok, tokens_in) * usage.reasoning_tokens
        total += _at(self.input_per_mtok, tokens_in) * max(0, uncached)
        total += _at(self.output_per_mtok, tokens_in) * max(0, plain_out)
        total /= _MTOK
        if self.per_kilo_requests is not None:
            total += self.per_kilo_requests / _KILO
        return total

    def worst_case(self, input_tokens: int, output_tokens: int) -> Decimal:
        """An upper bound of the cost of a request of this size: every token at its highest rate."""
        def top(rate: Rate | None) -> Decimal:
            if rate is None:
                return _ZERO
            return rate.highest if isinstance(rate, TieredRate) else rate

        tin = max(top(self.input_per_mtok), top(self.cache_write_per_mtok), top(self.cache_read_per_mtok))
        tout = max(top(self.output_per_mtok), top(self.reasoning_per_mtok))
        total = (tin * input_tokens + tout * output_tokens) / _MTOK
        if self.per_kilo_requests is not None:
            total += self.per_kilo_requests / _KILO
        return total


def estimate_input_tokens(request: CompletionRequest) -> int:
    """About four characters per token over the system prompt, messages and tool schemas."""
    chars = len(request.system or "") + sum(len(m.text) for m in request.messages)
    chars += sum(len(t.name) + len(t.description or "") for t in request.tools)
    return max(1, chars // 4)


def estimate_output_tokens(completion: Completion) -> int:
    """About four characters per token over the text, reasoning and tool-call arguments received."""
    chars = len(completion.text) + sum(len(p.text) for p in completion.reasoning)
    chars += sum(len(c.name) + len(c.raw_arguments or "") for c in completion.tool_calls)
    return (chars + 3) // 4


def estimate_cost(price: ModelPrice, request: CompletionRequest, input_tokens: int | None = None) -> Decimal:
    """The expected cost of ``request`` at ``price``: its estimated input plus ``max_tokens``
    (or ``DEFAULT_OUTPUT_ESTIMATE``) of output."""
    tokens_in = estimate_input_tokens(request) if input_tokens is None else input_tokens
    return price.cost(tokens_in, request.max_tokens or DEFAULT_OUTPUT_ESTIMATE)
