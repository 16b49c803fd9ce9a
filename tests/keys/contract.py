"""The ``KeyStates`` contract, as reusable test classes.

Every implementation runs ``KeyStatesContract``; one shared between replicas also runs
``SharedKeyStatesContract`` (two stores from one factory are two replicas). Subclass and supply
``make_states`` (an async ``() -> KeyStates``; the fixture closes what it made) and, for a shared
store, ``settle`` (an async ``(*stores) -> None`` after which each store has sent what it queued
and learned what the others sent)::

    class TestRedisKeyStates(KeyStatesContract, SharedKeyStatesContract):
        @pytest.fixture
        async def make_states(self, redis_url: str) -> AsyncIterator[StatesFactory]: ...

Time: tests pass ``now`` explicitly, starting at ``time.monotonic()`` and jumping ahead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable

import pytest

from llmport.ports.keyring import KeyRing, KeySlot
from llmport.ports.keyring_state import KeyStates, KeyUsage, key_id

StatesFactory = Callable[[], Awaitable[KeyStates]]
Settle = Callable[..., Awaitable[None]]

RING, A, B = "openai", key_id("sk-key-a-0001"), key_id("sk-key-b-0001")


class Clock:
    """A clock the test moves by hand, starting at the real monotonic time."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def ring_on(states: KeyStates, clock: Clock, seed: int = 1) -> KeyRing:
    slots = [KeySlot("…0001", 1.0, A), KeySlot("…0001", 1.0, B)]  # alike fingerprints, distinct ids
    return KeyRing(slots, rng=random.Random(seed), clock=clock, states=states, name=RING)


class KeyStatesContract:
    """What ``KeyRing`` relies on from any ``KeyStates`` (one process's view)."""

    @pytest.fixture
    async def states(self, make_states: StatesFactory) -> KeyStates:
        return await make_states()

    async def test_an_unknown_key_may_serve_and_has_no_usage(self, states: KeyStates) -> None:
        now = time.monotonic()
        assert states.cooling_for(RING, A, now) == 0.0
        assert not states.retired(RING, A)
        assert states.usage(RING, A) == KeyUsage()
        assert states.usage(RING, A).requests == 0

    async def test_a_cooling_runs_down_to_zero(self, states: KeyStates) -> None:
        now = time.monotonic()
        states.cool(RING, A, now, 5.0)
        assert states.cooling_for(RING, A, now) == pytest.approx(5.0)
        assert states.cooling_for(RING, A, now + 4.0) == pytest.approx(1.0)
        assert states.cooling_for(RING, A, now + 5.0) == 0.0
        assert states.cooling_for(RING, A, now + 50.0) == 0.0
        assert states.cooling_for(RING, B, now) == 0.0  # per key
        assert states.cooling_for("other", A, now) == 0.0  # per ring

    async def test_a_cooling_never_shortens_and_a_longer_one_extends(self, states: KeyStates) -> None:
        now = time.monotonic()
        states.cool(RING, A, now, 10.0)
        states.cool(RING, A, now + 1, 2.0)
        assert states.cooling_for(RING, A, now + 5) == pytest.approx(5.0)
        states.cool(RING, A, now + 5, 20.0)
        assert states.cooling_for(RING, A, now + 5) == pytest.approx(20.0)

    async def test_no_wait_is_no_cooling(self, states: KeyStates) -> None:
        now = time.monotonic()
        states.cool(RING, A, now, 0.0)
        states.cool(RING, A, now, -3.0)
        assert states.cooling_for(RING, A, now) == 0.0

    async def test_a_short_cooling_counts_too(self, states: KeyStates) -> None:
        now = time.monotonic()
        states.cool(RING, A, now, 0.5)
        assert states.cooling_for(RING, A, now) == pytest.approx(0.5)
        states.cool(RING, B, now, -3.0)
        states.cool(RING, B, now, 0.25)  # a negative wait before changed nothing
        assert states.cooling_for(RING, B, now) == pytest.approx(0.25)

    async def test_a_retired_key_stays_out_and_is_reported_once(self, states: KeyStates) -> None:
        assert states.retire(RING, A) is True
        assert states.retire(RING, A) is False
        assert states.retired(RING, A)
        assert not states.retired(RING, B)
        assert not states.retired("other", A)

    async def test_calls_are_counted_per_key_and_outcome(self, states: KeyStates) -> None:
        for outcome in ("served", "served", "served", "rate_limited", "rejected", "failed", "failed"):
            states.record(RING, A, outcome)
        states.record(RING, B, "served")
        assert states.usage(RING, A) == KeyUsage(served=3, rate_limited=1, rejected=1, failed=2)
        assert states.usage(RING, A).requests == 7
        assert states.usage(RING, B) == KeyUsage(served=1)
        assert states.usage("other", A) == KeyUsage()

    async def test_a_ring_skips_what_the_store_says_is_out(self, states: KeyStates) -> None:
        clock = Clock()
        ring = ring_on(states, clock)
        assert sorted(ring.order()) == [0, 1]
        ring.cool(0, 3.0)
        assert ring.order() == [1]
        assert ring.soonest() == 0.0
        ring.retire(1)
        assert ring.order() == []
        assert ring.soonest() == pytest.approx(3.0)
        clock.now += 3.0
        assert ring.order() == [0]
        ring.record(0, "served")
        assert ring.usage(0) == KeyUsage(served=1)
        assert ring.usage(1) == KeyUsage()

    async def test_watching_a_ring_changes_nothing_locally(self, states: KeyStates) -> None:
        states.watch(RING)
        states.watch(RING)
        assert states.cooling_for(RING, A, time.monotonic()) == 0.0
        assert not states.retired(RING, A)

    async def test_close_is_idempotent(self, states: KeyStates) -> None:
        states.record(RING, A, "served")
        await states.aclose()
        await states.aclose()


