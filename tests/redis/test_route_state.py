"""``RedisPolicyState`` beyond the contract: each fleet-wide transition, keys and TTLs, the
half-open probe race, a dead probe, Redis killed and restarted mid-run, and a Redis Cluster node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from llmport.adapters.redis import RedisConnection
from llmport.adapters.redis.route_state import RedisPolicyState
from llmport.adapters.redis.server import RedisServer
from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import CompletionRequest, Message, ProviderUnavailable
from llmport.ports import (
    BreakerConfig,
    BreakerTransition,
    FailoverPolicy,
    PolicyConfig,
    RetryBudget,
    RetryPolicy,
    Route,
)

R = "p/model-a"
Fleet = Callable[..., Awaitable[RedisPolicyState]]


@pytest.fixture
async def fleet(redis_url: str) -> AsyncIterator[Fleet]:
    """Makes replicas: each its own connection to one Redis, one namespace."""
    made: list[RedisPolicyState] = []

    async def make(breaker: BreakerConfig | None = None, budget: RetryBudget | None = None, *,
                   url: str = redis_url, call_timeout: float = 1.0, retry_interval: float = 0.5, wait: float = 5.0,
                   routes: tuple[str, ...] = (), **kwargs: object) -> RedisPolicyState:
        connection = RedisConnection(url, namespace="fleet", timeout=call_timeout, retry_interval=retry_interval)
        state = RedisPolicyState(connection, breaker or BreakerConfig(failure_threshold=3, cooldown=10.0), budget,
                                 owns_connection=True, **kwargs)  # type: ignore[arg-type]
        await state.start(wait, routes)
        made.append(state)
        return state

    yield make
    for state in made:
        await state.aclose()


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (polling) until ``condition`` holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def fail(state: RedisPolicyState, now: float, route: str = R) -> None:
    permit = await state.admit(route, now)
    assert permit is not None
    state.record_failure(permit, now)


async def succeed(state: RedisPolicyState, now: float, route: str = R) -> None:
    permit = await state.admit(route, now)
    assert permit is not None
    state.record_success(permit, now)


# -- fleet-wide transitions ----------------------------------------------------------------------

async def test_consecutive_failures_count_across_replicas(fleet: Fleet) -> None:
    a, b, c = await fleet(), await fleet(), await fleet()
    now = time.monotonic()
    for replica in (a, b, c):  # one failure each: no replica alone reaches the threshold of 3
        await fail(replica, now)
        assert replica.breaker_state(R, now) == "closed"
        await asyncio.sleep(0.05)  # each failure reaches Redis before the next
    await until(lambda: all(s.breaker_state(R, now) == "open" for s in (a, b, c)))
    assert [await s.admit(R, now + 1) for s in (a, b, c)] == [None, None, None]


async def test_a_new_replica_honours_an_open_breaker_from_its_first_request(fleet: Fleet) -> None:
    a = await fleet()
    now = time.monotonic()
    for _ in range(3):
        await fail(a, now)
    await until(lambda: a.breaker_state(R, now) == "open")
    await asyncio.sleep(0.2)  # the opening is in Redis (and was published before the new replicas listened)
    told = await fleet(routes=(R,))  # the container passes every configured route at start-up
    assert told.breaker_state(R, now) == "open"
    assert await told.admit(R, now + 0.01) is None
    untold = await fleet()  # a route it never heard of: learned only after its first request
    assert await untold.admit(R, now + 0.01) is not None


async def test_a_success_anywhere_resets_the_fleets_consecutive_failures(fleet: Fleet) -> None:
    a, b = await fleet(), await fleet()
    now = time.monotonic()
    await fail(a, now)
    await fail(a, now)
    await asyncio.sleep(0.1)
    await succeed(b, now)
    await asyncio.sleep(0.1)
    await fail(b, now)
    await asyncio.sleep(0.2)
    assert a.breaker_state(R, now) == "closed"
    assert b.breaker_state(R, now) == "closed"


async def test_the_fleets_failure_rate_trips_where_no_replica_alone_would(fleet: Fleet) -> None:
    breaker = BreakerConfig(failure_threshold=100, failure_rate=0.5, min_calls=10, window=30.0, cooldown=10.0)
    replicas = [await fleet(breaker) for _ in range(4)]
    now = time.monotonic()
    for replica in replicas:  # 3 calls each: under min_calls=10 on every replica
        await fail(replica, now)
        await succeed(replica, now)
        await fail(replica, now)
        await asyncio.sleep(0.05)
    await until(lambda: all(s.breaker_state(R, now) == "open" for s in replicas))


async def test_a_lockout_reaches_every_replica_with_its_error(fleet: Fleet) -> None:
    a, b = await fleet(), await fleet()
    seen: list[BreakerTransition] = []
    b.listen(seen.append)
    now = time.monotonic()
    permit = await a.admit(R, now)
    assert permit is not None
    a.record_lockout(permit, now, 300.0, "AuthenticationFailed")
    await until(lambda: b.breaker_state(R, now) == "open")
    assert b.retry_in(R, now + 100) == pytest.approx(200.0, abs=0.01)
    assert [(t.old, t.new, t.error) for t in seen] == [("closed", "open", "AuthenticationFailed")]
    assert seen[0].reason == "credentials rejected (AuthenticationFailed)"


async def test_the_retry_budget_is_the_fleets(fleet: Fleet) -> None:
    budget = RetryBudget(0.5, min_retries=0, window=10.0)
    a, b = await fleet(budget=budget), await fleet(budget=budget)
    now = time.monotonic()
    assert not b.reserve_retry(now)  # no request anywhere yet: no retry
    for _ in range(10):
        a.note_request(now)
    await asyncio.sleep(0.2)  # a's requests reach Redis; b learns them with its next refresh
    granted = [b.reserve_retry(now) for _ in range(7)]
    assert granted == [True] * 5 + [False] * 2  # half the fleet's 10 requests, though b had none
    await asyncio.sleep(0.2)
    assert not a.reserve_retry(now)  # a sees b's retries: the fleet's budget is spent


async def test_in_flight_counts_and_latency_are_the_fleets(fleet: Fleet) -> None:
    a, b = await fleet(), await fleet()
    now = time.monotonic()
    assert await b.admit(R, now) is not None  # b uses the route: keeps it refreshed
    for _ in range(3):
        a.in_flight_up(R)
    a.observe_latency(R, now, 0.8, 0.2)
    await until(lambda: b.stats()[R].in_flight == 3 and b.stats()[R].ttft_ewma is not None)
    assert b.stats()[R].ttft_ewma == pytest.approx(0.2)
    assert b.stats()[R].total_ewma == pytest.approx(0.8)
    b.in_flight_up(R)
    assert b.stats()[R].in_flight == 4  # its own at once, the others' as last learned
    for _ in range(3):
        a.in_flight_down(R)
    await until(lambda: b.stats()[R].in_flight == 1)
    b.observe_latency(R, now, 1.8, None)
    await until(lambda: a.stats()[R].total_ewma is not None and a.stats()[R].total_ewma > 0.8)
    assert a.stats()[R].total_ewma == pytest.approx(0.3 * 1.8 + 0.7 * 0.8)


async def test_a_dead_replicas_in_flight_count_is_dropped(fleet: Fleet) -> None:
    a, b = await fleet(interval=0.02), await fleet(interval=0.02)  # counts expire after 2 s unrefreshed
    now = time.monotonic()
    assert await b.admit(R, now) is not None
    a.in_flight_up(R)
    await until(lambda: b.stats()[R].in_flight == 1)
    await a.aclose()  # a dies with a call in flight
    await until(lambda: b.stats()[R].in_flight == 0, within=6.0)


async def test_a_probe_that_dies_frees_the_slot_after_its_ttl(fleet: Fleet) -> None:
    a, b = await fleet(probe_ttl=5.0), await fleet(probe_ttl=5.0)
    now = time.monotonic()
    for _ in range(3):
        await fail(a, now)
    await until(lambda: b.breaker_state(R, now) == "open")
    probe = await a.admit(R, now + 10)
    assert probe is not None and probe.probe
    await a.aclose()  # a dies before its probe reports
    assert await b.admit(R, now + 12) is None  # the probe is still out
    taken = await b.admit(R, now + 16)  # 5 s later its token has expired
    assert taken is not None and taken.probe
    b.record_success(taken, now + 16)
    assert b.breaker_state(R, now + 16) == "closed"


async def test_a_retry_after_shorter_than_one_already_known_never_shortens_it(fleet: Fleet) -> None:
    a, b = await fleet(), await fleet()
    now = time.monotonic()
    a.note_retry_after(R, now, 30.0)
    await until(lambda: b.retry_in(R, now) > 29)
    b.note_retry_after(R, now, 1.0)
    await asyncio.sleep(0.2)
    assert a.retry_in(R, now + 2) == pytest.approx(28.0, abs=0.01)
    assert await a.admit(R, now + 2) is None


async def test_two_replicas_race_for_the_probe_100_times_and_exactly_one_wins(fleet: Fleet) -> None:
    a, b = await fleet(), await fleet()
    t = time.monotonic()
    for _ in range(3):
        await fail(a, t)
    await until(lambda: b.breaker_state(R, t) == "open")
    winners = []
    for round_ in range(100):
        t += 100.0  # past the cooldown and any earlier probe's expiry
        permits = await asyncio.gather(a.admit(R, t), b.admit(R, t), a.admit(R, t), b.admit(R, t))
        probes = [p for p in permits if p is not None]
        assert len(probes) == 1, f"round {round_}: {permits}"
        assert probes[0].probe
        winner = a if permits[0] is not None or permits[2] is not None else b
        winners.append(winner)
        winner.record_failure(probes[0], t)  # still down: reopened for another round
    assert {id(w) for w in winners} == {id(a), id(b)}  # both replicas won some rounds


async def test_every_key_is_namespaced_hash_tagged_and_expires(fleet: Fleet, redis_url: str) -> None:
    a = await fleet()
    now = time.monotonic()
    for _ in range(3):
        await fail(a, now)
    a.note_request(now)
    a.reserve_retry(now)
    a.in_flight_up(R)
    a.observe_latency(R, now, 0.1, 0.05)
    a.note_retry_after("q/other", now, 5.0)
    await asyncio.sleep(0.3)
    client = redis.Redis.from_url(redis_url)
    try:
        keys = sorted(k.decode() for k in client.keys("*"))
        assert keys == [
            "fleet:{budget}", "fleet:{route:p/model-a}:breaker", "fleet:{route:p/model-a}:inflight",
            "fleet:{route:p/model-a}:stats", "fleet:{route:q/other}:breaker",
        ]
        assert all(client.pttl(k) > 0 for k in keys)
        route_keys = [k for k in keys if "p/model-a" in k]
        assert len({key_slot(k.encode()) for k in route_keys}) == 1
    finally:
        client.close()


# -- Redis down and back ---------------------------------------------------------------------------

async def test_redis_killed_mid_run_fails_no_request_and_state_resynchronises(
        own_redis: RedisServer, fleet: Fleet) -> None:
    a = await fleet(url=own_redis.url, call_timeout=0.3, retry_interval=0.05)
    b = await fleet(url=own_redis.url, call_timeout=0.3, retry_interval=0.05)
    primary = FakeLLM(default="primary answer", name="primary")
    backup = FakeLLM(default="backup answer", name="backup")
    policy = FailoverPolicy.of(Route("primary", "m", primary), Route("backup", "m", backup),
                               aliases={"smart": [Route("primary", "m", primary), Route("backup", "m", backup)]},
                               config=PolicyConfig(retry=RetryPolicy(1, 0, 0)), state=a)
    request = CompletionRequest("smart", [Message.user("hi")])
    for _ in range(5):
        assert (await policy.complete(request)).text == "primary answer"
    assert await b.admit("primary/m", time.monotonic()) is not None  # b serves the same route

    own_redis.kill()
    primary.default = ProviderUnavailable("primary down", status=503)
    answers = [(await policy.complete(request)).text for _ in range(20)]
    assert answers[-1] == "backup answer"
    assert set(answers) == {"backup answer"}  # every request answered while Redis was down
    assert a.breaker_state("primary/m", time.monotonic()) == "open"  # decided locally
    assert len(primary.requests) == 5 + 3  # the local breaker still caps the outage's traffic
    await until(lambda: a.connection.health.degraded)  # found by the background writes
    assert b.breaker_state("primary/m", time.monotonic()) == "closed"  # b cannot know yet

    own_redis.start()  # back, empty: a's breaker is opened for the fleet again
    await until(lambda: b.breaker_state("primary/m", time.monotonic()) == "open")
    assert await b.admit("primary/m", time.monotonic()) is None
    assert not a.connection.health.degraded
    assert a.connection.health.failures >= 1  # the outage was noticed (and logged once per outage)
    assert (await policy.complete(request)).text == "backup answer"
    await policy.aclose()


async def test_an_unreachable_redis_costs_one_timeout_then_nothing(fleet: Fleet) -> None:
    state = await fleet(url="redis://127.0.0.1:1/0", call_timeout=0.05, retry_interval=60.0, wait=0.1)
    now = time.monotonic()
    for _ in range(3):
        await fail(state, now)
    assert state.breaker_state(R, now) == "open"
    probe = await state.admit(R, now + 10)  # Redis unreachable: a local probe, at most one
    assert probe is not None and probe.probe
    assert await state.admit(R, now + 10) is None
    state.record_success(probe, now + 10)
    assert state.breaker_state(R, now + 10) == "closed"
    assert state.reserve_retry(now) is True  # the local budget (10 in reserve)
    assert state.connection.health.failures == 1


# -- Redis Cluster ------------------------------------------------------------------------------------

@pytest.fixture
def cluster_node(tmp_path: Path) -> RedisServer:
    """A one-node Redis Cluster owning every slot: it refuses any multi-key call across slots."""
    server = RedisServer(extra_args=("--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / "nodes.conf")))
    server.start()
    client = redis.Redis(port=server.port)
    client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    deadline = time.monotonic() + 10
    while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.close()
    return server


async def test_the_scripts_run_on_a_redis_cluster_node(cluster_node: RedisServer, fleet: Fleet) -> None:
    try:
        a = await fleet(url=cluster_node.url)
        b = await fleet(url=cluster_node.url)
        now = time.monotonic()
        for _ in range(3):
            await fail(a, now)
        a.note_request(now)
        await until(lambda: b.breaker_state(R, now) == "open")
        probe = await b.admit(R, now + 10)
        assert probe is not None and probe.probe
        b.record_success(probe, now + 10)
        await until(lambda: a.breaker_state(R, now + 10) == "closed")
        assert not a.connection.health.degraded and not b.connection.health.degraded
    finally:
        cluster_node.close()

