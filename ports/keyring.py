"""Several API keys for one provider: which key serves next (weights, cooling, out of rotation).

Deterministic with an injected random generator and clock; adapters own the keys and the clients,
this module only sees key fingerprints, ids and weights. Each key's state (cooling, out of
rotation, usage) lives in a ``KeyStates`` store: in this process by default, or shared by every
replica (``RedisKeyStates``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from llmport.domain.frozen import valueclass
from llmport.ports.clock import SYSTEM_CLOCK, Clock
from llmport.ports.keyring_state import KeyOutcome, KeyStates, KeyUsage, MemoryKeyStates


@valueclass
class KeySlot:
    """One key as the ring sees it: a fingerprint (never the key), its share of the requests, and
    its id in the state store (``keyring_state.key_id``; the fingerprint when not given)."""

    fingerprint: str
    weight: float = 1.0
    id: str = ""

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ValueError(f"a key weight must be positive, got {self.weight!r}")
        if not self.id:
            object.__setattr__(self, "id", self.fingerprint)


def fingerprint(key: str) -> str:
    """A key's public name in logs and state: its last four characters, prefixed with ``…``."""
    return "…" + key[-4:] if len(key) > 4 else "…"


class KeyRing:
    """Picks keys by weight among those in rotation and not cooling.

    ``order()`` is the try order for one request: a weighted draw without replacement over the
    usable keys. ``cool(i, seconds)`` parks key ``i`` (a 429); ``retire(i)`` takes it out of
    rotation for good (401/403) and says whether this was the first time; ``record(i, outcome)``
    counts a call. ``states`` holds what the ring learns (shared by replicas when it is shared),
    under the ring's ``name`` (its provider).
    """

    def __init__(self, slots: Sequence[KeySlot], *, rng: random.Random | None = None,
                 clock: Clock = SYSTEM_CLOCK, states: KeyStates | None = None, name: str = "keys") -> None:
        if not slots:
            raise ValueError("a key ring needs at least one key")
        self.slots = tuple(slots)
        self.name = name
        self.states: KeyStates = MemoryKeyStates() if states is None else states
        self.states.watch(name)
        self._rng = rng or random.Random()
        self._clock = clock

    def usable(self) -> list[int]:
        """Indexes of the keys that may serve now."""
        now = self._clock.monotonic()
        states, name = self.states, self.name
        return [i for i, slot in enumerate(self.slots)
                if not states.retired(name, slot.id) and states.cooling_for(name, slot.id, now) <= 0]

    def order(self) -> list[int]:
        """The usable keys in the order one request tries them (weighted, without replacement)."""
        left = self.usable()
        out: list[int] = []
        while left:
            total = sum(self.slots[i].weight for i in left)
            point = self._rng.random() * total
            pick = left[-1]  # also catches float rounding past the last boundary
            for i in left[:-1]:
                point -= self.slots[i].weight
                if point < 0:
                    pick = i
                    break
            out.append(pick)
            left.remove(pick)
        return out

    def cool(self, index: int, seconds: float) -> None:
        """Park key ``index`` for ``seconds`` (its Retry-After); a later deadline never shortens."""
        self.states.cool(self.name, self.slots[index].id, self._clock.monotonic(), seconds)

    def retire(self, index: int) -> bool:
        """Take key ``index`` out of rotation; True when it was still in rotation."""
        return self.states.retire(self.name, self.slots[index].id)

    def retired(self, index: int) -> bool:
        return self.states.retired(self.name, self.slots[index].id)

    def record(self, index: int, outcome: KeyOutcome) -> None:
        """Count one call made with key ``index``."""
        self.states.record(self.name, self.slots[index].id, outcome)

    def usage(self, index: int) -> KeyUsage:
        """The calls counted for key ``index``."""
        return self.states.usage(self.name, self.slots[index].id)

    def cooling_for(self, index: int) -> float:
        """Seconds until key ``index`` may serve again (0 when it may now)."""
        return self.states.cooling_for(self.name, self.slots[index].id, self._clock.monotonic())

    def soonest(self) -> float | None:
        """Seconds until the first cooling key in rotation is back; None when every key is retired."""
        waits = [self.cooling_for(i) for i in range(len(self.slots)) if not self.retired(i)]
        return min(waits) if waits else None
