"""What a test scripts into the emulator: replies (answers and how they stream) and faults."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

StopKind = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "content_filter"]
FaultKind = Literal["http", "hang", "reset", "cut", "malformed", "stream_error", "raw"]


@dataclass(frozen=True, slots=True)
class ScriptedToolCall:
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None  # generated when None (Gemini sends none on the wire at all)


@dataclass(frozen=True, slots=True)
class ScriptedUsage:
    """Token numbers the vendor reports; None means "estimate from the request/answer"."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer. Text streams in ``chunk_size``-character pieces (or the explicit
    ``chunks``), ``chunk_delay`` seconds apart; ``latency`` is waited before the response headers.
    ``extra_fields``: top-level fields a vendor adds to its answer (e.g. Perplexity's
    ``search_results``), on the JSON answer and on a stream's finishing chunk (OpenAI wire)."""

    text: str = ""
    reasoning: str = ""
    reasoning_signature: str | None = None
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    stop: StopKind | None = None  # None: tool_use when tool_calls, else end_turn
    usage: ScriptedUsage = field(default_factory=ScriptedUsage)
    chunk_size: int = 8
    chunks: tuple[str, ...] | None = None
    chunk_delay: float = 0.0
    latency: float = 0.0
    extra_fields: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def stop_kind(self) -> StopKind:
        return self.stop or ("tool_use" if self.tool_calls else "end_turn")

    def text_chunks(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        step = max(1, self.chunk_size)
        return [self.text[i : i + step] for i in range(0, len(self.text), step)]


@dataclass(frozen=True, slots=True)
class Fault:
    """A failure. ``http``: an error status with the vendor's own error body (``error_type`` is the
    vendor's type/code, e.g. "overloaded_error", "ThrottlingException", "context_length_exceeded").
    ``hang``: never answer. ``reset``: drop the connection without a response. ``cut``: stream
    ``after_chunks`` chunks then drop the connection. ``malformed``: after N chunks send a broken
    frame. ``stream_error``: after N chunks send the vendor's in-stream error event."""

    kind: FaultKind = "http"
    status: int = 500
    error_type: str | None = None
    message: str | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    after_chunks: int = 0
    latency: float = 0.0
    reply: Reply | None = None  # the answer whose first frames precede a cut/malformed/stream_error
    body: bytes = b""  # ``raw`` only
    media_type: str = "application/json"  # ``raw`` only
    headers: Mapping[str, str] = field(default_factory=dict, compare=False)  # ``raw`` only

    @classmethod
    def http(cls, status: int, error_type: str | None = None, message: str | None = None, *,
             retry_after: float | None = None, retry_after_ms: int | None = None, latency: float = 0.0) -> Fault:
        return cls("http", status, error_type, message, retry_after, retry_after_ms, 0, latency)

    @classmethod
    def rate_limited(cls, retry_after: float | None = None, *, retry_after_ms: int | None = None) -> Fault:
        return cls.http(429, retry_after=retry_after, retry_after_ms=retry_after_ms)

    @classmethod
    def context_length(cls) -> Fault:
        return cls.http(400, "context_length_exceeded",
                        "This model's maximum context length is 8192 tokens; your prompt is too long.")

    @classmethod
    def raw(cls, body: bytes | str, *, status: int = 200, media_type: str = "application/json",
            headers: Mapping[str, str] | None = None) -> Fault:
        """Exactly ``body`` (and ``headers``), whatever the vendor's schema says."""
        data = body.encode() if isinstance(body, str) else body
        return cls("raw", status, body=data, media_type=media_type, headers=dict(headers or {}))

    @classmethod
    def hang(cls) -> Fault:
        return cls("hang")

    @classmethod
    def reset(cls) -> Fault:
        return cls("reset")

    @classmethod
    def cut(cls, after_chunks: int, *, reply: Reply | None = None) -> Fault:
        return cls("cut", after_chunks=after_chunks, reply=reply)

    @classmethod
    def malformed(cls, after_chunks: int = 0, *, reply: Reply | None = None) -> Fault:
        return cls("malformed", after_chunks=after_chunks, reply=reply)

    @classmethod
    def stream_error(cls, after_chunks: int = 0, error_type: str | None = None, message: str | None = None, *,
                     reply: Reply | None = None) -> Fault:
        return cls("stream_error", 200, error_type, message, after_chunks=after_chunks, reply=reply)


Step = Reply | Fault


@dataclass
class FaultRate:
    """Fail a fraction ``rate`` of calls with ``fault`` (or, with ``mix``, one of ``fault`` and
    ``mix`` picked uniformly), drawn from a seeded generator."""

    rate: float
    fault: Fault
    seed: int = 0
    mix: tuple[Fault, ...] = ()
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self) -> bool:
        return self._rng.random() < self.rate

    def choose(self) -> Fault:
        """The fault for a call that ``draw`` chose to fail."""
        return self._rng.choice((self.fault, *self.mix)) if self.mix else self.fault
