"""Model prices and request cost estimates (pure arithmetic, no price list is built in)."""

from __future__ import annotations

from dataclasses import dataclass

from .completion import Usage
from .errors import InvalidRequest
from .request import CompletionRequest

#: Output tokens assumed for a request without ``max_tokens`` when estimating its cost.
DEFAULT_OUTPUT_ESTIMATE = 512


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens, input and output."""

    input_per_mtok: float
    output_per_mtok: float

    def __post_init__(self) -> None:
        if self.input_per_mtok < 0 or self.output_per_mtok < 0:
            raise InvalidRequest("model prices must not be negative", field="price")

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000

    def usage_cost(self, usage: Usage) -> float:
        return self.cost(usage.input_tokens, usage.output_tokens)


def estimate_input_tokens(request: CompletionRequest) -> int:
    """About four characters per token over the system prompt, messages and tool schemas."""
    chars = len(request.system or "") + sum(len(m.text) for m in request.messages)
    chars += sum(len(t.name) + len(t.description or "") for t in request.tools)
    return max(1, chars // 4)


def estimate_cost(price: ModelPrice, request: CompletionRequest, input_tokens: int | None = None) -> float:
    """The expected cost of ``request`` at ``price``: its estimated input plus ``max_tokens``
    (or ``DEFAULT_OUTPUT_ESTIMATE``) of output."""
    tokens_in = estimate_input_tokens(request) if input_tokens is None else input_tokens
    return price.cost(tokens_in, request.max_tokens or DEFAULT_OUTPUT_ESTIMATE)
