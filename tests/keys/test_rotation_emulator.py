"""Several keys per provider through the real openai/anthropic SDKs against the emulator."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anthropic
import openai
import pytest

from llmport.adapters.anthropic import AnthropicAdapter
from llmport.adapters.keyring import KeyRotatingAdapter, WeightedKey, rotating, rotating_ports
from llmport.adapters.openai import OpenAIAdapter, OpenAIOptions
from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Fault, Reply
from llmport.domain import (
    AuthenticationFailed,
    Completion,
    CompletionRequest,
    Message,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
    StreamEvent,
    TextDelta,
)
from llmport.ports import (
    BreakerConfig,
    FailoverPolicy,
    PolicyConfig,
    RecordingObserver,
    RetryBudget,
    RetryPolicy,
    Route,
    Router,
    RouteSet,
)
from llmport.ports.keyring import fingerprint
from llmport.ports.keyring_state import KeyUsage

KEY_A, KEY_B, KEY_C = "sk-test-key-aaaa", "sk-test-key-bbbb", "sk-test-key-cccc"
FP_A, FP_B, FP_C = fingerprint(KEY_A), fingerprint(KEY_B), fingerprint(KEY_C)
GPT = "gpt-test"


def ask(model: str = GPT, text: str = "hello") -> CompletionRequest:
    return CompletionRequest(model=model, messages=[Message.user(text)])


def openai_keys(emu: VendorEmulator, *keys: WeightedKey, seed: int = 0, tag: str = "keys") -> KeyRotatingAdapter:
    client = openai.AsyncOpenAI(api_key="sk-unused-base", base_url=f"{emu.url_for(tag)}/v1", max_retries=0)
    return rotating(client, keys, lambda c: OpenAIAdapter(c, provider="primary"), provider="primary",
                    rng=random.Random(seed))


@pytest.fixture
async def two_keys(emu: VendorEmulator) -> AsyncIterator[KeyRotatingAdapter]:
    adapter = openai_keys(emu, WeightedKey(KEY_A, 1), WeightedKey(KEY_B, 1), seed=3)
    yield adapter
    await adapter.aclose()


def first_key(adapter: KeyRotatingAdapter) -> int:
    """Which key the ring's next draw puts first, without consuming the real rng."""
    state = adapter.ring._rng.getstate()
    first = adapter.ring.order()[0]
    adapter.ring._rng.setstate(state)
    return first


async def test_the_emulator_tells_keys_apart_and_never_records_one(emu: VendorEmulator,
                                                                  two_keys: KeyRotatingAdapter) -> None:
    for _ in range(6):
        await two_keys.complete(ask())
    entries = emu.journal.entries(tag="keys")
    assert {e.key for e in entries} == {FP_A, FP_B}
    assert all(KEY_A not in str(e.headers) and KEY_B not in str(e.headers) for e in entries)


async def test_429_on_one_key_moves_the_same_request_to_the_other_at_once(emu: VendorEmulator,
                                                                         two_keys: KeyRotatingAdapter) -> None:
    first = first_key(two_keys)
    other_fp = [FP_A, FP_B][1 - first]
    emu.script(Fault.rate_limited(retry_after=30), key=[FP_A, FP_B][first])
    emu.script(Reply("served by the other key"), key=other_fp)
    completion = await two_keys.complete(ask())
    assert completion.text == "served by the other key"
    entries = emu.journal.entries(tag="keys")
    assert [(e.key, e.status) for e in entries] == [([FP_A, FP_B][first], 429), (other_fp, 200)]
    assert entries[0].body == entries[1].body  # the same request
    # The throttled key cools for its Retry-After: the next requests all go to the other key.
    for _ in range(4):
        await two_keys.complete(ask())
    assert {e.key for e in emu.journal.entries(tag="keys")[2:]} == {other_fp}
    assert two_keys.ring.cooling_for(first) > 25


async def test_401_takes_the_key_out_of_rotation_logged_once_by_fingerprint(
        emu: VendorEmulator, two_keys: KeyRotatingAdapter, caplog: pytest.LogCaptureFixture) -> None:
    emu.script(Fault.http(401), key=FP_A, then=Fault.http(401))
    caplog.set_level(logging.ERROR, logger="llmport.keys")
    for _ in range(8):
        assert (await two_keys.complete(ask())).text
    keys = [(e.key, e.status) for e in emu.journal.entries(tag="keys")]
    assert keys.count((FP_A, 401)) == 1  # tried once, never again
    assert [k for k in keys if k[0] == FP_B] == [(FP_B, 200)] * 8
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert FP_A in errors[0].getMessage()
    assert KEY_A not in caplog.text and KEY_A[:-4] not in caplog.text


