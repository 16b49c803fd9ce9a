"""Several API keys for one provider: which key serves next (weights, cooling, out of rotation).

Pure state, deterministic with an injected random generator and clock; adapters own the keys and
the clients, this module only sees key fingerprints and their weights.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from llmport.ports.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True, slots=True)
class KeySlot:
    """One key as the ring sees it: a fingerprint (never the key) and its share of the requests."""

    fingerprint: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ValueError(f"a key weight must be positive, got {self.weight!r}")


def fingerprint(key: str) -> str:
    """A key's public name in logs and state: its last four characters, prefixed with ``…``."""
    return "…" + key[-4:] if len(key) > 4 else "…"


class KeyRing:
    """Picks keys by weight among those in rotation and not cooling.

    ``order()`` is the try order for one request: a weighted draw without replacement over the
    usable keys. ``cool(i, seconds)`` parks key ``i`` (a 429); ``retire(i)`` takes it out of
    rotation for good (401/403) and says whether this was the first time.
    """

    def __init__(self, slots: Sequence[KeySlot], *, rng: random.Random | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        if not slots:
            raise ValueError("a key ring needs at least one key")
        self.slots = tuple(slots)
        self._rng = rng or random.Random()
        self._clock = clock
        self._cool_until = [0.0] * len(self.slots)
        self._retired = [False] * len(self.slots)

    def usable(self) -> list[int]:
        """Indexes of the keys that may serve now."""
        now = self._clock.monotonic()
        return [i for i in range(len(self.slots)) if not self._retired[i] and self._cool_until[i] <= now]

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
        self._cool_until[index] = max(self._cool_until[index], self._clock.monotonic() + max(0.0, seconds))

    def retire(self, index: int) -> bool:
        """Take key ``index`` out of rotation; True when it was still in rotation."""
        first = not self._retired[index]
        self._retired[index] = True
        return first

    def retired(self, index: int) -> bool:
        return self._retired[index]

    def cooling_for(self, index: int) -> float:
        """Seconds until key ``index`` may serve again (0 when it may now)."""
        return max(0.0, self._cool_until[index] - self._clock.monotonic())

    def soonest(self) -> float | None:
        """Seconds until the first cooling key in rotation is back; None when every key is retired."""
        waits = [self.cooling_for(i) for i in range(len(self.slots)) if not self._retired[i]]
        return min(waits) if waits else None
