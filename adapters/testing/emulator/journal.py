"""The emulator's journal: one entry per HTTP request, secrets removed, safe to read from any thread."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmport.ports.keyring import fingerprint

from .script import Fault, Reply

REDACTED = "[REDACTED]"

_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "x-amz-security-token"}
)
_SECRET_QUERY = frozenset({"key", "api_key", "api-key", "x-amz-signature", "x-amz-security-token"})
# Any other header or query parameter whose name says it carries a credential (a gateway's
# ``x-gateway-token``, ``x-api-secret``, ``cookie``, ...).
_SECRET_NAME = re.compile(r"auth|key|token|secret|signature|cookie|password|credential", re.IGNORECASE)
_SIGV4 = re.compile(r"^AWS4-HMAC-SHA256\s", re.IGNORECASE)
_SIGV4_SIGNATURE = re.compile(r"(Signature=)[0-9A-Fa-f]+")
_SIGV4_KEY_ID = re.compile(r"(Credential=)[^/,\s]+")


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Copy of ``headers`` (lower-case names) with credential values replaced by ``[REDACTED]``.
    An AWS SigV4 ``Authorization`` keeps its scope and signed headers; only the key id and the
    signature go."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name == "authorization" and _SIGV4.match(value):
            value = _SIGV4_SIGNATURE.sub(rf"\g<1>{REDACTED}", value)
            out[name] = _SIGV4_KEY_ID.sub(rf"\g<1>{REDACTED}", value)
        elif name in _SECRET_HEADERS or _SECRET_NAME.search(name):
            out[name] = REDACTED
        else:
            out[name] = value
    return out


def key_fingerprint(headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """The fingerprint of the API key a request carries (bearer token, ``x-api-key``, ``api-key``,
    ``x-goog-api-key`` or ``?key=``); "" when it carries none. Lets tests tell keys apart."""
    value = headers.get("x-api-key") or headers.get("api-key") or headers.get("x-goog-api-key") or query.get("key")
    auth = headers.get("authorization", "")
    if not value and auth.lower().startswith("bearer "):
        value = auth[7:].strip()
    return fingerprint(value) if value else ""


def redact_query(query: Mapping[str, str]) -> dict[str, str]:
    """Copy of ``query`` with API keys (Gemini's ``?key=``) and presigned-URL secrets removed."""
    return {k: (REDACTED if k.lower() in _SECRET_QUERY or _SECRET_NAME.search(k) else v) for k, v in query.items()}


@dataclass(slots=True, eq=False)
class JournalEntry:
    """One request as the emulator saw it. The server thread updates it while the request runs
    (``finished``, ``status``, ``frames_sent``, ``ended``, ...); read it after ``wait_for``."""

    seq: int
    vendor: str  # "openai", "anthropic", "google", "bedrock"; "" when no route matched
    endpoint: str  # route name ("chat", "messages", ...); "" when no route matched
    method: str
    path: str  # without the /x/{tag} prefix
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names, secrets removed
    arrived: float  # time.monotonic()
    tag: str | None = None
    key: str = ""  # the API key's fingerprint (``ports.keyring.fingerprint``); never the key
    body: Any = None  # parsed JSON body (raw text when it is not JSON)
    model: str = ""
    stream: bool = False
    step: Reply | Fault | None = None  # what answered (None until picked, or for unrouted/invalid calls)
    status: int | None = None
    frames_sent: int = 0
    ended: str | None = None  # "complete", "error", "disconnected", "reset", "cut", "malformed", ...
    client_disconnected: bool = False
    connection_closed: bool = False  # the TCP connection carrying this request is gone
    finished: float | None = None
    client: tuple[str, int] | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.ended is not None

    @property
    def fault(self) -> Fault | None:
        return self.step if isinstance(self.step, Fault) else None


class Journal:
    """Every request the emulator received, oldest first. Thread-safe."""

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError("a journal limit is at least 1")
        self.limit = limit  # keep the newest ``limit`` entries: bounded in long runs
        self._entries: list[JournalEntry] = []
        self._cond = threading.Condition()
        self._seq = 0

    # --- written by the server thread -------------------------------------------------------
    def open(self, **fields: Any) -> JournalEntry:
        with self._cond:
            self._seq += 1
            entry = JournalEntry(seq=self._seq, arrived=time.monotonic(), **fields)
            self._entries.append(entry)
            if self.limit is not None and len(self._entries) > self.limit:
                del self._entries[0]
            self._cond.notify_all()
            return entry

    def update(self, entry: JournalEntry, **fields: Any) -> None:
        with self._cond:
            for name, value in fields.items():
                setattr(entry, name, value)
            self._cond.notify_all()

    def finish(self, entry: JournalEntry, ended: str, status: int | None = None) -> None:
        with self._cond:
            if entry.ended is None:
                entry.ended = ended
                entry.finished = time.monotonic()
            if status is not None and entry.status is None:
                entry.status = status
            self._cond.notify_all()

    def disconnected(self, entry: JournalEntry) -> None:
        with self._cond:
            entry.client_disconnected = True
            if entry.ended is None:
                entry.ended = "disconnected"
                entry.finished = time.monotonic()
            self._cond.notify_all()

    def connection_lost(self, client: tuple[str, int]) -> None:
        with self._cond:
            for entry in reversed(self._entries):
                if entry.client == client and not entry.connection_closed:
                    entry.connection_closed = True
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._entries.clear()
            self._cond.notify_all()

    # --- read by tests ----------------------------------------------------------------------
    def entries(self, vendor: str | None = None, model: str | None = None, tag: str | None = None,
                endpoint: str | None = None, key: str | None = None) -> list[JournalEntry]:
        """A snapshot of the matching entries (None matches anything)."""
        with self._cond:
            return [
                e for e in self._entries
                if (vendor is None or e.vendor == vendor) and (model is None or e.model == model)
                and (tag is None or e.tag == tag) and (endpoint is None or e.endpoint == endpoint)
                and (key is None or e.key == key)
            ]

    def __len__(self) -> int:
        with self._cond:
            return len(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self.entries())

    def __getitem__(self, index: int) -> JournalEntry:
        with self._cond:
            return self._entries[index]

    @property
    def last(self) -> JournalEntry:
        with self._cond:
            if not self._entries:
                raise LookupError("the journal is empty")
            return self._entries[-1]

    def wait_for(self, predicate: Callable[[Journal], bool], timeout: float = 2.0) -> None:
        """Block until ``predicate(journal)`` is true; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"journal condition not met within {timeout}s ({len(self._entries)} entries)")
                self._cond.wait(remaining)

    async def await_for(self, predicate: Callable[[Journal], bool], timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """``wait_for`` for async tests: polls without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                if predicate(self):
                    return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"journal condition not met within {timeout}s ({len(self)} entries)")
            await asyncio.sleep(0.005)

    def wait_count(self, n: int, timeout: float = 2.0, **match: str) -> list[JournalEntry]:
        """Wait until at least ``n`` entries match (``vendor=``, ``model=``, ...) and are finished."""
        def ready(j: Journal) -> bool:
            found = j.entries(**match)
            return len(found) >= n and all(e.done for e in found[:n])
        self.wait_for(ready, timeout)
        return self.entries(**match)

    def wait_done(self, entry: JournalEntry, timeout: float = 2.0) -> JournalEntry:
        """Wait until the request behind ``entry`` has ended (answered, failed, or client gone)."""
        self.wait_for(lambda _: entry.done, timeout)
        return entry

    def wait_disconnected(self, entry: JournalEntry, timeout: float = 2.0) -> JournalEntry:
        """Wait until the client of ``entry`` went away before the response was complete."""
        self.wait_for(lambda _: entry.client_disconnected, timeout)
        return entry

    def wait_closed(self, entry: JournalEntry, timeout: float = 2.0) -> JournalEntry:
        """Wait until the TCP connection that carried ``entry`` is closed: proves that a cancelled
        stream released its connection instead of leaving it to the garbage collector."""
        self.wait_for(lambda _: entry.connection_closed, timeout)
        return entry

    async def await_closed(self, entry: JournalEntry, timeout: float = 2.0) -> JournalEntry:  # noqa: ASYNC109
        await self.await_for(lambda _: entry.connection_closed, timeout)
        return entry

    async def await_disconnected(self, entry: JournalEntry,
                                 timeout: float = 2.0) -> JournalEntry:  # noqa: ASYNC109
        await self.await_for(lambda _: entry.client_disconnected, timeout)
        return entry
