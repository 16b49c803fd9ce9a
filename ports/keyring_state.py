"""Where key rings keep each key's state: cooling after a 429, out of rotation after a 401/403, and
usage counters. ``MemoryKeyStates`` keeps it in this process; a shared implementation (Redis, in
``adapters``) gives every replica one view, so a key one replica saw throttled or revoked is
skipped by all.

Contract (every implementation; ``tests/keys/contract.py`` checks it):

- **Names.** A ring is named by its provider; a key by a stable id that is not the key
  (``key_id``). Both come from configuration, so state stays bounded.
- **Time.** ``now`` is the ring clock's monotonic time in seconds; a shared implementation
  converts to wall-clock time for what it stores and never compares instants across processes.
- **Only ``aclose`` is async.** Every other method answers from a local view at once, never blocks
  and never raises; a shared implementation queues its writes and sends them off the hot path
  (a cooling or a retirement at once), and learns the others' writes within its refresh interval.
- **Monotone.** A cooling is never shortened; a retired key never comes back (in this process; a
  shared store keeps retirements for its time to live so a replica started later learns them).
- **A failing store degrades, never fails a request**: the local view keeps deciding.
"""

from __future__ import annotations

import hashlib
from typing import Literal, Protocol

from llmport.domain.frozen import valueclass

#: What happened to one call made with a key.
KeyOutcome = Literal["served", "rate_limited", "rejected", "failed"]
OUTCOMES: tuple[KeyOutcome, ...] = ("served", "rate_limited", "rejected", "failed")


@valueclass
class KeyUsage:
    """Calls made with one key, by outcome: ``served`` (an answer), ``rate_limited`` (429),
    ``rejected`` (401/403) and ``failed`` (any other error, not the key's fault)."""

    served: int = 0
    rate_limited: int = 0
    rejected: int = 0
    failed: int = 0

    @property
    def requests(self) -> int:
        """Every call sent with the key."""
        return self.served + self.rate_limited + self.rejected + self.failed

    def plus(self, other: KeyUsage) -> KeyUsage:
        """Both usages summed."""
        return KeyUsage(self.served + other.served, self.rate_limited + other.rate_limited,
                        self.rejected + other.rejected, self.failed + other.failed)

    @classmethod
    def one(cls, outcome: KeyOutcome) -> KeyUsage:
        """A single call with this outcome."""
        return _ONE[outcome]


def key_id(key: str) -> str:
    """A key's stable id for shared state: a truncated SHA-256 of it, which does not reveal the key
    and tells apart keys that end alike (fingerprints show only the last four characters)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class KeyStates(Protocol):
    """Each key's state, for every key ring of a deployment."""

    def watch(self, ring: str) -> None:
        """A ring named ``ring`` uses this store (called when the ring is built): a shared store
        starts learning that ring's state from the other replicas now, before its first call."""
        ...

    def cooling_for(self, ring: str, key: str, now: float) -> float:
        """Seconds until ``key`` may serve again after a 429 (0.0 when it may now)."""
        ...

    def retired(self, ring: str, key: str) -> bool:
        """Whether ``key`` is out of rotation (a 401/403, here or on another replica)."""
        ...

    def cool(self, ring: str, key: str, now: float, seconds: float) -> None:
        """Park ``key`` for ``seconds`` from ``now`` (its Retry-After); never shortens a cooling."""
        ...

    def retire(self, ring: str, key: str) -> bool:
        """Take ``key`` out of rotation; True when this view had it in rotation until now."""
        ...

    def record(self, ring: str, key: str, outcome: KeyOutcome) -> None:
        """Count one call made with ``key``."""
        ...

    def usage(self, ring: str, key: str) -> KeyUsage:
        """The calls counted for ``key`` (across replicas for a shared store, as last learned)."""
        ...

    async def aclose(self) -> None:
        """Stop background work and flush what is queued (best effort); idempotent."""
        ...


class MemoryKeyStates:
    """``KeyStates`` for one process (the default)."""

    def __init__(self) -> None:
        self._cool: dict[tuple[str, str], float] = {}
        self._retired: set[tuple[str, str]] = set()
        self._usage: dict[tuple[str, str], KeyUsage] = {}

    def watch(self, ring: str) -> None:
        pass

    def cooling_for(self, ring: str, key: str, now: float) -> float:
        return max(0.0, self._cool.get((ring, key), now) - now)

    def retired(self, ring: str, key: str) -> bool:
        return (ring, key) in self._retired

    def cool(self, ring: str, key: str, now: float, seconds: float) -> None:
        name = (ring, key)
        self._cool[name] = max(self._cool.get(name, now), now + seconds)

    def retire(self, ring: str, key: str) -> bool:
        name = (ring, key)
        first = name not in self._retired
        self._retired.add(name)
        return first

    def record(self, ring: str, key: str, outcome: KeyOutcome) -> None:
        name = (ring, key)
        self._usage[name] = self._usage.get(name, KeyUsage()).plus(KeyUsage.one(outcome))

    def usage(self, ring: str, key: str) -> KeyUsage:
        return self._usage.get((ring, key), KeyUsage())

    async def aclose(self) -> None:
        pass


_ONE: dict[KeyOutcome, KeyUsage] = {"served": KeyUsage(served=1), "rate_limited": KeyUsage(rate_limited=1),
                                    "rejected": KeyUsage(rejected=1), "failed": KeyUsage(failed=1)}
