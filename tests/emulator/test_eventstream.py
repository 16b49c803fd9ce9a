"""The emulator's event-stream encoder, proved with botocore's own decoder."""

from __future__ import annotations

import json

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from llmport.adapters.testing.emulator import eventstream


def decode(data: bytes, chunk: int = 0) -> list:
    buffer = EventStreamBuffer()
    out = []
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
    for piece in pieces:
        buffer.add_data(piece)
        out.extend(buffer)
    return out


def test_one_message_round_trips_headers_and_payload() -> None:
    data = eventstream.encode_message(
        {":event-type": "messageStart", "n": 7, "flag": True, "off": False, "blob": b"\x00\x01"}, b'{"a":1}')
    (message,) = decode(data)
    assert message.headers == {":event-type": "messageStart", "n": 7, "flag": True, "off": False,
                               "blob": b"\x00\x01"}
    assert message.payload == b'{"a":1}'
    assert message.prelude.total_length == len(data)


def test_many_messages_split_at_every_byte_boundary() -> None:
    frames = [eventstream.event("contentBlockDelta", {"delta": {"text": f"chunk {i} é"}, "contentBlockIndex": 0})
              for i in range(5)]
    messages = decode(b"".join(frames), chunk=3)
    assert [json.loads(m.payload)["delta"]["text"] for m in messages] == [f"chunk {i} é" for i in range(5)]
    assert all(m.headers[":message-type"] == "event" for m in messages)
    assert all(m.headers[":content-type"] == "application/json" for m in messages)


def test_exception_message_headers() -> None:
    (message,) = decode(eventstream.exception("throttlingException", "slow down"))
    assert message.headers[":message-type"] == "exception"
    assert message.headers[":exception-type"] == "throttlingException"
    assert json.loads(message.payload) == {"message": "slow down"}
    assert message.to_response_dict()["status_code"] == 400


def test_empty_payload() -> None:
    (message,) = decode(eventstream.encode_message({":event-type": "x"}))
    assert message.payload == b""


def test_corrupt_message_is_rejected_by_botocore() -> None:
    with pytest.raises(ChecksumMismatch):
        decode(eventstream.corrupt(eventstream.event("messageStop", {"stopReason": "end_turn"})))


def test_payload_crc_is_checked_too() -> None:
    data = bytearray(eventstream.event("messageStop", {"stopReason": "end_turn"}))
    data[-6] ^= 0x01  # a payload byte: only the message CRC can notice
    with pytest.raises(ChecksumMismatch):
        decode(bytes(data))
