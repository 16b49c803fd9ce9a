"""The pure key ring: weighted order, cooling, out of rotation (seeded rng, a hand-moved clock)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmport.ports.keyring import KeyRing, KeySlot, fingerprint
from llmport.ports.keyring_state import key_id


class StepClock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def ring(*weights: float, seed: int = 1, clock: StepClock | None = None) -> KeyRing:
    slots = [KeySlot(f"…k{i}", w) for i, w in enumerate(weights)]
    return KeyRing(slots, rng=random.Random(seed), clock=clock or StepClock())


def test_fingerprint_is_the_last_four_characters_only() -> None:
    assert fingerprint("sk-abcdefgh1234") == "…1234"
    assert fingerprint("abcd") == "…"
    assert "abcdefgh" not in fingerprint("sk-abcdefgh1234")


def test_a_key_needs_a_positive_weight_and_a_ring_a_key() -> None:
    with pytest.raises(ValueError, match="positive"):
        KeySlot("…x", 0)
    with pytest.raises(ValueError, match="at least one key"):
        KeyRing([])


def test_order_holds_every_usable_key_once() -> None:
    r = ring(1, 2, 3)
    for _ in range(20):
        assert sorted(r.order()) == [0, 1, 2]


def test_first_pick_follows_the_weights() -> None:
    r = ring(1, 3, seed=7)
    firsts = Counter(r.order()[0] for _ in range(4000))
    assert 0.70 < firsts[1] / 4000 < 0.80  # expected 0.75
    assert firsts[0] > 0


def test_a_cooling_key_is_skipped_until_its_retry_after_passes() -> None:
    clock = StepClock()
    r = ring(1, 1, clock=clock)
    r.cool(0, 5.0)
    assert r.usable() == [1]
    assert r.cooling_for(0) == 5.0
    assert r.soonest() == 0.0
    clock.now += 4.999
    assert r.order() == [1]
    clock.now += 0.001
    assert sorted(r.order()) == [0, 1]
    assert r.cooling_for(0) == 0.0


def test_cooling_never_shortens_and_ignores_negative_waits() -> None:
    clock = StepClock()
    r = ring(1, clock=clock)
    r.cool(0, 10.0)
    r.cool(0, 1.0)
    assert r.cooling_for(0) == 10.0
    r2 = ring(1, clock=clock)
    r2.cool(0, -3.0)
    assert r2.usable() == [0]


def test_a_retired_key_never_comes_back_and_is_reported_once() -> None:
    clock = StepClock()
    r = ring(1, 1, clock=clock)
    assert r.retire(0) is True
    assert r.retire(0) is False
    assert r.retired(0) and not r.retired(1)
    clock.now += 1e6
    assert all(r.order() == [1] for _ in range(10))


def test_soonest_is_the_first_comeback_and_none_when_all_are_retired() -> None:
    clock = StepClock()
    r = ring(1, 1, 1, clock=clock)
    r.cool(0, 3.0)
    r.cool(1, 2.0)
    r.retire(2)
    assert r.order() == []
    assert r.soonest() == 2.0
    r.retire(1)
    assert r.soonest() == 3.0
    r.retire(0)
    assert r.soonest() is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 100), min_size=1, max_size=6), st.integers(0, 2**32), st.sets(st.integers(0, 5)))
def test_order_is_a_permutation_of_the_usable_keys(weights: list[float], seed: int, retired: set[int]) -> None:
    r = ring(*weights, seed=seed)
    for i in retired:
        if i < len(weights):
            r.retire(i)
    order = r.order()
    assert sorted(order) == [i for i in range(len(weights)) if i not in retired]


class FixedRng(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def test_each_key_owns_a_half_open_share_of_the_draw() -> None:
    slots = [KeySlot("…a"), KeySlot("…b")]
    assert KeySlot("…x").weight == 1.0
    assert KeyRing(slots, rng=FixedRng(0.5), clock=StepClock()).order() == [1, 0]  # 1.0 of 2: key b's share
    assert KeyRing(slots, rng=FixedRng(0.4999), clock=StepClock()).order() == [0, 1]
    assert KeyRing(slots, rng=FixedRng(0.0), clock=StepClock()).order() == [0, 1]
    three = [KeySlot("…a"), KeySlot("…b"), KeySlot("…c")]
    assert KeyRing(three, rng=FixedRng(0.0), clock=StepClock()).order() == [0, 1, 2]


def test_a_ring_without_an_rng_or_clock_still_orders() -> None:
    assert sorted(KeyRing([KeySlot("…a"), KeySlot("…b")]).order()) == [0, 1]


def test_a_fresh_key_is_usable_from_time_zero() -> None:
    clock = StepClock()
    clock.now = 0.0
    assert KeyRing([KeySlot("…a")], clock=clock).usable() == [0]


def test_a_five_character_key_shows_four() -> None:
    assert fingerprint("abcde") == "…bcde"


def test_a_key_id_is_a_short_digest_telling_alike_keys_apart() -> None:
    ids = {key_id("sk-first-key-9999"), key_id("sk-other-key-9999")}
    assert len(ids) == 2
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    assert key_id("sk-first-key-9999") == key_id("sk-first-key-9999")
    assert KeySlot("…9999").id == "…9999"  # without an id, the fingerprint stands in
    assert KeySlot("…9999", 1.0, "abc").id == "abc"
