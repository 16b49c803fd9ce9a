"""The shared Redis connection: keys, URLs, bounded calls, degradation and recovery, against a real
``redis-server``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from llmport.adapters.redis import RedisConnection, RedisKeys, check_namespace, check_url, redact_url
from llmport.adapters.redis.health import Degradation
from llmport.adapters.redis.server import RedisServer


class RecordingLogger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append(("warning", event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append(("info", event, fields))

    def events(self) -> list[str]:
        return [event for _, event, _ in self.lines]


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- keys ----------------------------------------------------------------------------------------

def test_keys_carry_the_namespace_and_a_hash_tag() -> None:
    keys = RedisKeys("prod")
    assert keys.key("route:openai/gpt-4o", "breaker") == "prod:{route:openai/gpt-4o}:breaker"
    assert keys.key("budget") == "prod:{budget}"
    assert keys.channel("routes") == "prod:routes"
    assert RedisKeys().namespace == "llmport"


def test_braces_in_names_cannot_move_a_key_to_another_slot() -> None:
    keys = RedisKeys()
    assert keys.key("ro{ute}", "a}b{") == "llmport:{ro%7Bute%7D}:a%7Db%7B"
    assert keys.key("100%", "x") == "llmport:{100%25}:x"
    assert keys.channel("{c}") == "llmport:%7Bc%7D"
    with pytest.raises(ValueError, match="tag"):
        keys.key("", "x")  # "{}" is no hash tag: the key would land anywhere


@settings(max_examples=200, deadline=None)
@given(tag=st.text(min_size=1, max_size=20), a=st.text(max_size=10), b=st.text(max_size=10))
def test_every_key_of_one_tag_is_in_one_cluster_slot(tag: str, a: str, b: str) -> None:
    keys = RedisKeys("ns")
    first, second = keys.key(tag, a), keys.key(tag, b, "more")
    assert key_slot(first.encode()) == key_slot(second.encode())
    assert key_slot(first.encode()) == key_slot(keys.key(tag).encode())


@settings(max_examples=100, deadline=None)
@given(one=st.text(min_size=1, max_size=12), other=st.text(min_size=1, max_size=12))
def test_different_names_never_build_the_same_key(one: str, other: str) -> None:
    keys = RedisKeys()
    if one != other:
        assert keys.key(one, "x") != keys.key(other, "x")
        assert keys.key("t", one) != keys.key("t", other)


@pytest.mark.parametrize("namespace", ["", "a b", "x{y}", "é", "n" * 65, "a\nb"])
def test_bad_namespaces_are_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        RedisKeys(namespace)
    with pytest.raises(ValueError, match="namespace"):
        check_namespace(namespace)


@pytest.mark.parametrize("namespace", ["llmport", "prod-eu.1", "team:app_2", "n" * 64])
def test_good_namespaces_are_accepted(namespace: str) -> None:
    assert RedisKeys(namespace).namespace == namespace


# -- URLs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["redis://localhost", "rediss://u:p@cache.example:6380/2", "unix:///tmp/r.sock",
                                 "redis://:pw@10.0.0.1:6379/0"])
def test_redis_urls_are_accepted(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(("url", "why"), [
    ("http://u:hunter2@host", "scheme"), ("hunter2", "scheme"), ("redis://:hunter2@", "host"),
    ("unix://", "socket path"), ("redis://:hunter2@host:99999", "valid URL"),
])
def test_bad_urls_are_refused_without_echoing_them(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as info:
        check_url(url)
    assert "hunter2" not in str(info.value)
    with pytest.raises(ValueError, match=why) as again:
        RedisConnection(url)
    assert "hunter2" not in str(again.value)


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:hunter2@h:1/0", "redis://:***@h:1/0"),
    ("rediss://admin:hunter2@h/0", "rediss://admin:***@h/0"),
    ("redis://h:6379/0", "redis://h:6379/0"),
    ("unix:///s.sock?db=1&password=hunter2", "unix:///s.sock?db=1&password=***"),
    ("redis://:hunter2@[::1", "<unparseable redis URL>"),
])
def test_redacted_urls_hide_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_the_connection_never_shows_its_password() -> None:
    connection = RedisConnection("redis://user:hunter2@localhost:6379/0", namespace="app")
    assert "hunter2" not in repr(connection)
    assert connection.where == "redis://user:***@localhost:6379/0"
    assert repr(connection) == "RedisConnection('redis://user:***@localhost:6379/0', namespace='app')"
    assert connection.namespace == "app"


@pytest.mark.parametrize(("timeout", "retry_interval"), [(0, 0.5), (-1, 0.5), (0.05, -1)])
def test_bad_timeouts_are_refused(timeout: float, retry_interval: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        RedisConnection("redis://localhost", timeout=timeout, retry_interval=retry_interval)


def test_clients_get_the_state_timeout_and_no_redis_py_retries() -> None:
    connection = RedisConnection("rediss://localhost:6380/0", timeout=0.03)
    client = connection.client()
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 0.03
    assert kwargs["socket_connect_timeout"] == 0.03
    assert kwargs["retry"].get_retries() == 0
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"  # rediss:// is TLS
    assert connection.client() is client
    assert connection.client(0.03) is client
    slow = connection.client(2.0)
    assert slow is not client
    assert slow.connection_pool.connection_kwargs["socket_timeout"] == 2.0
    listener = connection.subscriber()
    assert listener.connection_pool.connection_kwargs["socket_timeout"] is None
    assert listener.connection_pool.connection_kwargs["socket_connect_timeout"] == pytest.approx(0.12)


# -- calls against a real server -----------------------------------------------------------------

async def test_calls_read_and_write_real_redis(redis_connection: RedisConnection) -> None:
    key = redis_connection.keys.key("t", "k")

    async def write(client: redis.asyncio.Redis) -> bool:
        return bool(await client.set(key, b"v", px=10_000))

    async def read(client: redis.asyncio.Redis) -> bytes | None:
        value: bytes | None = await client.get(key)
        return value

    assert await redis_connection.call(write, False) is True
    assert await redis_connection.call(read, None) == b"v"
    assert await redis_connection.ping() is True
    assert not redis_connection.health.degraded


async def test_an_outage_degrades_once_skips_redis_and_recovers(own_redis: RedisServer) -> None:
    log = RecordingLogger()
    connection = RedisConnection(own_redis.url, timeout=1.0, retry_interval=0.0, logger=log)
    recovered: list[int] = []
    connection.health.on_recover(lambda: recovered.append(1))
    try:
        assert await connection.ping() is True
        own_redis.kill()
        assert [await connection.ping() for _ in range(5)] == [False] * 5
        assert connection.health.degraded
        assert log.events() == ["redis.degraded"]  # logged once for the whole outage
        level, _, fields = log.lines[0]
        assert level == "warning"
        assert fields["redis"] == own_redis.url
        assert fields["error"] in {"ConnectionError", "TimeoutError", "ConnectionRefusedError"}
        assert recovered == []

        own_redis.start()
        assert await connection.ping() is True
        assert not connection.health.degraded
        assert log.events() == ["redis.degraded", "redis.recovered"]
        assert recovered == [1]
        assert connection.health.failures == 1
    finally:
        await connection.aclose()


async def test_while_degraded_calls_skip_redis_until_the_retry_interval(own_redis: RedisServer) -> None:
    connection = RedisConnection(own_redis.url, timeout=1.0, retry_interval=3600.0, logger=RecordingLogger())
    sent: list[int] = []

    async def op(client: redis.asyncio.Redis) -> str:
        sent.append(1)
        await client.ping()
        return "answered"

    try:
        own_redis.kill()
        assert await connection.call(op, "fallback") == "fallback"
        own_redis.start()
        # Redis is back, but the connection does not try again before the retry interval.
        assert [await connection.call(op, "fallback") for _ in range(3)] == ["fallback"] * 3
        assert sent == [1]
    finally:
        await connection.aclose()


async def test_a_stalled_redis_is_abandoned_after_the_timeout(redis_server: RedisServer, redis_url: str) -> None:
    connection = RedisConnection(redis_url, timeout=0.3, logger=RecordingLogger())
    admin = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert await connection.ping() is True
        await admin.client_pause(1000)  # the server answers nobody for 1 s
        assert await connection.ping() is False
        assert connection.health.degraded
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
        await connection.aclose()


async def test_an_error_reply_falls_back_too(redis_connection: RedisConnection) -> None:
    async def bad(client: redis.asyncio.Redis) -> str:
        await client.execute_command("NO-SUCH-COMMAND")
        return "impossible"

    assert await redis_connection.call(bad, "fallback") == "fallback"
    assert redis_connection.health.degraded


async def test_cancellation_is_never_swallowed(redis_connection: RedisConnection) -> None:
    async def forever(client: redis.asyncio.Redis) -> str:
        await asyncio.Event().wait()
        return "never"

    task = asyncio.ensure_future(redis_connection.call(forever, "fallback", within=60))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not redis_connection.health.degraded


async def test_aclose_is_idempotent(redis_url: str) -> None:
    connection = RedisConnection(redis_url)
    await connection.ping()
    await connection.aclose()
    await connection.aclose()


# -- the degradation tracker ---------------------------------------------------------------------

def test_degradation_retries_once_per_interval() -> None:
    clock, log = ManualClock(), RecordingLogger()
    health = Degradation("redis://h", retry_interval=0.5, clock=clock, logger=log)
    assert health.should_try() and not health.degraded
    health.succeeded()
    assert log.lines == []  # nothing to recover from
    health.failed(TimeoutError())
    assert health.degraded and not health.should_try()
    clock.now += 0.49
    assert not health.should_try()
    clock.now += 0.01
    assert health.should_try()
    health.failed(OSError())  # still down: no second warning, next try pushed back
    assert not health.should_try()
    assert log.events() == ["redis.degraded"]
    assert log.lines[0][2] == {"redis": "redis://h", "error": "TimeoutError", "fallback": "local state",
                               "retry_every_s": 0.5}
    clock.now += 2.0
    health.succeeded()
    assert log.lines[1] == ("info", "redis.recovered", {"redis": "redis://h", "degraded_s": 2.5})
    assert health.failures == 1
    health.failed(TimeoutError())
    assert health.failures == 2
    assert log.events() == ["redis.degraded", "redis.recovered", "redis.degraded"]


def test_a_broken_log_sink_never_breaks_the_fallback() -> None:
    class Broken:
        def warning(self, event: str, **fields: Any) -> None:
            raise ValueError("I/O operation on closed file.")

        info = warning

    health = Degradation("redis://h", logger=Broken())
    health.failed(TimeoutError())
    assert health.degraded
    health.succeeded()
    assert not health.degraded