async def test_403_also_takes_the_key_out(emu: VendorEmulator, two_keys: KeyRotatingAdapter) -> None:
    emu.script(Fault.http(403), key=FP_B, then=Fault.http(403))
    for _ in range(5):
        await two_keys.complete(ask())
    assert two_keys.ring.retired(1) and not two_keys.ring.retired(0)


async def test_a_stream_moves_to_the_next_key_before_its_first_event(emu: VendorEmulator,
                                                                     two_keys: KeyRotatingAdapter) -> None:
    emu.script(Fault.http(401), key=FP_A, then=Fault.http(401))
    emu.script(Reply("streamed answer"), key=FP_B, then=Reply("streamed answer"))
    for _ in range(3):
        async with two_keys.stream(ask()) as events:
            text = "".join([e.text async for e in events if isinstance(e, TextDelta)])
        assert text == "streamed answer"
    assert two_keys.ring.retired(0)


async def test_when_every_key_is_out_the_call_fails_with_a_credential_error(emu: VendorEmulator,
                                                                           two_keys: KeyRotatingAdapter) -> None:
    emu.script(Fault.http(401), tag="keys", then=Fault.http(401))
    with pytest.raises(AuthenticationFailed) as caught:
        await two_keys.complete(ask())
    assert KEY_A not in str(caught.value) and KEY_B not in str(caught.value)
    assert len(emu.journal.entries(tag="keys")) == 2
    with pytest.raises(AuthenticationFailed, match="out of rotation"):
        await two_keys.complete(ask())
    assert len(emu.journal.entries(tag="keys")) == 2  # no key left to try: no request sent


async def test_when_every_key_cools_the_call_is_rate_limited_with_the_soonest_comeback(
        emu: VendorEmulator, two_keys: KeyRotatingAdapter) -> None:
    emu.script(Fault.rate_limited(retry_after=40), key=FP_A)
    emu.script(Fault.rate_limited(retry_after=20), key=FP_B)
    with pytest.raises(RateLimited) as caught:
        await two_keys.complete(ask())
    assert caught.value.retry_after is not None and 15 < caught.value.retry_after <= 20


async def test_other_errors_are_not_the_keys_fault_and_propagate(emu: VendorEmulator,
                                                                 two_keys: KeyRotatingAdapter) -> None:
    emu.script(Fault.http(500), tag="keys")
    with pytest.raises(ProviderUnavailable) as caught:
        await two_keys.complete(ask())
    assert caught.value.status == 500
    assert len(emu.journal.entries(tag="keys")) == 1
    assert not two_keys.ring.retired(0) and not two_keys.ring.retired(1)


async def test_all_keys_out_fails_the_route_over_to_the_backup(emu: VendorEmulator) -> None:
    primary = openai_keys(emu, WeightedKey(KEY_A), WeightedKey(KEY_B), tag="primary")
    backup = AnthropicAdapter(anthropic.AsyncAnthropic(api_key="sk-ant-backup", base_url=emu.url_for("backup"),
                                                       max_retries=0), provider="backup")
    routes = (Route("primary", GPT, primary), Route("backup", "claude-test", backup))
    policy = FailoverPolicy(
        Router(routes, {"smart": RouteSet("smart", routes)}),
        config=PolicyConfig(retry=RetryPolicy(2, 0.01, 0.02), breaker=BreakerConfig(failure_threshold=2, cooldown=5)),
        observer=RecordingObserver(), budget=RetryBudget(min_retries=100),
    )
    try:
        emu.script(Fault.http(401), tag="primary", then=Fault.http(401))
        emu.script(Reply("from the backup"), tag="backup", then=Reply("from the backup"))
        assert (await policy.complete(ask("smart"))).text == "from the backup"
        assert sorted(e.key for e in emu.journal.entries(tag="primary")) == sorted([FP_A, FP_B])
        assert (await policy.complete(ask("smart"))).text == "from the backup"
        assert len(emu.journal.entries(tag="primary")) == 2  # both keys out: never tried again
    finally:
        await policy.aclose()


