"""Server-Sent Events for hosts that re-stream an answer to browsers.

``sse_stream(llm, request)`` opens ``llm.stream(request)`` and yields one SSE frame (bytes) per
event; closing the generator (a browser that disconnects makes the web framework close it) leaves
the stream's context, which closes the upstream connection. ``encode_event`` and ``error_frame``
are the pieces, ``parse_event_stream`` is a parser that follows the WHATWG EventSource rules, and
``decode_frames`` turns parsed frames back into llmport events (for tests and Python clients).

Frames (``event:`` name, ``data:`` one line of JSON, ``id:`` a sequence number):

==================  ========================================================================
``text``            ``{"text"}``
``reasoning``       ``{"text", "signature", "provider", "redacted"}`` (only with ``reasoning=True``)
``tool_call_start`` ``{"index", "id", "name"}``
``tool_call_delta`` ``{"index", "arguments"}``
``tool_call_end``   ``{"index"}``
``usage``           ``{"input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
                    "reasoning_tokens", "reported", "cached", "cost"}``
``done``            ``{"stop_reason", "raw", "provider", "model", "response_id", "cost", "request_cost"}``
                    (+ ``"extras"`` when the vendor's kept fields are not empty)
``error``           ``{"type", "message", "retryable", "status", "retry_after", "partial_text"}``
==================  ========================================================================

Costs are decimal strings (exact). Error messages are the taxonomy's, already scrubbed of credentials.
Pure Python: no web framework is imported.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llmport.domain import (
    Accumulator,
    CompletionRequest,
    LLMError,
    ReasoningDelta,
    StopReason,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from llmport.ports import LLMPort

#: The ``Content-Type`` and headers a response carrying these frames should have.
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
               "X-Accel-Buffering": "no"}


def _cost(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _frame(name: str, data: dict[str, Any], seq: int | None) -> bytes:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {name}\ndata: {body}\n\n".encode()


def encode_event(event: StreamEvent, seq: int | None = None, *, reasoning: bool = False) -> bytes | None:
    """One event as an SSE frame; ``None`` for reasoning when ``reasoning`` is off."""
    if type(event) is TextDelta:
        return _frame("text", {"text": event.text}, seq)
    if isinstance(event, ToolCallDelta):
        return _frame("tool_call_delta", {"index": event.index, "arguments": event.arguments}, seq)
    if isinstance(event, ToolCallStart):
        return _frame("tool_call_start", {"index": event.index, "id": event.id, "name": event.name}, seq)
    if isinstance(event, ToolCallEnd):
        return _frame("tool_call_end", {"index": event.index}, seq)
    if isinstance(event, ReasoningDelta):
        if not reasoning:
            return None
        return _frame("reasoning", {"text": event.text, "signature": event.signature, "provider": event.provider,
                                    "redacted": event.redacted}, seq)
    if isinstance(event, UsageUpdate):
        u = event.usage
        return _frame("usage", {
            "input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
            "cached_input_tokens": u.cached_input_tokens, "cache_write_tokens": u.cache_write_tokens,
            "reasoning_tokens": u.reasoning_tokens, "reported": u.reported, "cached": event.cached,
            "cost": _cost(event.cost),
        }, seq)
    if isinstance(event, StreamEnd):
        done: dict[str, Any] = {
            "stop_reason": event.stop_reason.kind, "raw": event.stop_reason.raw, "provider": event.provider,
            "model": event.model, "response_id": event.response_id, "cost": _cost(event.cost),
            "request_cost": _cost(event.request_cost),
        }
        if event.extras:
            done["extras"] = dict(event.extras)
        return _frame("done", done, seq)
    raise TypeError(f"not a stream event: {type(event).__name__}")  # unreachable for StreamEvent


def error_frame(exc: LLMError, partial_text: str, seq: int | None = None) -> bytes:
    """The frame that ends a failed stream: the taxonomy class, its scrubbed message, and the text
    the browser already shows (so it can keep or discard it)."""
    return _frame("error", {
        "type": type(exc).__name__, "message": exc.message, "retryable": exc.retryable, "status": exc.status,
        "retry_after": exc.retry_after, "partial_text": partial_text,
    }, seq)


async def encode_events(events: AsyncIterator[StreamEvent], *, reasoning: bool = False) -> AsyncIterator[bytes]:
    """Frames for an event iterator; an ``LLMError`` while iterating becomes a final ``error`` frame."""
    acc = Accumulator()
    seq = 0
    try:
        async for event in events:
            acc.add(event)
            frame = encode_event(event, seq, reasoning=reasoning)
            if frame is not None:
                seq += 1
                yield frame
    except StreamInterrupted as exc:
        yield error_frame(exc, exc.partial.text, seq)
    except LLMError as exc:
        yield error_frame(exc, acc.partial().text, seq)


async def sse_stream(llm: LLMPort, request: CompletionRequest, *, reasoning: bool = False) -> AsyncIterator[bytes]:
    """Stream ``request`` through ``llm`` as SSE frames. Errors before the first event (an
    ``InvalidRequest``, every route failing) become an ``error`` frame too, so a host can send
    the headers at once. Closing this generator closes the upstream connection."""
    try:
        async with llm.stream(request) as events:
            async for frame in encode_events(events, reasoning=reasoning):
                yield frame
    except LLMError as exc:
        yield error_frame(exc, "", 0)


# -- reading frames -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event, as a browser's ``EventSource`` delivers it."""

    event: str
    data: str
    id: str
    retry: int | None = None


