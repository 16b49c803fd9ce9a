"""Recorded vendor streams, replayed in-process under the real SDKs.

:func:`record` captures each family's 200-chunk stream body once from the emulator (the only time a
server runs); :func:`replaying` then swaps the lowest transport layer of this process — httpx2's
``AsyncHTTPTransport.handle_async_request`` for openai, anthropic and google-genai, botocore's
``Endpoint._send`` for boto3 — for one that answers every request with the recorded body, one wire
frame per read, as a socket would deliver it. Everything above (the SDK's client, request building,
auth, response parsing, stream decoding; llmport's adapters and policy) runs for real, and no
network or other process is involved, so CPU time per chunk is what the client costs.
"""

from __future__ import annotations

import contextlib
import re
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
from botocore import endpoint as botocore_endpoint
from botocore.awsrequest import AWSResponse

# Which recorded body answers a request, by URL path.
_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/chat/completions$"), "openai-chat"),
    (re.compile(r"/responses$"), "openai-responses"),
    (re.compile(r"/messages$"), "anthropic"),
    (re.compile(r":streamGenerateContent$"), "google"),
    (re.compile(r"/converse-stream$"), "bedrock"),
)


@dataclass(frozen=True, slots=True)
class Recording:
    """One stream's response: status, headers and the body split into wire frames."""

    status: int
    headers: tuple[tuple[str, str], ...]
    frames: tuple[bytes, ...]


@dataclass
class Tape:
    """Every family's recording, by route name."""

    recordings: dict[str, Recording] = field(default_factory=dict)

    def lookup(self, path: str) -> Recording:
        for pattern, name in _ROUTES:
            if pattern.search(path):
                return self.recordings[name]
        raise LookupError(f"no recording answers {path}")


def sse_frames(body: bytes) -> tuple[bytes, ...]:
    """An SSE body split after each blank line (one event per frame)."""
    parts = re.split(rb"(?<=\n\n)|(?<=\r\n\r\n)", body)
    return tuple(p for p in parts if p)


def eventstream_frames(body: bytes) -> tuple[bytes, ...]:
    """An AWS event-stream body split into its messages (each prefixed by its total length)."""
    frames, i = [], 0
    while i < len(body):
        (total,) = struct.unpack_from(">I", body, i)
        frames.append(body[i:i + total])
        i += total
    return tuple(frames)


_DROP = frozenset({"content-length", "transfer-encoding", "connection", "date", "keep-alive"})


def _keep(headers: Any) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in headers.items() if k.lower() not in _DROP)


class _Frames(httpx2.AsyncByteStream):
    def __init__(self, frames: tuple[bytes, ...]) -> None:
        self._frames = frames

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for frame in self._frames:
            yield frame

    async def aclose(self) -> None:
        return None


class _RawBody:
    """What botocore reads a streaming body from (a urllib3 response's surface it uses)."""

    def __init__(self, frames: tuple[bytes, ...]) -> None:
        self._frames = frames

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield from self._frames

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return b"".join(self._frames)

    def close(self) -> None:
        return None

    def release_conn(self) -> None:
        return None


#: The base URL benchmarks give the stacks whose requests a tape answers (never resolved).
REPLAY_URL = "http://replay.invalid"


@contextlib.contextmanager
def _transports(handle: Any, send: Any) -> Iterator[None]:
    """Within: httpx2's transport and botocore's endpoint send through ``handle`` and ``send``."""
    original_httpx = httpx2.AsyncHTTPTransport.handle_async_request
    original_boto = botocore_endpoint.Endpoint._send
    httpx2.AsyncHTTPTransport.handle_async_request = handle  # type: ignore[method-assign]
    botocore_endpoint.Endpoint._send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        httpx2.AsyncHTTPTransport.handle_async_request = original_httpx  # type: ignore[method-assign]
        botocore_endpoint.Endpoint._send = original_boto  # type: ignore[method-assign]


@contextlib.contextmanager
def replaying(tape: Tape) -> Iterator[None]:
    """Within: every httpx2 and botocore request of this process is answered from ``tape``."""

    async def handle(self: Any, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        rec = tape.lookup(request.url.path)
        return httpx2.Response(rec.status, headers=list(rec.headers), stream=_Frames(rec.frames), request=request)

    def send(self: Any, request: Any) -> AWSResponse:
        request.body  # noqa: B018 - built as for the wire
        rec = tape.lookup(request.url.split("?")[0])
        return AWSResponse(request.url, rec.status, dict(rec.headers), _RawBody(rec.frames))

    with _transports(handle, send):
        yield


@contextlib.contextmanager
def recording(tape: Tape) -> Iterator[None]:
    """Within: real requests go out, and each stream route's response is kept on ``tape``."""
    original_httpx = httpx2.AsyncHTTPTransport.handle_async_request
    original_boto = botocore_endpoint.Endpoint._send

    async def handle(self: Any, request: httpx2.Request) -> httpx2.Response:
        response = await original_httpx(self, request)
        body = await response.aread()
        for pattern, name in _ROUTES:
            if pattern.search(request.url.path):
                tape.recordings[name] = Recording(response.status_code, _keep(response.headers), sse_frames(body))
        return httpx2.Response(response.status_code, headers=response.headers, content=body, request=request)

    def send(self: Any, request: Any) -> AWSResponse:
        response = original_boto(self, request)
        path = request.url.split("?")[0]
        if path.endswith("/converse-stream"):
            body = b"".join(response.raw.stream())
            rec = Recording(response.status_code, _keep(response.headers), eventstream_frames(body))
            tape.recordings["bedrock"] = rec
            return AWSResponse(request.url, rec.status, dict(response.headers), _RawBody(rec.frames))
        return response

    with _transports(handle, send):
        yield
