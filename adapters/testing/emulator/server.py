"""The emulator's ASGI app and engine: route -> parse -> journal -> pick a step -> answer or fail.

The app is plain ASGI (no framework) because faults need the raw connection: ``reset`` and
``cut`` abort the TCP transport, which uvicorn does not expose; a small H11 protocol subclass
(``protocol_class``) registers each connection's transport by peer address for that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.routing import compile_path

from .control import PREFIX as CONTROL_PREFIX
from .control import Control
from .journal import Journal, JournalEntry, key_fingerprint, redact_headers, redact_query
from .script import Fault, Reply, Step
from .scripts import ScriptStore, default_reply, resolve_usage
from .wire import Call, Route, WireError, WireProtocol, WireResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Peer = tuple[str, int]

_TAG_PREFIX = re.compile(r"^/x/([^/]+)(/.*)$")


@dataclass(frozen=True, slots=True)
class _CompiledRoute:
    protocol: WireProtocol
    route: Route
    pattern: re.Pattern[str]


class ConnectionRegistry:
    """Open TCP transports by peer address (server loop only), and journal notice when one closes."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._transports: dict[Peer, asyncio.Transport] = {}

    def opened(self, peer: Peer, transport: asyncio.Transport) -> None:
        self._transports[peer] = transport

    def lost(self, peer: Peer) -> None:
        self._transports.pop(peer, None)
        self._journal.connection_lost(peer)

    def get(self, peer: Peer | None) -> asyncio.Transport | None:
        return self._transports.get(peer) if peer is not None else None


