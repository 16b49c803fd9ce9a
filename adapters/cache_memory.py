"""``MemoryResponseCache``: the in-process response cache, bounded by entries and bytes, LRU, TTL."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

from llmport.domain import Completion
from llmport.ports.cache_codec import Uncacheable, encode
from llmport.ports.clock import SYSTEM_CLOCK, Clock


class MemoryResponseCache:
    """Keeps answers in this process. The least recently used entries go first when either bound
    is reached; an entry's size is the size of its encoded form (what Redis would hold)."""

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
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, size, completion = entry
        if self.clock.monotonic() >= expires:
            self._drop(key, size)
            return None
        self._entries.move_to_end(key)
        return completion

    async def put(self, key: str, completion: Completion, ttl: float) -> None:
        try:
            size = len(encode(key, completion))
        except Uncacheable:
            return
        if size > self.max_bytes or not ttl > 0:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._entries[key] = (self.clock.monotonic() + ttl, size, dataclasses.replace(completion, cached=True))
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
