"""A server-sent-events decoder for the adapters' wire fast paths: bytes in, ``(event, data)``
pairs out, with no object per event.

It follows the WHATWG event-stream rules as the vendor SDKs implement them: lines end with CRLF, LF
or CR (a CRLF split across reads counts once); a blank line dispatches the pending event when it has
an event name, data, an id or a retry; ``:`` lines are comments; one space after the colon is
dropped; data lines join with LF; an event left pending when the body ends is dropped. Data stays
bytes (``json.loads`` reads UTF-8 bytes directly); the event name is decoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

_EOL = re.compile(rb"\r\n|\r|\n")

Event = tuple[str | None, bytes]

#: What a frame policy returns to end the stream (the rest of an HTTP/1.1 body is drained first).
DONE: Any = object()

#: A vendor's reading of one SSE event: the decoded JSON object to hand on, None to skip the event,
#: or ``DONE``; it raises the SDK's own exception for an in-stream error or a malformed frame.
FramePolicy = Callable[[str | None, bytes, Any], Any]
#: The SDK's exception for a transport failure while reading the body (None: let it escape as is).
TransportPolicy = Callable[[Exception, Any], Exception | None]


class SSEDecoder:
    """Feed it the body's chunks in order; each call returns the events those bytes completed."""

    __slots__ = ("_buffer", "_data", "_event", "_has_id", "_retry", "_skip_lf")

    def __init__(self) -> None:
        self._buffer = b""
        self._skip_lf = False  # the last chunk ended with CR: an LF opening the next one is its pair
        self._event: str | None = None
        self._data: list[bytes] = []
        self._has_id = False  # the last event id is never reset (as in the SDKs): blank lines dispatch
        self._retry = False

    def feed(self, chunk: bytes) -> list[Event]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" not in buffer:
            lines = buffer.split(b"\n")
            self._buffer = lines.pop()
        else:
            lines, start = [], 0
            for match in _EOL.finditer(buffer):
                lines.append(buffer[start:match.start()])
                start = match.end()
            self._buffer = buffer[start:]
            self._skip_lf = start == len(buffer) and buffer[-1:] == b"\r"
        out: list[Event] = []
        for line in lines:
            if line:
                self._line(line)
            elif self._data or self._event is not None or self._has_id or self._retry:
                out.append((self._event, b"\n".join(self._data) if len(self._data) != 1 else self._data[0]))
                self._event, self._data, self._retry = None, [], False
        return out

    def _line(self, line: bytes) -> None:
        if line[0] == 58:  # b":" a comment
            return
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data.append(value)
        elif field == b"event":
            self._event = value.decode("utf-8", "replace") or None
        elif field == b"id":
            if b"\0" not in value:
                self._has_id = bool(value)
        elif field == b"retry":
            try:
                int(value)
            except ValueError:
                return
            self._retry = True


class Frame:
    """Attribute access over one decoded JSON object, the way an adapter reads SDK models: a
    missing field is None, nested objects are views too, ``model_extra`` is the raw mapping."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        value: Any = self._data.get(name)
        kind = type(value)
        if kind is dict:
            return Frame(value)
        if kind is list:
            return [Frame(v) if type(v) is dict else v for v in value]
        return value

    @property
    def model_extra(self) -> dict[str, Any]:
        return self._data

    def __repr__(self) -> str:
        return f"Frame({sorted(self._data)})"


def unwrap(value: Any) -> Any:
    """The JSON value behind ``value``: a :class:`Frame`'s own mapping, anything else as it is (for
    fields the SDK's model keeps as a plain dict, like a tool call's input)."""
    return value._data if type(value) is Frame else value


class Reply(Frame):
    """A whole (non-streamed) reply read from its raw HTTP response: the JSON body as a
    :class:`Frame`, plus the request id the SDK's model would carry (``_request_id``)."""

    __slots__ = ("_request_id",)

    def __init__(self, data: dict[str, Any], request_id: str | None) -> None:
        super().__init__(data)
        self._request_id = request_id


def read_reply(raw: Any, request_id_header: str) -> Reply:
    """The reply behind an SDK's ``with_raw_response`` call (the body is already read);
    ``json.JSONDecodeError`` when it is not a JSON object (empty, bad UTF-8, another JSON value)."""
    http = raw.http_response
    return Reply(json_object(http.content, "reply"), http.headers.get(request_id_header))


class WireStream:
    """A streamed response opened through an SDK's raw-response access (``manager`` is the SDK's
    response context manager, already entered): async-iterate it for :class:`Frame` views;
    ``close()`` closes the response as the SDK's own stream does."""

    __slots__ = ("_frame", "_manager", "_transport", "response")

    def __init__(self, manager: Any, response: Any, frame: FramePolicy, transport: TransportPolicy) -> None:
        self._manager = manager
        #: The HTTP response, as on the SDK's own stream object.
        self.response = response.http_response
        self._frame = frame
        self._transport = transport

    def __aiter__(self) -> AsyncIterator[Frame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[Frame]:
        http = self.response
        decoder, policy = SSEDecoder(), self._frame
        chunks = http.aiter_bytes()
        try:
            async for chunk in chunks:
                for event, data in decoder.feed(chunk):
                    value = policy(event, data, http)
                    if value is None:
                        continue
                    if value is DONE:
                        if http.http_version == "HTTP/1.1":
                            async for _ in chunks:  # drained: the connection goes back to the pool
                                pass
                        return
                    yield Frame(value)
        except Exception as exc:
            mapped = self._transport(exc, http.request)
            if mapped is None:
                raise
            raise mapped from exc

    async def close(self) -> None:
        await self._manager.__aexit__(None, None, None)


def json_object(data: bytes, what: str = "frame") -> dict[str, Any]:
    """A frame's (or a reply's) JSON object; ``json.JSONDecodeError`` for anything else (bad UTF-8
    and an empty body included)."""
    try:
        value = json.loads(data)
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(f"the {what} is not UTF-8", data.decode("utf-8", "replace"), exc.start) from None
    if type(value) is not dict:
        raise json.JSONDecodeError(f"the {what} is not a JSON object", data.decode("utf-8", "replace"), 0)
    return value


async def open_wire_stream(resource: Any, params: dict[str, Any], frame: FramePolicy,
                           transport: TransportPolicy) -> WireStream:
    """Send ``resource.create(**params, stream=True)`` through the SDK's raw-response access
    (``with_streaming_response``): HTTP errors raise here, exactly as from ``create``."""
    manager = resource.with_streaming_response.create(**params, stream=True)
    response = await manager.__aenter__()
    return WireStream(manager, response, frame, transport)
