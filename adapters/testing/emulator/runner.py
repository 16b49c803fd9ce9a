"""``VendorEmulator``: the emulator's uvicorn server on loopback, in its own thread and event loop,
so synchronous (boto3) and asynchronous SDKs alike can talk to it from tests."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from .journal import Journal
from .script import FaultRate, Step
from .scripts import ScriptStore, Selector
from .server import EmulatorApp, protocol_class
from .wire import WireProtocol

WIRE_MODULES = ("openai_wire", "anthropic_wire", "google_wire", "bedrock_wire", "anthropic_bedrock_wire")
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def default_protocols() -> list[WireProtocol]:
    """The ``PROTOCOL`` of every vendor wire module that exists (a missing module is skipped)."""
    found: list[WireProtocol] = []
    for name in WIRE_MODULES:
        qualified = f"{__package__}.{name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name == qualified:
                continue
            raise
        found.append(module.PROTOCOL)
    return found


class VendorEmulator:
    """Emulated vendor APIs over real HTTP on loopback, scripted per vendor/model/provider tag.

    ``with VendorEmulator() as emu:`` (or ``async with``) starts it on a free port; ``emu.url`` is its
    base URL; ``emu.url_for(tag)`` a base URL whose calls are tagged (several "providers" on one
    emulator); ``emu.script(...)`` / ``emu.fail_rate(...)`` decide the answers; ``emu.journal``
    records every request."""

    def __init__(self, protocols: Sequence[WireProtocol] | None = None, host: str = "127.0.0.1",
                 port: int = 0, journal_limit: int | None = 10_000) -> None:
        self.protocols: tuple[WireProtocol, ...] = tuple(
            default_protocols() if protocols is None else protocols)
        self.host = host
        self._requested_port = port
        self.journal = Journal(limit=journal_limit)
        self._store = ScriptStore()
        self._app = EmulatorApp(self.protocols, self._store, self.journal)
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url_for(self, tag: str) -> str:
        """Base URL whose requests are journaled and scripted under provider tag ``tag``."""
        if not tag or "/" in tag:
            raise ValueError(f"a provider tag is a non-empty path segment, got {tag!r}")
        return f"{self.url}/x/{tag}"

    def start(self) -> VendorEmulator:
        import uvicorn

        with self._lock:
            if self.running:
                return self
            # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
            # listener says TCP; without it every response waits ~40 ms for a delayed ACK (Nagle).
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((self.host, self._requested_port))
                sock.listen(128)
            except OSError:
                sock.close()
                raise
            self._port = sock.getsockname()[1]
            config = uvicorn.Config(
                self._app, http=protocol_class(self._app.registry), interface="asgi3", ws="none",
                lifespan="off", log_config=None, log_level="warning", access_log=False,
                timeout_graceful_shutdown=2, server_header=False,
            )
            ready = threading.Event()
            failure: list[BaseException] = []

            class _Server(uvicorn.Server):
                async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                    await super().startup(sockets)
                    ready.set()

            server = _Server(config)

            def run() -> None:
                try:
                    with asyncio.Runner() as runner:
                        self._loop = runner.get_loop()
                        runner.run(server.serve(sockets=[sock]))
                except BaseException as exc:  # surfaced by start(), never lost in the thread
                    failure.append(exc)
                finally:
                    sock.close()
                    ready.set()

            self._app.resume()
            thread = threading.Thread(target=run, name=f"llmport-emulator-{self._port}", daemon=True)
            thread.start()
            if not ready.wait(_START_TIMEOUT) or failure or not server.started:
                server.should_exit = True
                thread.join(_STOP_TIMEOUT)
                raise RuntimeError("the llmport emulator failed to start") from (failure[0] if failure else None)
            self._server, self._thread = server, thread
            return self

    def stop(self) -> None:
        """Stop serving: hanging and streaming requests end, connections close, the thread exits."""
        with self._lock:
            thread, server, loop = self._thread, self._server, self._loop
            if thread is None or server is None:
                return
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self._app.halt)
            server.should_exit = True
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive():
                server.force_exit = True
                thread.join(_STOP_TIMEOUT)
            self._thread = self._server = self._loop = None

    def __enter__(self) -> VendorEmulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> VendorEmulator:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)

    # --- scripting -------------------------------------------------------------------------
    def script(self, *steps: Step, vendor: str | None = None, model: str | None = None, tag: str | None = None,
               endpoint: str | None = None, then: Step | None = None, key: str | None = None) -> None:
        """Queue ``steps`` (Reply or Fault) for the matching calls, consumed one per call in order;
        afterwards ``then`` answers every call (else the default answer). The most specific
        matching script wins (key, then tag, model, endpoint, vendor); None matches anything.
        ``key`` is an API key fingerprint (``llmport.ports.keyring.fingerprint``)."""
        self._app.control.script(steps, Selector(vendor, model, tag, endpoint, key), then)

    def fail_rate(self, rate: FaultRate, *, vendor: str | None = None, model: str | None = None,
                  tag: str | None = None, endpoint: str | None = None, key: str | None = None) -> None:
        """Fail a seeded-random fraction of the matching calls with ``rate.fault`` (checked before
        the scripts; a call that does not fail is answered as scripted)."""
        self._app.control.fail_rate(rate, Selector(vendor, model, tag, endpoint, key))

    def pending(self, *, vendor: str | None = None, model: str | None = None, tag: str | None = None,
                endpoint: str | None = None, key: str | None = None) -> int:
        """Queued steps not consumed yet for exactly this selector (``pending()``: all selectors)."""
        return self._app.control.pending(Selector(vendor, model, tag, endpoint, key))

    def reset(self) -> None:
        """Forget every script, fault rate and journal entry."""
        self._app.control.reset()

    def __repr__(self) -> str:
        where = self.url if self._port is not None and self.running else "stopped"
        vendors = ",".join(p.vendor for p in self.protocols)
        return f"VendorEmulator({where}, vendors={vendors})"