class SharedKeyStatesContract:
    """What a store shared by replicas adds: two stores from one factory are two replicas."""

    async def test_a_key_cooled_on_one_replica_cools_on_the_other(self, make_states: StatesFactory,
                                                                 settle: Settle) -> None:
        a, b = await make_states(), await make_states()
        now = time.monotonic()
        b.watch(RING)  # b's ring is built: b learns the ring's state from now on
        a.cool(RING, A, now, 30.0)
        await settle(a, b)
        assert b.cooling_for(RING, A, now + 10) == pytest.approx(20.0, abs=0.01)
        assert b.cooling_for(RING, B, now) == 0.0

    async def test_a_key_retired_on_one_replica_is_out_on_the_other(self, make_states: StatesFactory,
                                                                   settle: Settle) -> None:
        a, b = await make_states(), await make_states()
        b.watch(RING)
        assert a.retire(RING, A)
        await settle(a, b)
        assert b.retired(RING, A)
        assert b.retire(RING, A) is False  # the fleet already had it out: no second report here
        assert not b.retired(RING, B)

    async def test_a_replica_started_later_learns_what_is_out(self, make_states: StatesFactory,
                                                             settle: Settle) -> None:
        a = await make_states()
        now = time.monotonic()
        a.retire(RING, A)
        a.cool(RING, B, now, 60.0)
        await settle(a)
        late = await make_states()
        late.watch(RING)
        await settle(late)
        assert late.retired(RING, A)
        assert late.cooling_for(RING, B, now) == pytest.approx(60.0, abs=0.01)

    async def test_a_shorter_cooling_elsewhere_never_shortens(self, make_states: StatesFactory,
                                                             settle: Settle) -> None:
        a, b = await make_states(), await make_states()
        now = time.monotonic()
        a.cool(RING, A, now, 40.0)
        await settle(a, b)
        b.cool(RING, A, now, 5.0)
        await settle(b, a)
        assert a.cooling_for(RING, A, now) == pytest.approx(40.0, abs=0.01)
        assert b.cooling_for(RING, A, now) == pytest.approx(40.0, abs=0.01)

    async def test_usage_is_the_fleets(self, make_states: StatesFactory, settle: Settle) -> None:
        a, b = await make_states(), await make_states()
        for _ in range(3):
            a.record(RING, A, "served")
        b.record(RING, A, "rate_limited")
        b.record(RING, A, "served")
        b.record(RING, B, "rejected")
        await settle(a, b)
        await settle(a)
        expected = KeyUsage(served=4, rate_limited=1)
        assert a.usage(RING, A) == expected
        assert b.usage(RING, A) == expected
        assert a.usage(RING, B) == KeyUsage(rejected=1)
        await settle(a, b)  # counts are sent once: settling again adds nothing
        assert a.usage(RING, A) == expected

    async def test_two_rings_on_one_store_share_what_one_saw(self, make_states: StatesFactory,
                                                            settle: Settle) -> None:
        """The fleet case: a key cooled down by one replica's ring is skipped by the other's."""
        a, b = await make_states(), await make_states()
        clock = Clock()
        one, two = ring_on(a, clock, seed=1), ring_on(b, clock, seed=2)
        assert sorted(two.order()) == [0, 1]
        one.cool(0, 30.0)
        await settle(a, b)
        assert all(two.order() == [1] for _ in range(10))
        one.retire(1)
        await settle(a, b)
        assert two.order() == []
        assert two.soonest() == pytest.approx(30.0, abs=0.01)

    async def test_a_ring_learns_the_fleets_state_from_the_moment_it_is_built(self, make_states: StatesFactory,
                                                                             settle: Settle) -> None:
        a, b = await make_states(), await make_states()
        clock = Clock()
        late = ring_on(b, clock)  # building the ring is b's only contact with it before the settle
        a.retire(RING, A)
        a.cool(RING, B, clock.now, 30.0)
        await settle(a, b)
        assert late.order() == []
        assert late.retired(0) and late.cooling_for(1) == pytest.approx(30.0, abs=0.01)