async def test_weights_spread_requests(emu: VendorEmulator) -> None:
    adapter = openai_keys(emu, WeightedKey(KEY_A, 1), WeightedKey(KEY_B, 3), WeightedKey(KEY_C, 0.5), seed=11)
    try:
        for _ in range(60):
            await adapter.complete(ask())
    finally:
        await adapter.aclose()
    counts = Counter(e.key for e in emu.journal.entries(tag="keys"))
    assert counts[FP_B] > counts[FP_A] > counts[FP_C] > 0
    assert sum(counts.values()) == 60


async def test_every_key_shares_the_one_connection_pool(emu: VendorEmulator) -> None:
    client = openai.AsyncOpenAI(api_key="sk-unused-base", base_url=f"{emu.url_for('keys')}/v1", max_retries=0)
    adapter = rotating(client, [WeightedKey(KEY_A), WeightedKey(KEY_B)],
                       lambda c: OpenAIAdapter(c, provider="primary"), provider="primary", rng=random.Random(5))
    try:
        http_clients = {id(p._client._client) for p in adapter.ports}  # type: ignore[attr-defined]
        assert http_clients == {id(client._client)}
        for _ in range(8):
            await adapter.complete(ask())
        entries = emu.journal.entries(tag="keys")
        assert {e.key for e in entries} == {FP_A, FP_B}
        assert len({e.client for e in entries}) == 1  # sequential calls, both keys: one TCP connection
    finally:
        await adapter.aclose()


async def test_anthropic_keys_share_the_client_too(emu: VendorEmulator) -> None:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-unused", base_url=emu.url_for("keys"), max_retries=0)
    adapter = rotating(client, [WeightedKey("sk-ant-key-1111"), WeightedKey("sk-ant-key-2222")],
                       lambda c: AnthropicAdapter(c, provider="claude"), provider="claude", rng=random.Random(2))
    try:
        assert {id(p._client._client) for p in adapter.ports} == {id(client._client)}  # type: ignore[attr-defined]
        emu.script(Fault.http(401), key="…1111", then=Fault.http(401))
        emu.script(Reply("anthropic ok"), key="…2222", then=Reply("anthropic ok"))
        for _ in range(4):
            assert (await adapter.complete(ask("claude-test"))).text == "anthropic ok"
        statuses = [(e.key, e.status) for e in emu.journal.entries(tag="keys")]
        assert statuses.count(("…1111", 401)) == 1
        assert statuses.count(("…2222", 200)) == 4
        assert len({e.client for e in emu.journal.entries(tag="keys")}) == 1
    finally:
        await adapter.aclose()
    assert "sk-ant-key" not in repr(adapter)


async def test_each_call_is_counted_per_key_and_outcome(emu: VendorEmulator, two_keys: KeyRotatingAdapter) -> None:
    first = first_key(two_keys)
    fps = [FP_A, FP_B]
    emu.script(Fault.rate_limited(retry_after=30), key=fps[first])
    await two_keys.complete(ask())  # 429 on the first key, served by the other
    emu.script(Fault.http(500), key=fps[1 - first])
    with pytest.raises(ProviderUnavailable):
        await two_keys.complete(ask())
    async with two_keys.stream(ask()) as events:
        async for _ in events:
            pass
    await two_keys.count_tokens(ask())  # often an estimate, no call: not counted
    usage = two_keys.usage()
    assert usage[fps[first]] == KeyUsage(rate_limited=1)
    assert usage[fps[1 - first]] == KeyUsage(served=2, failed=1)
    assert usage[fps[1 - first]].requests == 3


async def test_token_counts_rotate_keys_too_but_are_not_counted(emu: VendorEmulator) -> None:
    client = openai.AsyncOpenAI(api_key="sk-unused-base", base_url=f"{emu.url_for('keys')}/v1", max_retries=0)
    adapter = rotating(client, [WeightedKey(KEY_A), WeightedKey(KEY_B)],
                       lambda c: OpenAIAdapter(c, provider="primary", options=OpenAIOptions(
                           api="responses", count_tokens_endpoint=True)),
                       provider="primary", rng=random.Random(1))
    try:
        emu.script(Fault.http(401), key=FP_A, then=Fault.http(401))
        for _ in range(3):
            assert await adapter.count_tokens(ask()) > 0
        assert adapter.ring.retired(0) and not adapter.ring.retired(1)
        assert [e.key for e in emu.journal.entries(tag="keys")].count(FP_A) == 1
        assert adapter.usage() == {FP_A: KeyUsage(), FP_B: KeyUsage()}
        emu.script(Fault.http(500), key=FP_B)
        with pytest.raises(ProviderUnavailable):
            await adapter.count_tokens(ask())
        assert adapter.usage()[FP_B] == KeyUsage()
    finally:
        await adapter.aclose()


