"""Conversation messages and their content parts."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import field
from enum import StrEnum
from typing import Any

from . import _validate as check
from ._json import frozen_json
from .frozen import valueclass


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@valueclass
class TextPart:
    text: str

    def __post_init__(self) -> None:
        if type(self.text) is not str:  # value checks (encodability, emptiness) are the request's
            check.text(self.text, "messages", "text")


_URL_SCHEMES = ("https://", "http://", "data:", "gs://", "s3://")
_MAX_URL = 65_536  # characters of a URL that is not a data: URL


@valueclass
class ImagePart:
    """An image, either by ``url`` or inline ``data`` (non-empty bytes) with its ``media_type``.

    URLs are ``http(s)://``, ``data:image/...;base64,...``, or a cloud storage URI a vendor reads
    itself (``gs://`` on Vertex AI, ``s3://`` on Bedrock). Media types are image types only.
    """

    url: str | None = None
    data: bytes | None = None
    media_type: str | None = None

    def __post_init__(self) -> None:
        from .errors import InvalidRequest

        if (self.url is None) == (self.data is None):
            raise InvalidRequest("an image needs exactly one of url or data", field="image")
        if self.media_type is not None:
            media = check.text(self.media_type, "image", "an image's media_type")
            if not _is_image_type(media):
                raise InvalidRequest(f"an image's media_type must be an image type (image/png, image/jpeg, ...), "
                                     f"not {media[:40]!r}", field="image")
        if self.data is not None:
            if not isinstance(self.data, bytes):
                raise InvalidRequest(f"an image's data must be bytes, got {check.type_name(self.data)}",
                                     field="image")
            if not self.data:
                raise InvalidRequest("an image's data is empty", field="image")
            if not self.media_type:
                raise InvalidRequest("an inline image needs its media_type (e.g. image/png)", field="image")
            return
        url = check.text(self.url, "image", "an image url", empty=False)
        if not url.lower().startswith(_URL_SCHEMES):
            raise InvalidRequest(f"an image url must be http(s)://, data:, gs:// or s3://, not {url[:40]!r}",
                                 field="image")
        if url[:5].lower() == "data:":
            _check_data_url(url)
        elif len(url) > _MAX_URL or any(c.isspace() or not c.isprintable() for c in url):
            raise InvalidRequest("an image url must be a single printable line without spaces, at most "
                                 f"{_MAX_URL} characters", field="image")

    def __repr__(self) -> str:
        if self.data is not None:
            return f"ImagePart(data=<{len(self.data)} bytes>, media_type={self.media_type!r})"
        return f"ImagePart(url={self.url!r})"


def _is_image_type(media_type: str) -> bool:
    kind, _, sub = media_type.partition("/")
    return kind.lower() == "image" and bool(sub) and sub.isascii() and not any(c.isspace() for c in sub)


def _check_data_url(url: str) -> None:
    from .errors import InvalidRequest

    header, comma, payload = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not comma or encoding.lower() != "base64" or not _is_image_type(media_type):
        raise InvalidRequest("an image data URL must be data:image/<type>;base64,<data>", field="image")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("an image data URL holds invalid base64", field="image") from None
    if not raw:
        raise InvalidRequest("an image data URL holds no data", field="image")


@valueclass
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
        check.text(self.id, "messages", "a tool call id")
        check.text(self.name, "messages", "a tool call name")
        check.optional_text(self.raw_arguments, "messages", "a tool call's raw_arguments")
        object.__setattr__(self, "arguments", frozen_json(self.arguments, "tool call arguments"))


@valueclass
class ToolResultPart:
    """The result of a tool call, sent back to the model."""

    call_id: str
    content: str
    is_error: bool = False

    def __post_init__(self) -> None:
        check.text(self.call_id, "messages", "a tool result's call_id", empty=False)
        check.text(self.content, "messages", "a tool result's content")
        check.flag(self.is_error, "messages", "a tool result's is_error")


@valueclass
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

    def __post_init__(self) -> None:
        if type(self.text) is not str or not (self.signature is None or type(self.signature) is str) \
                or not (self.provider is None or type(self.provider) is str) or type(self.redacted) is not bool:
            check.text(self.text, "messages", "reasoning text")
            check.optional_text(self.signature, "messages", "a reasoning signature")
            check.optional_text(self.provider, "messages", "a reasoning provider")
            check.flag(self.redacted, "messages", "a reasoning part's redacted")


Part = TextPart | ImagePart | ToolCallPart | ToolResultPart | ReasoningPart

_ALLOWED: dict[Role, tuple[type, ...]] = {
    Role.SYSTEM: (TextPart,),
    Role.USER: (TextPart, ImagePart),
    Role.ASSISTANT: (TextPart, ToolCallPart, ReasoningPart),
    Role.TOOL: (ToolResultPart,),
}


@valueclass
class Message:
    """One turn of a conversation. ``cache_breakpoint`` asks adapters that support prompt caching
    to cache the prompt up to and including this message."""

    role: Role
    parts: tuple[Part, ...]
    cache_breakpoint: bool = False

    def __post_init__(self) -> None:
        from .errors import InvalidRequest

        try:
            role = Role(self.role)
        except ValueError:
            roles = ", ".join(r.value for r in Role)
            shown = repr(self.role) if isinstance(self.role, str) else check.type_name(self.role)
            raise InvalidRequest(f"a message role must be one of {roles}, not {shown[:40]}",
                                 field="messages") from None
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "parts", check.sequence(self.parts, "messages", "a message's parts"))
        check.flag(self.cache_breakpoint, "messages", "a message's cache_breakpoint")
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
            if role is not Role.ASSISTANT and isinstance(part, TextPart) and not part.text:
                # Anthropic and Bedrock reject empty text blocks; an assistant turn may be empty
                # (an answer that was only a refusal), adapters leave it out.
                raise InvalidRequest(f"a {role.value} message has an empty text part", field="messages")

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
