"""What a caller asks for: a validated, provider-neutral completion request."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ._json import frozen_json
from .errors import InvalidRequest
from .messages import Message, Role, ToolCallPart, ToolResultPart
from .tools import ToolChoice, ToolSpec


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Plain text, any JSON object, or JSON matching ``schema``."""

    kind: Literal["text", "json", "json_schema"] = "text"
    schema: Mapping[str, Any] | None = None
    name: str = "response"
    strict: bool = True

    TEXT: ClassVar[ResponseFormat]
    JSON: ClassVar[ResponseFormat]

    def __post_init__(self) -> None:
        if self.kind not in ("text", "json", "json_schema"):
            raise InvalidRequest(f"unknown response format {self.kind!r}", field="response_format")
        if self.kind == "json_schema":
            if not self.schema:
                raise InvalidRequest("a json_schema response format needs a schema", field="response_format")
            object.__setattr__(self, "schema", frozen_json(self.schema, "response schema"))
        elif self.schema is not None:
            raise InvalidRequest(f"a {self.kind} response format takes no schema", field="response_format")

    @classmethod
    def json_schema(cls, schema: Mapping[str, Any], *, name: str = "response", strict: bool = True) -> ResponseFormat:
        return cls("json_schema", schema, name, strict)


ResponseFormat.TEXT = ResponseFormat()
ResponseFormat.JSON = ResponseFormat("json")


