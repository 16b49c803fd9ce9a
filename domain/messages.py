"""Conversation messages and their content parts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ._json import frozen_json


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image, either by ``url`` (http(s) or a vendor file URI) or inline ``data`` with its media type."""

    url: str | None = None
    data: bytes | None = None
    media_type: str | None = None

    def __post_init__(self) -> None:
        from .errors import InvalidRequest

        if (self.url is None) == (self.data is None):
            raise InvalidRequest("an image needs exactly one of url or data", field="image")
        if self.data is not None and not self.media_type:
            raise InvalidRequest("an inline image needs its media_type (e.g. image/png)", field="image")

    def __repr__(self) -> str:
        if self.data is not None:
            return f"ImagePart(data=<{len(self.data)} bytes>, media_type={self.media_type!r})"
        return f"ImagePart(url={self.url!r})"


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    """A model's request to call a tool. ``arguments`` is the parsed JSON object.

    When the model produced arguments that are not a JSON object, ``arguments`` is empty and
    ``raw_arguments`` keeps the text as received, so nothing is silently lost.
    """

    id: str
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "arguments", frozen_json(self.arguments, "tool call arguments"))


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    """The result of a tool call, sent back to the model."""

    call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class ReasoningPart:
    """Model reasoning. ``signature`` is opaque vendor data that must be sent back unchanged.

    ``provider`` names the vendor family that produced it; adapters of other families drop it
    rather than send a signature another vendor cannot verify. ``redacted`` marks encrypted
    reasoning whose ``signature`` carries the data and whose text is empty.
    """

    text: str
    signature: str | None = None
    provider: str | None = None
    redacted: bool = False


Part = TextPart | ImagePart | ToolCallPart | ToolResultPart | ReasoningPart

_ALLOWED: dict[Role, tuple[type, ...]] = {
    Role.SYSTEM: (TextPart,),
    Role.USER: (TextPart, ImagePart),
    Role.ASSISTANT: (TextPart, ToolCallPart, ReasoningPart),
    Role.TOOL: (ToolResultPart,),
}


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation. ``cache_breakpoint`` asks adapters that support prompt caching
    to cache the prompt up to and including this message."""

    role: Role
    parts: tuple[Part, ...]
    cache_breakpoint: bool = False

    def __post_init__(self) -> None:
        from .errors import InvalidRequest

        object.__setattr__(self, "role", Role(self.role))
        object.__setattr__(self, "parts", tuple(self.parts))
        if not self.parts:
            raise InvalidRequest(f"a {self.role.value} message needs at least one part", field="messages")
        allowed = _ALLOWED[self.role]
        for part in self.parts:
            if not isinstance(part, allowed):
                names = ", ".join(t.__name__ for t in allowed)
                raise InvalidRequest(
                    f"a {self.role.value} message cannot hold {type(part).__name__} (allowed: {names})",
                    field="messages",
                )

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(Role.SYSTEM, (TextPart(text),))

    @classmethod
    def user(cls, *content: str | ImagePart | TextPart, cache_breakpoint: bool = False) -> Message:
        """A user turn from text and images: ``Message.user("what is this?", ImagePart(url=...))``."""
        parts = tuple(TextPart(c) if isinstance(c, str) else c for c in content)
        return cls(Role.USER, parts, cache_breakpoint)

    @classmethod
    def assistant(
        cls,
        text: str | None = None,
        *,
        tool_calls: Iterable[ToolCallPart] = (),
        reasoning: Iterable[ReasoningPart] = (),
    ) -> Message:
        parts: list[Part] = [*reasoning]
        if text:
            parts.append(TextPart(text))
        parts.extend(tool_calls)
        return cls(Role.ASSISTANT, tuple(parts))

    @classmethod
    def tool_result(cls, call_id: str, content: str, *, is_error: bool = False) -> Message:
        return cls(Role.TOOL, (ToolResultPart(call_id, content, is_error),))

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))
