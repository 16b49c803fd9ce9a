"""``MemoryResponseCache``: the in-process response cache, bounded by entries and bytes, LRU, TTL.

A ``LocalResponseCache``: the response cache step calls only its synchronous ``get_now``/``put_now``
(a subclass that changes what is read or kept overrides those two)."""

from __future__ import annotations

import json
from collections import OrderedDict

from llmport.domain import Completion, ReasoningPart, TextPart, ToolCallPart
from llmport.ports.cache_codec import as_cached
from llmport.ports.clock import SYSTEM_CLOCK, Clock


class MemoryResponseCache:
    """Keeps answers in this process. The least recently used entries go first when either bound
    is reached; an entry's size counts its key and the characters of its content plus a fixed
    overhead (close to the size of its encoded form, without paying for an encoding). An answer is
    kept as given and marked cached at its first hit (a miss pays nothing for the copy)."""

    def __init__(self, max_entries: int = 1024, max_bytes: int = 64 * 1024 * 1024, *,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a response cache needs room for at least one entry and one byte")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[float, int, Completion]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> Completion | None:
        return self.get_now(key)

    async def put(self, key: str, completion: Completion, ttl: float) -> None:
        self.put_now(key, completion, ttl)

    def get_now(self, key: str) -> Completion | None:
        """The answer under ``key`` marked ``cached`` (None when missing or expired)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, size, completion = entry
        if self.clock.monotonic() >= expires:
            self._drop(key, size)
            return None
        served = as_cached(completion)
        if served is not completion:  # its first hit: keep the marked copy
            self._entries[key] = (expires, size, served)
        self._entries.move_to_end(key)
        return served

    def put_now(self, key: str, completion: Completion, ttl: float) -> None:
        """Keep ``completion`` under ``key`` for ``ttl`` seconds (evicting the least recently used)."""
        size = _size(key, completion)
        if size is None or size > self.max_bytes or not ttl > 0:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._entries[key] = (self.clock.monotonic() + ttl, size, completion)
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, (_, evicted, _) = self._entries.popitem(last=False)
            self.bytes -= evicted

    async def acquire(self, key: str, ttl: float) -> bool:
        return True  # no other process shares this cache; in-process single flight is the step's

    async def release(self, key: str) -> None:
        return None

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def _drop(self, key: str, size: int) -> None:
        del self._entries[key]
        self.bytes -= size


ENTRY_OVERHEAD = 160  # bytes: the fixed part of an entry (stop reason, usage, model, framing)


def _size(key: str, completion: Completion) -> int | None:
    """About the bytes ``completion`` takes when encoded; None for an answer the cache does not keep."""
    size = ENTRY_OVERHEAD + len(key) + len(completion.provider or "") + len(completion.model or "")
    size += len(completion.response_id or "")
    for p in completion.parts:
        if type(p) is TextPart:
            size += len(p.text) + 8
        elif type(p) is ReasoningPart:
            size += len(p.text) + len(p.signature or "") + len(p.provider or "") + 24
        elif type(p) is ToolCallPart:
            size += len(p.id) + len(p.name) + len(p.raw_arguments or "") + len(json.dumps(p.arguments)) + 24
        else:
            return None
    return size