@dataclass(frozen=True, slots=True)
class ReasoningConfig:
    """Ask for model reasoning ("thinking"): an effort level, or an explicit token budget."""

    effort: Literal["low", "medium", "high"] | None = "medium"
    budget_tokens: int | None = None
    include_text: bool = True

    def __post_init__(self) -> None:
        if self.effort not in (None, "low", "medium", "high"):
            raise InvalidRequest(f"reasoning effort must be low, medium or high, not {self.effort!r}",
                                 field="reasoning")
        if self.budget_tokens is not None and self.budget_tokens < 1:
            raise InvalidRequest("reasoning budget_tokens must be positive", field="reasoning")

    def budget(self, default_max: int) -> int:
        """The token budget to use where a vendor wants a number."""
        if self.budget_tokens is not None:
            return self.budget_tokens
        share = {"low": 0.25, "medium": 0.5, "high": 0.8}[self.effort or "medium"]
        return max(1024, int(default_max * share))


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Caching hints. ``prompt_cache`` "auto" marks the system prompt, tools and the last user turn
    as cache breakpoints for vendors with explicit prompt caching; messages may also carry their own
    ``cache_breakpoint``. ``response_ttl`` allows a response cache (if one is configured) to answer
    and to keep the answer that long (seconds; 0 keeps the request out of the cache even where its
    alias opts in). ``refresh`` skips the cache read (the fresh answer is still stored); ``store``
    False forbids writing the answer."""

    prompt_cache: Literal["off", "auto"] = "off"
    response_ttl: float | None = None
    refresh: bool = False
    store: bool = True


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """A provider-neutral request, validated on construction (``InvalidRequest`` on any problem).

    ``model`` is an alias, ``provider/model`` or a bare model name; the failover policy resolves it.
    ``timeout`` bounds the whole call (all retries included), ``attempt_timeout`` each attempt, and
    ``deadline`` is an absolute ``time.monotonic()`` instant that wins when sooner.
    ``tenant_id`` is sent as the vendor's end-user identifier where one exists. ``metadata`` is
    best-effort: sent where the vendor has a place for it (OpenAI with ``store`` on, Bedrock request
    metadata), otherwise kept for the host's own logging and ledger, never an error.
    """

    model: str
    messages: Sequence[Message]
    system: str | None = None
    tools: Sequence[ToolSpec] = ()
    tool_choice: ToolChoice | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: Sequence[str] = ()
    response_format: ResponseFormat = field(default_factory=ResponseFormat)
    seed: int | None = None
    reasoning: ReasoningConfig | None = None
    tenant_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    attempt_timeout: float | None = None
    deadline: float | None = None
    cache: CachePolicy = field(default_factory=CachePolicy)

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "tools", tuple(self.tools))
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        object.__setattr__(self, "stop", tuple(self.stop))
        self._validate()

    @property
    def system_text(self) -> str | None:
        """The ``system`` field and every system message, joined by blank lines."""
        texts = [self.system] if self.system else []
        texts.extend(m.text for m in self.messages if m.role is Role.SYSTEM)
        return "\n\n".join(texts) if texts else None

    def _validate(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidRequest("model must be a non-empty string (an alias, provider/model or model name)",
                                 field="model")
        if not self.messages:
            raise InvalidRequest("messages must not be empty", field="messages")
        for i, msg in enumerate(self.messages):
            if not isinstance(msg, Message):
                raise InvalidRequest(f"messages[{i}] is a {type(msg).__name__}, not a Message", field="messages")
        if all(m.role is Role.SYSTEM for m in self.messages):
            raise InvalidRequest("messages hold only system messages; add a user message", field="messages")
        self._validate_tool_flow()
        self._validate_tools()
        _check_range("temperature", self.temperature, 0.0, 2.0)
        _check_range("top_p", self.top_p, 0.0, 1.0, low_open=True)
        if self.max_tokens is not None and (not _is_int(self.max_tokens) or self.max_tokens < 1):
            raise InvalidRequest(f"max_tokens must be a positive integer, got {self.max_tokens!r}",
                                 field="max_tokens")
        for s in self.stop:
            if not isinstance(s, str) or not s:
                raise InvalidRequest("stop sequences must be non-empty strings", field="stop")
        if self.seed is not None and not _is_int(self.seed):
            raise InvalidRequest("seed must be an integer", field="seed")
        for name in ("timeout", "attempt_timeout"):
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and value > 0 and math.isfinite(value)):
                raise InvalidRequest(f"{name} must be a positive number of seconds, got {value!r}", field=name)
        if self.deadline is not None and not (_is_number(self.deadline) and math.isfinite(self.deadline)):
            raise InvalidRequest(f"deadline must be a finite time.monotonic() instant, got {self.deadline!r}",
                                 field="deadline")
        try:
            json.dumps(dict(self.metadata))
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"metadata must be JSON-serialisable: {exc}", field="metadata") from None

    def _validate_tool_flow(self) -> None:
        seen_calls: set[str] = set()
        for i, msg in enumerate(self.messages):
            for part in msg.parts:
                if isinstance(part, ToolCallPart):
                    if part.id in seen_calls:
                        raise InvalidRequest(f"messages[{i}]: duplicate tool call id {part.id!r}", field="messages")
                    seen_calls.add(part.id)
                elif isinstance(part, ToolResultPart) and part.call_id not in seen_calls:
                    raise InvalidRequest(
                        f"messages[{i}]: tool result for call id {part.call_id!r} has no matching tool call "
                        "in an earlier assistant message",
                        field="messages",
                    )

    def _validate_tools(self) -> None:
        names = [t.name for t in self.tools]
        for t in self.tools:
            if not isinstance(t, ToolSpec):
                raise InvalidRequest(f"tools must be ToolSpec values, got {type(t).__name__}", field="tools")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidRequest(f"duplicate tool names: {', '.join(dupes)}", field="tools")
        choice = self.tool_choice
        if choice is None:
            return
        if choice.mode in ("required", "tool") and not self.tools:
            raise InvalidRequest(f"tool_choice {choice.mode!r} needs at least one tool", field="tool_choice")
        if choice.mode == "tool" and choice.name not in names:
            raise InvalidRequest(
                f"tool_choice names unknown tool {choice.name!r}; tools are: {', '.join(names)}",
                field="tool_choice",
            )


def _check_range(name: str, value: float | None, low: float, high: float, *, low_open: bool = False) -> None:
    if value is None:
        return
    ok = _is_number(value) and math.isfinite(value) and value <= high
    ok = ok and (value > low if low_open else value >= low)
    if not ok:
        bracket = "(" if low_open else "["
        raise InvalidRequest(f"{name} must be in {bracket}{low:g}, {high:g}], got {value!r}", field=name)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
