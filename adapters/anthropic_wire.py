"""Anthropic streams decoded from the wire, for clients that speak plain SSE (``AsyncAnthropic``;
Claude on Bedrock frames its stream as AWS event-stream messages and keeps the SDK path): the SDK
sends the request and raises HTTP errors before the stream, exactly as ``create(stream=True)``
does; the body's SSE events are decoded here (``sse.WireStream``) and handed to the adapter's own
translation as attribute views over the JSON instead of one pydantic model per event.

What the SDK's ``AsyncStream`` does is kept: ``ping`` and unnamed events are skipped, an ``error``
event raises the client's own status error (HTTP status 200, the body's error type), an event
without data is skipped, a frame that is not a JSON object raises ``json.JSONDecodeError``, and
transport failures escape as the transport's own exceptions.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2

from .sse import FramePolicy, WireStream, json_object, open_wire_stream


def speaks_sse(client: Any) -> bool:
    """Whether ``client``'s streams are plain SSE this module can decode."""
    return type(client) is anthropic.AsyncAnthropic


def _policy(client: Any) -> FramePolicy:
    def frame(event: str | None, data: bytes, response: httpx2.Response) -> Any:
        if event is None or event == "ping":
            return None
        if event == "error":
            text = data.decode("utf-8", "replace")
            body: object
            try:
                body = json.loads(data)
                message = f"{body}"
            except ValueError:
                body, message = text, text or f"Error code: {response.status_code}"
            raise client._make_status_error(message, body=body, response=response)
        if not data:
            return None
        return json_object(data)
    return frame


def _transport(exc: Exception, request: httpx2.Request) -> Exception | None:
    return None  # the SDK lets transport errors escape unwrapped while a stream is read


async def open_stream(client: Any, params: dict[str, Any]) -> WireStream:
    """``client.messages.create(**params, stream=True)``, decoded here."""
    return await open_wire_stream(client.messages, params, _policy(client), _transport)
