"""What comes back: a completion, its usage, stop reason and timing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import field, fields
from decimal import Decimal
from operator import attrgetter
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from .frozen import builder, unchecked, valueclass
from .messages import Message, Part, ReasoningPart, Role, TextPart, ToolCallPart

StopKind = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "content_filter", "other"]


@valueclass
class StopReason:
    """Why generation stopped: a normalised ``kind`` plus the vendor's ``raw`` value."""

    kind: StopKind
    raw: str | None = None


@valueclass
class Usage:
    """Token counts. ``input_tokens`` includes cached and cache-write tokens; ``output_tokens``
    includes ``reasoning_tokens``.

    ``reported`` is False when the vendor did not report usage (a stream whose server sends no
    usage, a gateway that leaves it out): the counts are then unknown, not zero; they hold only
    what was reported, if anything (``Usage.UNKNOWN`` when nothing). Never bill an unreported
    usage as free: estimate it (``llmport.adapters.estimate``) where a ledger needs a number.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    reported: bool = True

    UNKNOWN: ClassVar[Usage]

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.reported and other.reported,
        )


Usage.UNKNOWN = Usage(reported=False)


@valueclass
class Timing:
    """How an answer arrived: seconds from the call to the first content (streams only) and to the
    end; output tokens per second (over the generation, after the first content), events per second
    (streams), the answer's text size in UTF-8 bytes and the number of stream events."""

    time_to_first_token: float | None = None
    total: float | None = None
    output_tokens_per_second: float | None = None
    events_per_second: float | None = None
    text_bytes: int = 0
    events: int = 0

    @classmethod
    def measure(cls, time_to_first_token: float | None, total: float, *, output_tokens: int, text_bytes: int,
                events: int = 0) -> Timing:
        """The statistics of an answer that took ``total`` seconds (rates ``None`` when no time passed)."""
        generation = total - (time_to_first_token or 0.0)
        if generation <= 0:
            generation = total
        tps = output_tokens / generation if generation > 0 and output_tokens else None
        eps = events / total if total > 0 and events else None
        return _timing(time_to_first_token, total, tps, eps, text_bytes, events)  # once per answer: the fast build


_timing = builder(Timing)


def normalise_parts(parts: Iterable[Part]) -> tuple[Part, ...]:
    """Join adjacent text parts, and a reasoning part into an unsigned one before it, the way a
    stream folds: one part per uninterrupted run, so streamed and whole answers compare equal."""
    if type(parts) is tuple and len(parts) == 1 and type(parts[0]) is TextPart and parts[0].text:
        return parts  # the usual answer, one non-empty text: already normal
    merged: list[Part] = []
    for part in parts:
        last = merged[-1] if merged else None
        if isinstance(part, TextPart):
            if not part.text:
                continue
            if isinstance(last, TextPart):
                merged[-1] = TextPart(last.text + part.text)
                continue
        elif (
            isinstance(part, ReasoningPart)
            and isinstance(last, ReasoningPart)
            and last.signature is None
            and last.redacted == part.redacted
        ):
            merged[-1] = ReasoningPart(last.text + part.text, part.signature, part.provider or last.provider,
                                       last.redacted)
            continue
        merged.append(part)
    return tuple(merged)


NO_EXTRAS: Mapping[str, Any] = MappingProxyType({})


def read_only(extras: Mapping[str, Any]) -> Mapping[str, Any]:
    """``extras`` as a read-only mapping (a copy; the shared empty one when there are none)."""
    if type(extras) is MappingProxyType:
        return extras
    return MappingProxyType(dict(extras)) if extras else NO_EXTRAS


@valueclass
class Completion:
    """A model's answer. Timing is not part of equality: the same answer may arrive at any speed.
    ``cost`` is the USD cost of the call that produced it and ``request_cost`` that of every attempt
    the request made (retries, failovers, hedges); ``None`` when no price is known. Neither is part
    of equality either. ``extras``: response fields a vendor adds that the domain does not model
    (e.g. Perplexity's ``search_results``), kept by name as decoded JSON where the provider's
    quirks say so (empty otherwise); read-only, not part of equality."""

    parts: tuple[Part, ...]
    stop_reason: StopReason
    usage: Usage = Usage.UNKNOWN
    provider: str | None = None
    model: str | None = None
    response_id: str | None = None
    timing: Timing = field(default_factory=Timing, compare=False)
    # Served by a response cache (no upstream call): like timing, how the answer arrived, not what it is.
    cached: bool = field(default=False, compare=False)
    cost: Decimal | None = field(default=None, compare=False)
    request_cost: Decimal | None = field(default=None, compare=False)
    extras: Mapping[str, Any] = field(default_factory=lambda: NO_EXTRAS, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", normalise_parts(self.parts))
        object.__setattr__(self, "extras", read_only(self.extras))

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> tuple[ToolCallPart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ToolCallPart))

    @property
    def reasoning(self) -> tuple[ReasoningPart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ReasoningPart))

    def with_cost(self, cost: Decimal | None, request_cost: Decimal | None) -> Completion:
        """A copy with the given costs (the parts, already normalised, are not folded again)."""
        values = list(_completion_fields(self))
        values[_COST] = cost
        values[_REQUEST_COST] = request_cost
        return _completion_copy(*values)

    def to_message(self) -> Message:
        """The assistant turn to append to the conversation (reasoning kept for the same vendor)."""
        return Message(Role.ASSISTANT, self.parts or (TextPart(""),))


_COMPLETION_FIELDS = tuple(f.name for f in fields(Completion))
_completion_fields = attrgetter(*_COMPLETION_FIELDS)
_completion_copy = unchecked(Completion)
_COST, _REQUEST_COST = _COMPLETION_FIELDS.index("cost"), _COMPLETION_FIELDS.index("request_cost")
