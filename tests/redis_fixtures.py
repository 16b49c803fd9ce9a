"""Redis fixtures (imported by ``tests/conftest.py``, so every test can use them).

``redis_server``: one real ``redis-server`` for the whole session (free loopback port, no
persistence). ``redis_url``: that server, emptied for this test (and started again if an earlier
test killed it). ``own_redis``: a server of the test's own, to ``kill()`` and ``start()`` mid-test
on the same port (an outage). ``redis_connection``: a ``RedisConnection`` to ``redis_url`` in a
namespace of the test's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from llmport.adapters.redis import RedisConnection
from llmport.adapters.redis.server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def redis_connection(redis_url: str) -> AsyncIterator[RedisConnection]:
    # A generous timeout: on a busy CI machine 50 ms can pass without Redis being at fault.
    connection = RedisConnection(redis_url, namespace="test", timeout=2.0)
    yield connection
    await connection.aclose()
