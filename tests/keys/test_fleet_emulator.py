"""Two replicas rotating the same keys through the real openai SDK against the emulator, their key
state shared through a real ``redis-server``: what one replica learns about a key, the other acts on."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import openai
import pytest

from llmport.adapters.keyring import KeyRotatingAdapter, WeightedKey, rotating
from llmport.adapters.openai import OpenAIAdapter
from llmport.adapters.redis import RedisConnection
from llmport.adapters.redis.key_state import RedisKeyStates
from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Fault, Reply
from llmport.domain import CompletionRequest, Message
from llmport.ports.keyring_state import KeyUsage

from .test_rotation_emulator import FP_A, FP_B, KEY_A, KEY_B


def ask() -> CompletionRequest:
    return CompletionRequest(model="gpt-test", messages=[Message.user("hello")])


class Replica:
    def __init__(self, emu: VendorEmulator, redis_url: str, seed: int) -> None:
        self.states = RedisKeyStates(RedisConnection(redis_url, namespace="fleet", timeout=1.0),
                                     owns_connection=True)
        client = openai.AsyncOpenAI(api_key="sk-unused-base", base_url=f"{emu.url_for('fleet')}/v1", max_retries=0)
        self.adapter: KeyRotatingAdapter = rotating(
            client, [WeightedKey(KEY_A), WeightedKey(KEY_B)], lambda c: OpenAIAdapter(c, provider="primary"),
            provider="primary", rng=random.Random(seed), states=self.states)

    def first_key(self) -> int:
        ring = self.adapter.ring
        state = ring._rng.getstate()
        first = ring.order()[0]
        ring._rng.setstate(state)
        return first

    async def aclose(self) -> None:
        await self.adapter.aclose()
        await self.states.aclose()


@pytest.fixture
async def replicas(emu: VendorEmulator, redis_url: str) -> AsyncIterator[tuple[Replica, Replica]]:
    one, two = Replica(emu, redis_url, seed=1), Replica(emu, redis_url, seed=2)
    yield one, two
    await one.aclose()
    await two.aclose()


async def test_a_key_throttled_on_one_replica_is_skipped_by_the_other(
        emu: VendorEmulator, replicas: tuple[Replica, Replica]) -> None:
    one, two = replicas
    throttled = one.first_key()
    fps = [FP_A, FP_B]
    emu.script(Fault.rate_limited(retry_after=30), key=fps[throttled])
    await one.adapter.complete(ask())
    await one.states.sync()
    await two.states.sync()
    before = len(emu.journal.entries(tag="fleet"))
    for _ in range(6):
        await two.adapter.complete(ask())
    sent = [e.key for e in emu.journal.entries(tag="fleet")[before:]]
    assert sent == [fps[1 - throttled]] * 6
    assert two.adapter.ring.cooling_for(throttled) > 25


async def test_a_key_revoked_on_one_replica_is_never_sent_by_the_other(
        emu: VendorEmulator, replicas: tuple[Replica, Replica]) -> None:
    one, two = replicas
    emu.script(Fault.http(401), key=FP_A, then=Fault.http(401))
    emu.script(Reply("ok"), key=FP_B, then=Reply("ok"))
    while not one.adapter.ring.retired(0):
        await one.adapter.complete(ask())
    await one.states.sync()
    await two.states.sync()
    before = len(emu.journal.entries(tag="fleet"))
    for _ in range(6):
        assert (await two.adapter.complete(ask())).text == "ok"
    assert {e.key for e in emu.journal.entries(tag="fleet")[before:]} == {FP_B}
    await two.states.sync()
    await one.states.sync()
    fleet = one.adapter.usage()
    assert fleet[FP_A] == KeyUsage(rejected=1)
    assert fleet[FP_B].served == len(emu.journal.entries(tag="fleet")) - 1  # both replicas' calls
    assert two.adapter.usage() == fleet