async def test_keys_that_end_alike_are_kept_apart_and_shown_summed(emu: VendorEmulator) -> None:
    adapter = openai_keys(emu, WeightedKey("sk-one-9999"), WeightedKey("sk-two-9999"), seed=4)
    try:
        emu.script(Fault.http(401), tag="keys")
        await adapter.complete(ask())
        assert [adapter.ring.retired(i) for i in (0, 1)].count(True) == 1  # the other key still serves
        assert adapter.usage() == {"…9999": KeyUsage(served=1, rejected=1)}
    finally:
        await adapter.aclose()


async def test_errors_are_scrubbed_of_every_value_given_to_redact(emu: VendorEmulator,
                                                                  two_keys: KeyRotatingAdapter) -> None:
    emu.script(Fault.http(500, message="upstream said: gateway-token-7777 is odd"), tag="keys")
    two_keys.redact(["gateway-token-7777"])
    with pytest.raises(ProviderUnavailable) as caught:
        await two_keys.complete(ask())
    assert "gateway-token-7777" not in str(caught.value)
    assert "upstream said" in str(caught.value)


async def test_a_stream_fails_like_a_call(emu: VendorEmulator, two_keys: KeyRotatingAdapter) -> None:
    emu.script(Fault.http(500), tag="keys")
    with pytest.raises(ProviderUnavailable):
        async with two_keys.stream(ask()) as events:
            [e async for e in events]
    assert len(emu.journal.entries(tag="keys")) == 1  # not the key's fault: no other key tried
    emu.script(Fault.http(401), tag="keys", then=Fault.http(401))
    with pytest.raises(AuthenticationFailed):
        async with two_keys.stream(ask()) as events:
            [e async for e in events]
    assert two_keys.ring.retired(0) and two_keys.ring.retired(1)


async def test_token_counts_fail_once_every_key_is_out(emu: VendorEmulator) -> None:
    client = openai.AsyncOpenAI(api_key="sk-unused-base", base_url=f"{emu.url_for('keys')}/v1", max_retries=0)
    adapter = rotating(client, [WeightedKey(KEY_A), WeightedKey(KEY_B)],
                       lambda c: OpenAIAdapter(c, provider="primary", options=OpenAIOptions(
                           api="responses", count_tokens_endpoint=True)), provider="primary")
    try:
        emu.script(Fault.http(403), tag="keys", then=Fault.http(403))
        with pytest.raises(PermissionDenied):
            await adapter.count_tokens(ask())
        assert len(emu.journal.entries(tag="keys")) == 2
    finally:
        await adapter.aclose()


class Silent:
    """A per-key port whose stream ends without a single event."""

    def __init__(self) -> None:
        self.closed = False

    async def complete(self, request: CompletionRequest) -> Completion:
        raise AssertionError("not called")

    @asynccontextmanager
    async def _events(self) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        async def none() -> AsyncIterator[StreamEvent]:
            return
            yield

        yield none()

    def stream(self, request: CompletionRequest) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        return self._events()

    async def count_tokens(self, request: CompletionRequest) -> int:
        return 0

    async def aclose(self) -> None:
        self.closed = True


async def test_an_empty_stream_is_passed_on_empty_and_counted_served() -> None:
    first, second = Silent(), Silent()
    made = iter([first, second])
    adapter = rotating_ports([WeightedKey("k-one-0001"), WeightedKey("k-two-0002")], lambda key: next(made),
                             provider="silent")
    async with adapter.stream(ask()) as events:
        assert [e async for e in events] == []
    assert sum(u.served for u in adapter.usage().values()) == 1
    await adapter.aclose()
    assert first.closed and not second.closed  # one shared client: closing the first closes it


def test_a_ring_needs_keys_and_one_port_per_key() -> None:
    with pytest.raises(ValueError, match="api_keys lists no key"):
        rotating_ports([], lambda key: Silent(), provider="none")
    adapter = rotating_ports([WeightedKey("sk-secret-key-1234", 2)], lambda key: Silent(), provider="one")
    with pytest.raises(ValueError, match="one adapter per key"):
        KeyRotatingAdapter([Silent(), Silent()], adapter.ring, provider="one")
    assert repr(adapter) == "KeyRotatingAdapter(one, keys=[…1234])"
    assert repr(WeightedKey("sk-secret-key-1234", 2)) == "WeightedKey(…1234, weight=2)"
