"""What a caller asks for: a validated, provider-neutral completion request."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any, ClassVar, Literal

from . import _validate as check
from .errors import InvalidRequest
from .frozen import valueclass
from .messages import Message, ReasoningPart, Role, TextPart, ToolCallPart, ToolResultPart
from .tools import ToolChoice, ToolSpec

MAX_TOKENS = 2**31 - 1  # token counts vendors take (int32)
_FORMAT_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@valueclass
class ResponseFormat:
    """Plain text, any JSON object, or JSON matching ``schema``."""

    kind: Literal["text", "json", "json_schema"] = "text"
    schema: Mapping[str, Any] | None = None
    name: str = "response"
    strict: bool = True

    TEXT: ClassVar[ResponseFormat]
    JSON: ClassVar[ResponseFormat]

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in ("text", "json", "json_schema"):
            shown = repr(self.kind)[:40] if isinstance(self.kind, str) else check.type_name(self.kind)
            raise InvalidRequest(f"unknown response format {shown}: use text, json or json_schema",
                                 field="response_format")
        if not isinstance(self.name, str) or not _FORMAT_NAME.match(self.name):
            raise InvalidRequest("a response format name must be 1-64 letters, digits, '_' or '-'",
                                 field="response_format")
        check.flag(self.strict, "response_format", "a response format's strict")
        if self.kind == "json_schema":
            if not self.schema:
                raise InvalidRequest("a json_schema response format needs a schema", field="response_format")
            schema = check.json_schema(self.schema, "response_format", "the response schema")
            if schema.get("type", "object") != "object":
                raise InvalidRequest("the response schema must be of type 'object' (vendors take no other root)",
                                     field="response_format")
            object.__setattr__(self, "schema", schema)
        elif self.schema is not None:
            raise InvalidRequest(f"a {self.kind} response format takes no schema", field="response_format")

    @classmethod
    def json_schema(cls, schema: Mapping[str, Any], *, name: str = "response", strict: bool = True) -> ResponseFormat:
        return cls("json_schema", schema, name, strict)


ResponseFormat.TEXT = ResponseFormat()
ResponseFormat.JSON = ResponseFormat("json")


@valueclass
class ReasoningConfig:
    """Ask for model reasoning ("thinking"): an effort level, or an explicit token budget."""

    effort: Literal["low", "medium", "high"] | None = "medium"
    budget_tokens: int | None = None
    include_text: bool = True

    def __post_init__(self) -> None:
        if self.effort is not None and (not isinstance(self.effort, str)
                                        or self.effort not in ("low", "medium", "high")):
            shown = repr(self.effort)[:40] if isinstance(self.effort, str) else check.type_name(self.effort)
            raise InvalidRequest(f"reasoning effort must be low, medium or high, not {shown}", field="reasoning")
        if self.budget_tokens is not None:
            check.integer(self.budget_tokens, "reasoning", "reasoning budget_tokens", low=1, high=MAX_TOKENS)
        check.flag(self.include_text, "reasoning", "reasoning include_text")

    def budget(self, default_max: int) -> int:
        """The token budget to use where a vendor wants a number."""
        if self.budget_tokens is not None:
            return self.budget_tokens
        share = {"low": 0.25, "medium": 0.5, "high": 0.8}[self.effort or "medium"]
        return max(1024, int(default_max * share))


@valueclass
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

    def __post_init__(self) -> None:
        if not isinstance(self.prompt_cache, str) or self.prompt_cache not in ("off", "auto"):
            raise InvalidRequest("prompt_cache must be 'off' or 'auto'", field="cache")
        if self.response_ttl is not None:
            ttl = check.finite(self.response_ttl)
            if ttl is None or ttl < 0:
                raise InvalidRequest("response_ttl must be a non-negative number of seconds", field="cache")
        check.flag(self.refresh, "cache", "cache refresh")
        check.flag(self.store, "cache", "cache store")


@valueclass
class CompletionRequest:
    """A provider-neutral request, validated on construction (``InvalidRequest`` on any problem).

    ``model`` is an alias, ``provider/model`` or a bare model name; the failover policy resolves it.
    ``timeout`` bounds the whole call (all retries included), ``attempt_timeout`` each attempt, and
    ``deadline`` is an absolute ``time.monotonic()`` instant that wins when sooner.
    ``stall_timeout``: a stream receiving nothing for this long after its first content ends at
    once (``StreamInterrupted`` with the partial answer).
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
    stall_timeout: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", check.sequence(self.messages, "messages", "messages"))
        object.__setattr__(self, "tools", check.sequence(self.tools, "tools", "tools"))
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        object.__setattr__(self, "stop", check.sequence(self.stop, "stop", "stop"))
        self._validate()

    @property
    def system_text(self) -> str | None:
        """The ``system`` field and every system message, joined by blank lines."""
        texts = [self.system] if self.system else []
        texts.extend(m.text for m in self.messages if m.role is Role.SYSTEM)
        return "\n\n".join(texts) if texts else None

    def _validate(self) -> None:
        model = self.model
        if not isinstance(model, str) or not model.strip():
            raise InvalidRequest("model must be a non-empty string (an alias, provider/model or model name)",
                                 field="model")
        if len(model) > 256 or any(c.isspace() or not c.isprintable() for c in model):
            raise InvalidRequest("model must be at most 256 printable characters without spaces", field="model")
        check.encodable(model, "model", "model")
        if not self.messages:
            raise InvalidRequest("messages must not be empty", field="messages")
        for i, msg in enumerate(self.messages):
            if not isinstance(msg, Message):
                raise InvalidRequest(f"messages[{i}] is a {type(msg).__name__}, not a Message (build it with "
                                     "Message.user(...), Message.assistant(...), ...)", field="messages")
            _check_text(msg, i)
        if all(m.role is Role.SYSTEM for m in self.messages):
            raise InvalidRequest("messages hold only system messages; add a user message", field="messages")
        check.optional_text(self.system, "system", "system", empty=True)
        self._validate_tool_flow()
        self._validate_tools()
        _check_range("temperature", self.temperature, 0.0, 2.0)
        _check_range("top_p", self.top_p, 0.0, 1.0, low_open=True)
        if self.max_tokens is not None:
            check.integer(self.max_tokens, "max_tokens", "max_tokens", low=1, high=MAX_TOKENS)
        for s in self.stop:
            if not isinstance(s, str) or not s:
                raise InvalidRequest("stop sequences must be non-empty strings", field="stop")
            check.encodable(s, "stop", "a stop sequence")
        if self.seed is not None:
            check.integer(self.seed, "seed", "seed", low=-check.MAX_INT - 1)
        for name, cls, hint in (("response_format", ResponseFormat, " (e.g. ResponseFormat.JSON)"),
                                ("cache", CachePolicy, "")):
            check.instance(getattr(self, name), cls, name, name, hint)
        if self.reasoning is not None:
            check.instance(self.reasoning, ReasoningConfig, "reasoning", "reasoning", " (e.g. ReasoningConfig('high'))")
        if self.tenant_id is not None:
            tenant = check.text(self.tenant_id, "tenant_id", "tenant_id", empty=False)
            if len(tenant) > 256 or not tenant.isprintable():
                raise InvalidRequest("tenant_id must be at most 256 printable characters", field="tenant_id")
        for name in ("timeout", "attempt_timeout", "stall_timeout"):
            value = getattr(self, name)
            if value is not None and not ((number := check.finite(value)) is not None and number > 0):
                raise InvalidRequest(f"{name} must be a positive number of seconds, got {_shown(value)}", field=name)
        if self.deadline is not None and check.finite(self.deadline) is None:
            raise InvalidRequest(f"deadline must be a finite time.monotonic() instant, got {_shown(self.deadline)}",
                                 field="deadline")
        if not isinstance(self.metadata, Mapping):
            raise InvalidRequest(f"metadata must be a mapping of strings, got {type(self.metadata).__name__}",
                                 field="metadata")
        for key, value in self.metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidRequest("metadata must be JSON-serialisable: keys and values are strings",
                                     field="metadata")
            check.encodable(key, "metadata", "a metadata key")
            check.encodable(value, "metadata", "a metadata value")
        object.__setattr__(self, "metadata", dict(self.metadata))

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
        for t in self.tools:
            if not isinstance(t, ToolSpec):
                raise InvalidRequest(f"tools must be ToolSpec values, got {type(t).__name__} (build them with "
                                     "ToolSpec(name, description, parameters))", field="tools")
        names = [t.name for t in self.tools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidRequest(f"duplicate tool names: {', '.join(dupes)}", field="tools")
        choice = self.tool_choice
        if choice is None:
            return
        check.instance(choice, ToolChoice, "tool_choice", "tool_choice", " (e.g. ToolChoice.AUTO)")
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
    number = check.finite(value)
    ok = number is not None and number <= high and (number > low if low_open else number >= low)
    if not ok:
        bracket = "(" if low_open else "["
        raise InvalidRequest(f"{name} must be in {bracket}{low:g}, {high:g}], got {_shown(value)}", field=name)


def _shown(value: object) -> str:
    """A value for an error message: numbers as they are (unless huge), other types by name."""
    if isinstance(value, float) or (isinstance(value, int) and abs(value) < 10**30):
        return repr(value)
    return f"a {type(value).__name__}"


def _check_text(message: Message, index: int) -> None:
    """Every string of a message must be encodable (lone surrogates cannot be sent)."""
    for part in message.parts:
        if isinstance(part, TextPart | ReasoningPart):
            strings: tuple[str | None, ...] = (part.text,) if isinstance(part, TextPart) else (
                part.text, part.signature)
        elif isinstance(part, ToolCallPart):
            strings = (part.id, part.name, part.raw_arguments)
        elif isinstance(part, ToolResultPart):
            strings = (part.call_id, part.content)
        else:
            continue
        for value in strings:
            if value is not None:
                check.encodable(value, "messages", f"messages[{index}]")
