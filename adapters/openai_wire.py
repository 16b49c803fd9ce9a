"""OpenAI streams decoded from the wire: the SDK sends the request (auth, URL, headers, timeout, its
client and pool) and raises HTTP errors before the stream, exactly as ``create(stream=True)`` does;
the body's SSE frames are then decoded here (``sse.WireStream``) and handed to the adapter's own
stream translation as attribute views over the JSON, instead of one pydantic model built per chunk
(``construct_type``, most of the SDK's per-chunk cost).

What the SDK's ``AsyncStream`` does that the translation relies on is kept: ``[DONE]`` ends the
stream, a ``data: {"error": ...}`` frame raises ``openai.APIError`` with that body, a frame that is
not a JSON object raises ``json.JSONDecodeError``, read timeouts and transport failures raise
``APITimeoutError`` / ``APIConnectionError``.
"""

from __future__ import annotations

import ssl
from typing import Any

import anyio
import httpx2
import openai

from .sse import DONE, WireStream, json_object, open_wire_stream

_TRANSPORT_ERRORS = (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream)


def _frame(event: str | None, data: bytes, response: httpx2.Response) -> Any:
    if data.startswith(b"[DONE]"):
        return DONE
    value = json_object(data)
    error = value.get("error")
    if error and not (event and event.startswith("thread.")):
        message = error.get("message") if isinstance(error, dict) else None
        raise openai.APIError(message if isinstance(message, str) and message else
                              "An error occurred during streaming", response.request, body=error)
    return value


def _transport(exc: Exception, request: httpx2.Request) -> Exception | None:
    if isinstance(exc, httpx2.TimeoutException):
        return openai.APITimeoutError(request=request)
    if isinstance(exc, _TRANSPORT_ERRORS):
        return openai.APIConnectionError(request=request)
    return None


async def open_stream(resource: Any, params: dict[str, Any]) -> WireStream:
    """``resource.create(**params, stream=True)`` (chat completions or responses), decoded here."""
    return await open_wire_stream(resource, params, _frame, _transport)
