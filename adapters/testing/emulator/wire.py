"""The seam between the emulator's server (routing, scripts, faults, timing, journal) and each
vendor's wire format. One ``WireProtocol`` per vendor lives in its own module
(``openai_wire``, ``anthropic_wire``, ``google_wire``, ``bedrock_wire``); it only translates:
a parsed HTTP call in, bytes out. It never sleeps, never touches sockets, never journals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from .script import Fault, Reply


@dataclass(frozen=True, slots=True)
class Call:
    """One parsed vendor request."""

    vendor: str  # "openai", "anthropic", "google", "bedrock"
    endpoint: str  # the route's name, e.g. "chat", "responses", "messages", "count_tokens", "converse"
    model: str  # model id, Azure deployment, or Bedrock modelId as sent
    stream: bool
    body: Any  # the parsed JSON body (None when empty)
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names, secrets NOT removed


@dataclass(frozen=True, slots=True)
class WireResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Route:
    """``path`` is a Starlette path template (``/v1/models/{model:path}``) ; ``endpoint`` names it."""

    method: str
    path: str
    endpoint: str


class WireProtocol(Protocol):
    vendor: ClassVar[str]
    stream_media_type: ClassVar[str]  # "text/event-stream" or "application/vnd.amazon.eventstream"

    def routes(self) -> list[Route]: ...

    def parse(self, route: Route, path_params: Mapping[str, str], query: Mapping[str, str],
              headers: Mapping[str, str], body: bytes) -> Call:
        """Build the call; raise ``WireError`` for a request the real service would reject (400)."""
        ...

    def prompt_text(self, call: Call) -> str:
        """All input text of the request (for token estimates and the default answer)."""
        ...

    def reply(self, call: Call, reply: Reply) -> WireResponse:
        """The non-streaming success response (also answers count-tokens endpoints)."""
        ...

    def stream_frames(self, call: Call, reply: Reply) -> list[bytes]:
        """Every frame of a successful stream, in order, each complete (SSE event or eventstream
        message) and including the terminal ones (``data: [DONE]``, message_stop, ...)."""
        ...

    def error(self, call: Call, fault: Fault) -> WireResponse:
        """An HTTP error response exactly as the vendor sends it (body, headers incl. retry-after)."""
        ...

    def stream_error_frame(self, call: Call, fault: Fault) -> bytes:
        """The vendor's in-stream error frame (Anthropic ``event: error``, Bedrock exception message)."""
        ...

    def malformed_frame(self, call: Call) -> bytes:
        """A frame the SDK cannot parse."""
        ...


class WireError(Exception):
    """A request the vendor would reject; the server answers with ``error(call, Fault.http(400,...))``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