_LINES = re.compile(r"\r\n|\r|\n")


def parse_event_stream(text: str) -> list[ServerSentEvent]:
    """Parse an event stream by the WHATWG rules: CRLF/LF/CR line ends; ``:`` comments; one space
    after the colon dropped; ``data`` lines joined with LF; an event dispatched on a blank line only
    when it has data; type ``message`` by default; ``id`` persists until changed (ignored when it
    contains NUL); ``retry`` only when all digits; an unterminated last event is discarded."""
    if text.startswith("\ufeff"):
        text = text[1:]
    out: list[ServerSentEvent] = []
    data: list[str] = []
    name = ""
    last_id = ""
    retry: int | None = None
    lines = _LINES.split(text)
    complete = lines[:-1]  # the piece after the last line end is an unterminated line
    for line in complete:
        if not line:
            if data:
                out.append(ServerSentEvent(name or "message", "\n".join(data), last_id, retry))
            data, name, retry = [], "", None
            continue
        if line.startswith(":"):
            continue
        field_name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field_name == "event":
            name = value
        elif field_name == "data":
            data.append(value)
        elif field_name == "id":
            if "\0" not in value:
                last_id = value
        elif field_name == "retry" and value.isascii() and value.isdigit():
            retry = int(value)
    return out


def decode_frames(frames: Iterable[ServerSentEvent]) -> Iterator[StreamEvent | LLMError]:
    """llmport events back from parsed frames; an ``error`` frame becomes an ``LLMError`` (its
    ``message`` and flags as sent; the class name is in the message's prefix)."""
    for f in frames:
        d = json.loads(f.data)
        if f.event == "text":
            yield TextDelta(d["text"])
        elif f.event == "reasoning":
            yield ReasoningDelta(d["text"], d["signature"], d["provider"], d["redacted"])
        elif f.event == "tool_call_start":
            yield ToolCallStart(d["index"], d["id"], d["name"])
        elif f.event == "tool_call_delta":
            yield ToolCallDelta(d["index"], d["arguments"])
        elif f.event == "tool_call_end":
            yield ToolCallEnd(d["index"])
        elif f.event == "usage":
            usage = Usage(d["input_tokens"], d["output_tokens"], d["cached_input_tokens"], d["cache_write_tokens"],
                          d["reasoning_tokens"], d["reported"])
            yield UsageUpdate(usage, cached=d["cached"], cost=_decimal(d["cost"]))
        elif f.event == "done":
            yield StreamEnd(StopReason(d["stop_reason"], d["raw"]), d["provider"], d["model"], d["response_id"],
                            cost=_decimal(d["cost"]), request_cost=_decimal(d["request_cost"]),
                            extras=d.get("extras") or {})
        elif f.event == "error":
            yield LLMError(f"{d['type']}: {d['message']}", status=d["status"], retry_after=d["retry_after"])


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
