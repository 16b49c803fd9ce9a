"""Encoder for AWS's binary event-stream framing (``application/vnd.amazon.eventstream``).

One message is::

    total length (u32) | headers length (u32) | prelude CRC32 (u32)
    headers: name length (u8) | name (utf-8) | value type (u8) | value
    payload
    message CRC32 (u32, over everything before it)

All integers are big-endian. Header values used here are strings (type 7: u16 length + utf-8),
byte arrays (type 6: u16 length + bytes), 32-bit integers (type 4) and booleans (types 0 / 1).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

_PRELUDE = struct.Struct(">II")
_U32 = struct.Struct(">I")
_STRING, _BYTES, _INT32, _TRUE, _FALSE = 7, 6, 4, 0, 1

HeaderValue = str | bytes | int | bool


def _encode_header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode("utf-8")
    if len(raw_name) > 255:
        raise ValueError(f"event-stream header name too long: {name!r}")
    head = bytes((len(raw_name),)) + raw_name
    if isinstance(value, bool):
        return head + bytes((_TRUE if value else _FALSE,))
    if isinstance(value, int):
        return head + bytes((_INT32,)) + struct.pack(">i", value)
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(data) > 0xFFFF:
        raise ValueError(f"event-stream header {name!r} value too long")
    kind = _STRING if isinstance(value, str) else _BYTES
    return head + bytes((kind,)) + struct.pack(">H", len(data)) + data


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes = b"") -> bytes:
    """One complete event-stream message."""
    raw_headers = b"".join(_encode_header(k, v) for k, v in headers.items())
    total = _PRELUDE.size + 4 + len(raw_headers) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(raw_headers))
    prelude += _U32.pack(zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + _U32.pack(zlib.crc32(body))


def _json(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """A JSON ``event`` message (``:message-type`` event) of the given ``:event-type``."""
    return encode_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        _json(payload),
    )


def exception(exception_type: str, message: str) -> bytes:
    """A modelled in-stream ``exception`` message (``:exception-type`` names the member)."""
    return encode_message(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"},
        _json({"message": message}),
    )


def corrupt(message: bytes) -> bytes:
    """``message`` with its prelude CRC broken: a decoder must reject it."""
    broken = bytearray(message)
    broken[8] ^= 0xFF
    return bytes(broken)
