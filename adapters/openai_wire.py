"""OpenAI streams decoded from the wire: the SDK sends the request (auth, URL, headers, timeout, its
client and pool) and raises HTTP errors before the stream, exactly as ``create(stream=True)`` does;
the body's SSE frames are then read here and handed to the adapter's own stream translation as
lightweight attribute views over the decoded JSON, instead of one pydantic model built per chunk
(``construct_type``, most of the SDK's per-chunk cost).

What the SDK's ``AsyncStream`` does that the translation relies on is kept: ``[DONE]`` ends the
stream (the rest of an HTTP/1.1 body is drained so the connection returns to the pool), a
``data: {"error": ...}`` frame raises ``openai.APIError`` with that body, a frame that is not JSON
raises ``json.JSONDecodeError``, read timeouts and transport failures raise ``APITimeoutError`` /
``APIConnectionError``, and closing closes the HTTP response.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import openai

from .sse import SSEDecoder

_TRANSPORT_ERRORS = (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream)


class Frame:
    """Attribute access over one decoded JSON object, the way the adapter reads SDK models: a
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


class WireStream:
    """An opened stream: async-iterate it for :class:`Frame` views; ``close()`` closes the response."""

    __slots__ = ("_manager", "_response")

    def __init__(self, manager: Any, response: Any) -> None:
        self._manager = manager
        self._response = response

    def __aiter__(self) -> AsyncIterator[Frame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[Frame]:
        http = self._response.http_response
        decoder = SSEDecoder()
        chunks = http.aiter_bytes()
        try:
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    return
                for event, data in decoder.feed(chunk):
                    if data.startswith(b"[DONE]"):
                        if http.http_version == "HTTP/1.1":
                            async for _ in chunks:  # drained: the connection goes back to the pool
                                pass
                        return
                    yield Frame(_decode(data, event, http.request))
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=http.request) from exc
        except _TRANSPORT_ERRORS as exc:
            raise openai.APIConnectionError(request=http.request) from exc

    async def close(self) -> None:
        await self._manager.__aexit__(None, None, None)


def _decode(data: bytes, event: str | None, request: httpx2.Request) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("the frame is not UTF-8", data.decode("utf-8", "replace"), exc.start) from None
    if type(value) is not dict:
        raise json.JSONDecodeError("the frame is not a JSON object", data.decode("utf-8", "replace"), 0)
    error = value.get("error")
    if error and not (event and event.startswith("thread.")):
        message = error.get("message") if isinstance(error, dict) else None
        raise openai.APIError(message if isinstance(message, str) and message else
                              "An error occurred during streaming", request, body=error)
    return value


async def open_stream(resource: Any, params: dict[str, Any]) -> WireStream:
    """Send ``resource.create(**params, stream=True)`` through the SDK's raw-response access and
    return the body as a :class:`WireStream` (HTTP errors raise here, as from ``create``)."""
    manager = resource.with_streaming_response.create(**params, stream=True)
    response = await manager.__aenter__()
    return WireStream(manager, response)
