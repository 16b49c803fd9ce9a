"""Stream events, and the fold that turns any event sequence back into a ``Completion``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field
from decimal import Decimal
from typing import Any

from ._json import parse_tool_arguments
from .completion import NO_EXTRAS, Completion, StopReason, Timing, Usage, read_only
from .frozen import valueclass
from .messages import Part, ReasoningPart, TextPart, ToolCallPart


@valueclass
class TextDelta:
    text: str


@valueclass
class ReasoningDelta:
    """Reasoning text, and/or the block's opaque signature (usually arriving last)."""

    text: str = ""
    signature: str | None = None
    provider: str | None = None
    redacted: bool = False


@valueclass
class ToolCallStart:
    """A tool call begins; ``index`` is its position among this response's tool calls."""

    index: int
    id: str
    name: str


@valueclass
class ToolCallDelta:
    index: int
    arguments: str


@valueclass
class ToolCallEnd:
    index: int


@valueclass
class UsageUpdate:
    """The usage so far (cumulative: each update replaces the previous one). ``cached``: the answer
    is replayed from a response cache, so this usage was not billed again. ``cost``: its USD cost
    when the price is known (set by the metering step)."""

    usage: Usage
    cached: bool = field(default=False, compare=False)
    cost: Decimal | None = field(default=None, compare=False)


@valueclass
class StreamEnd:
    """The last event of every successful stream. ``cost``/``request_cost`` as on ``Completion``."""

    stop_reason: StopReason
    provider: str | None = None
    model: str | None = None
    response_id: str | None = None
    cost: Decimal | None = field(default=None, compare=False)
    request_cost: Decimal | None = field(default=None, compare=False)
    # How the stream went (filled by the adapter); not part of equality, like ``Completion.timing``.
    timing: Timing = field(default_factory=Timing, compare=False)
    # The vendor's extra response fields kept (``Completion.extras``).
    extras: Mapping[str, Any] = field(default_factory=lambda: NO_EXTRAS, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extras", read_only(self.extras))


StreamEvent = TextDelta | ReasoningDelta | ToolCallStart | ToolCallDelta | ToolCallEnd | UsageUpdate | StreamEnd
ContentEvent = (TextDelta, ReasoningDelta, ToolCallStart, ToolCallDelta)


class Accumulator:
    """Folds stream events, one at a time, into a ``Completion``; ``partial()`` works mid-stream."""

    __slots__ = ("_args", "_calls", "_parts", "_text", "cached", "end", "usage")

    def __init__(self) -> None:
        self._parts: list[Part | None] = []
        self._text: list[str] | None = None
        self._calls: dict[int, tuple[int, str, str]] = {}
        self._args: dict[int, list[str]] = {}
        self.usage = Usage.UNKNOWN
        self.cached = False
        self.end: StreamEnd | None = None

    @property
    def has_content(self) -> bool:
        return bool(self._parts) or bool(self._text)

    def add(self, event: StreamEvent) -> None:
        if type(event) is TextDelta:
            if self._text is None:
                self._text = []
            self._text.append(event.text)
        elif type(event) is ToolCallDelta:
            self._args[event.index].append(event.arguments)
        elif isinstance(event, ReasoningDelta):
            self._flush_text()
            last = self._parts[-1] if self._parts else None
            if isinstance(last, ReasoningPart) and last.signature is None and last.redacted == event.redacted:
                self._parts[-1] = ReasoningPart(
                    last.text + event.text, event.signature, event.provider or last.provider, last.redacted
                )
            else:
                self._parts.append(ReasoningPart(event.text, event.signature, event.provider, event.redacted))
        elif isinstance(event, ToolCallStart):
            self._flush_text()
            self._calls[event.index] = (len(self._parts), event.id, event.name)
            self._args[event.index] = []
            self._parts.append(None)  # filled when the call ends
        elif isinstance(event, ToolCallEnd):
            self._finish_call(event.index)
        elif isinstance(event, UsageUpdate):
            self.usage = event.usage
            self.cached = event.cached
        elif isinstance(event, StreamEnd):
            self.end = event

    def _flush_text(self) -> None:
        if self._text:
            self._parts.append(TextPart("".join(self._text)))
        self._text = None

    def _finish_call(self, index: int) -> None:
        slot, call_id, name = self._calls.pop(index)
        arguments, raw = parse_tool_arguments("".join(self._args.pop(index)))
        self._parts[slot] = ToolCallPart(call_id, name, arguments, raw)

    def partial(self, timing: Timing | None = None) -> Completion:
        """What has arrived so far; unfinished tool calls are closed with the arguments received."""
        parts = list(self._parts)
        if self._text:
            parts.append(TextPart("".join(self._text)))
        for index, (slot, call_id, name) in self._calls.items():
            arguments, raw = parse_tool_arguments("".join(self._args[index]))
            parts[slot] = ToolCallPart(call_id, name, arguments, raw)
        end = self.end
        return Completion(
            tuple(p for p in parts if p is not None),
            end.stop_reason if end else StopReason("other", "interrupted"),
            self.usage,
            end.provider if end else None,
            end.model if end else None,
            end.response_id if end else None,
            timing or (end.timing if end else Timing()),
            cached=self.cached,
            cost=end.cost if end else None,
            request_cost=end.request_cost if end else None,
            extras=end.extras if end else NO_EXTRAS,
        )


def accumulate(events: Iterable[StreamEvent], timing: Timing | None = None) -> Completion:
    """Fold a complete event sequence into the ``Completion`` the non-streaming call returns."""
    acc = Accumulator()
    for event in events:
        acc.add(event)
    return acc.partial(timing)


def completion_events(completion: Completion, chunk_size: int = 8) -> Iterator[StreamEvent]:
    """Replay a completion as stream events, text and arguments cut into ``chunk_size`` pieces."""
    step = max(1, chunk_size)
    call_index = 0
    for part in completion.parts:
        if isinstance(part, TextPart):
            for i in range(0, len(part.text), step):
                yield TextDelta(part.text[i : i + step])
        elif isinstance(part, ReasoningPart):
            text = part.text
            pieces = [text[i : i + step] for i in range(0, len(text), step)] or [""]
            for piece in pieces:
                yield ReasoningDelta(piece, None, part.provider, part.redacted)
            if part.signature is not None:
                yield ReasoningDelta("", part.signature, part.provider, part.redacted)
        elif isinstance(part, ToolCallPart):
            yield ToolCallStart(call_index, part.id, part.name)
            raw = part.raw_arguments if part.raw_arguments is not None else json.dumps(dict(part.arguments))
            for i in range(0, len(raw), step):
                yield ToolCallDelta(call_index, raw[i : i + step])
            yield ToolCallEnd(call_index)
            call_index += 1
    yield UsageUpdate(completion.usage, cached=completion.cached, cost=completion.cost)
    yield StreamEnd(completion.stop_reason, completion.provider, completion.model, completion.response_id,
                    cost=completion.cost, request_cost=completion.request_cost, extras=completion.extras)