def protocol_class(registry: ConnectionRegistry) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, reporting each connection's transport to ``registry``."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class EmulatorH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if self.client is not None:
                registry.opened(self.client, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            if self.client is not None:
                registry.lost(self.client)

    return EmulatorH11Protocol


class _Watch:
    """Watches ``receive()`` for the client going away while a response is under way."""

    def __init__(self, receive: Receive) -> None:
        self.over = asyncio.Event()
        self.reason = ""
        self._receive = receive
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.end("disconnected")
                return

    def end(self, reason: str) -> None:
        if not self.over.is_set():
            self.reason = reason
            self.over.set()

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` (at least one loop turn); True when the request is over meanwhile."""
        if seconds <= 0:
            await asyncio.sleep(0)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.over.wait(), seconds)
        return self.over.is_set()

    async def stop(self) -> None:
        """Stop watching: uvicorn reports a disconnect as soon as the response is complete."""
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class EmulatorApp:
    """The ASGI application. Runs on the emulator's server loop."""

    def __init__(self, protocols: Sequence[WireProtocol], store: ScriptStore, journal: Journal) -> None:
        self.store = store
        self.journal = journal
        self.control = Control(store, journal)
        self.registry = ConnectionRegistry(journal)
        self._routes = [
            _CompiledRoute(protocol, route, compile_path(route.path)[0])
            for protocol in protocols for route in protocol.routes()
        ]
        self._active: set[_Watch] = set()
        self._halted = False

    def resume(self) -> None:
        """Serve again after a ``halt`` (the emulator was restarted)."""
        self._halted = False

    def halt(self) -> None:
        """End every hanging or streaming request (server shutdown). Call on the server loop."""
        self._halted = True
        for watch in list(self._active):
            watch.end("stopped")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self._control(scope, receive, send, path)
            return
        tag: str | None = None
        if (tagged := _TAG_PREFIX.match(path)) is not None:
            tag, path = tagged.group(1), tagged.group(2)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        body = await _read_body(receive)
        if body is None:
            return  # the client left before sending its whole request
        method: str = scope["method"]
        peer: Peer | None = tuple(scope["client"]) if scope.get("client") else None
        journal_fields: dict[str, Any] = {
            "method": method, "path": path, "tag": tag, "client": peer,
            "query": redact_query(query), "headers": redact_headers(headers),
            "key": key_fingerprint(headers, query),
        }

        found = self._match(method, path)
        if found is None:
            entry = self.journal.open(vendor="", endpoint="", body=_loads(body), **journal_fields)
            message = f"The llmport emulator has no endpoint for {method} {path}"
            self.journal.finish(entry, "error", 404)
            await _respond(send, WireResponse(404, json.dumps({"error": {"message": message}}).encode()))
            return
        compiled, params = found
        protocol = compiled.protocol
        try:
            call = protocol.parse(compiled.route, params, query, headers, body)
        except WireError as exc:
            parsed = _loads(body)
            model = params.get("model") or params.get("modelId") or (
                str(parsed.get("model", "")) if isinstance(parsed, dict) else "")
            call = Call(protocol.vendor, compiled.route.endpoint, model, False, parsed, path, query, headers)
            entry = self.journal.open(vendor=call.vendor, endpoint=call.endpoint, model=model, body=parsed,
                                      **journal_fields)
            response = protocol.error(call, Fault.http(exc.status, None, str(exc)))
            self.journal.finish(entry, "invalid", response.status)
            await _respond(send, response)
            return

        entry = self.journal.open(vendor=call.vendor, endpoint=call.endpoint, model=call.model,
                                  stream=call.stream, body=call.body, **journal_fields)
        step = self.store.pick(call.vendor, call.model, tag, call.endpoint, journal_fields["key"])
        self.journal.update(entry, step=step)
        watch = _Watch(receive)
        self._active.add(watch)
        if self._halted:
            watch.end("stopped")
        try:
            await _Exchange(self, protocol, call, entry, watch, send, peer).run(step)
        except asyncio.CancelledError:
            self.journal.finish(entry, "cancelled")
            raise
        except BaseException:  # a wire protocol bug: uvicorn logs it and answers 500
            self.journal.finish(entry, "emulator_error", 500)
            raise
        finally:
            self._active.discard(watch)
            await watch.stop()

    async def _control(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        body = await _read_body(receive)
        if body is None:
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        status, value = await self.control.handle(scope["method"], path, query, body)
        await _respond(send, WireResponse(status, json.dumps(value).encode()))

    def _match(self, method: str, path: str) -> tuple[_CompiledRoute, dict[str, str]] | None:
        for compiled in self._routes:
            if compiled.route.method.upper() == method.upper():
                match = compiled.pattern.match(path)
                if match is not None:
                    return compiled, match.groupdict()
        return None


class _Exchange:
    """Answers one parsed call with its step."""

    def __init__(self, app: EmulatorApp, protocol: WireProtocol, call: Call, entry: JournalEntry,
                 watch: _Watch, send: Send, peer: Peer | None) -> None:
        self.app, self.protocol, self.call, self.entry = app, protocol, call, entry
        self.journal = app.journal
        self.watch, self.send, self.peer = watch, send, peer
        self._prompt: str | None = None

    @property
    def prompt(self) -> str:
        if self._prompt is None:
            self._prompt = self.protocol.prompt_text(self.call)
        return self._prompt

    def answer(self, reply: Reply | None) -> Reply:
        if reply is None:
            shaped = getattr(self.protocol, "structured_reply", None)
            reply = shaped(self.call) if callable(shaped) else None
        return resolve_usage(reply or default_reply(self.call.model, self.prompt), self.prompt)

    async def run(self, step: Step | None) -> None:
        latency = step.latency if step is not None else 0.0
        if latency > 0 and await self.watch.pause(latency):
            return await self.gone()
        if step is None or isinstance(step, Reply):
            reply = self.answer(step)
            if self.call.stream:
                await self.stream(self.protocol.stream_frames(self.call, reply))
            else:
                await self.respond(self.protocol.reply(self.call, reply), "complete")
            return None
        return await self.fail(step)

    async def fail(self, fault: Fault) -> None:
        call, protocol = self.call, self.protocol
        if fault.kind == "http":
            return await self.respond(protocol.error(call, fault), "error")
        if fault.kind == "raw":
            return await self.respond(WireResponse(fault.status, fault.body, dict(fault.headers), fault.media_type),
                                      "raw")
        if fault.kind == "hang":
            await self.watch.over.wait()
            return await self.gone()
        if fault.kind == "reset":
            return await self.drop("reset", rst=True)
        partial = self.answer(fault.reply)
        if not call.stream:
            return await self.fail_plain(fault, partial)
        frames = protocol.stream_frames(call, partial)
        head = frames[: max(0, min(fault.after_chunks, len(frames) - 1))]
        if fault.kind == "cut":
            if await self.stream(head, complete=False):
                await self.drop("cut", rst=False)
            return None
        if fault.kind == "malformed":
            tail = protocol.malformed_frame(call)
        elif fault.kind == "stream_error":
            tail = protocol.stream_error_frame(call, fault)
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        await self.stream([*head, tail], ended=fault.kind)
        return None

    async def fail_plain(self, fault: Fault, partial: Reply) -> None:
        """Stream-shaped faults on a non-streaming call."""
        if fault.kind == "cut":
            full = self.protocol.reply(self.call, partial)
            await self.send({"type": "http.response.start", "status": full.status,
                             "headers": _headers(full, len(full.body))})
            await self.send({"type": "http.response.body", "body": full.body[: len(full.body) // 2],
                             "more_body": True})
            self.journal.update(self.entry, status=full.status)
            return await self.drop("cut", rst=False)
        if fault.kind == "malformed":
            return await self.respond(WireResponse(200, b'{"id": "broken", "choices": [{'), "malformed")
        status = fault.status if fault.status >= 400 else 500
        error = Fault.http(status, fault.error_type, fault.message)
        return await self.respond(self.protocol.error(self.call, error), "error")

    async def respond(self, response: WireResponse, ended: str) -> None:
        await self.watch.stop()
        # journaled first: once the client holds the whole response, its entry is final
        self.journal.finish(self.entry, ended, response.status)
        await _respond(self.send, response)

    async def stream(self, frames: Sequence[bytes], *, complete: bool = True, ended: str = "complete") -> bool:
        """Send ``frames`` as a 200 stream, ``chunk_delay`` apart; returns False when the client left.
        With ``complete=False`` the body is left open (the caller drops the connection)."""
        delay = self.entry.step.chunk_delay if isinstance(self.entry.step, Reply) else 0.0
        if isinstance(self.entry.step, Fault) and self.entry.step.reply is not None:
            delay = self.entry.step.reply.chunk_delay
        headers: dict[str, str] = {"content-type": self.protocol.stream_media_type, "cache-control": "no-cache"}
        extra = getattr(self.protocol, "stream_headers", None)
        if callable(extra):
            headers.update(extra(self.call))
        await self.send({"type": "http.response.start", "status": 200,
                         "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]})
        self.journal.update(self.entry, status=200)
        for index, frame in enumerate(frames):
            if index and await self.watch.pause(delay):
                await self.gone()
                return False
            if self.watch.over.is_set():
                await self.gone()
                return False
            await self.send({"type": "http.response.body", "body": frame, "more_body": True})
            self.journal.update(self.entry, frames_sent=self.entry.frames_sent + 1)
        if await self.watch.pause(0):
            await self.gone()
            return False
        if complete:
            await self.watch.stop()
            self.journal.finish(self.entry, ended)
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
        return True

    async def gone(self) -> None:
        """The request ended early: the client left, or the server is stopping."""
        if self.watch.reason == "disconnected":
            self.journal.disconnected(self.entry)
        else:
            await self.drop("stopped", rst=False)

    async def drop(self, ended: str, *, rst: bool) -> None:
        """Close the TCP connection without finishing the response; ``rst``: send a RST, not a FIN."""
        self.journal.finish(self.entry, ended)
        transport = self.app.registry.get(self.peer)
        if transport is None or transport.is_closing():
            return
        if rst:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            for _ in range(200):  # let what was sent reach the client before the connection goes
                if not transport.get_write_buffer_size():
                    break
                await asyncio.sleep(0.005)
        self.watch.end(ended)
        transport.abort()
        await asyncio.sleep(0)  # uvicorn's connection_lost runs now, so it logs no "incomplete response"


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _loads(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _headers(response: WireResponse, length: int) -> list[tuple[bytes, bytes]]:
    given: Mapping[str, str] = {k.lower(): v for k, v in response.headers.items()}
    out = [(b"content-type", given.get("content-type", response.media_type).encode("latin-1")),
           (b"content-length", str(length).encode())]
    out.extend((k.encode("latin-1"), str(v).encode("latin-1")) for k, v in given.items()
               if k not in ("content-type", "content-length"))
    return out


async def _respond(send: Send, response: WireResponse) -> None:
    await send({"type": "http.response.start", "status": response.status,
                "headers": _headers(response, len(response.body))})
    await send({"type": "http.response.body", "body": response.body, "more_body": False})
