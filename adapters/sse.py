"""A server-sent-events decoder for the adapters' wire fast paths: bytes in, ``(event, data)``
pairs out, with no object per event.

It follows the WHATWG event-stream rules as the vendor SDKs implement them: lines end with CRLF, LF
or CR (a CRLF split across reads counts once); a blank line dispatches the pending event when it has
an event name, data, an id or a retry; ``:`` lines are comments; one space after the colon is
dropped; data lines join with LF; an event left pending when the body ends is dropped. Data stays
bytes (``json.loads`` reads UTF-8 bytes directly); the event name is decoded.
"""

from __future__ import annotations

import re

_EOL = re.compile(rb"\r\n|\r|\n")

Event = tuple[str | None, bytes]


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
