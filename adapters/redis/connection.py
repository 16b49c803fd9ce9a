"""``RedisConnection``: one deployment's Redis, shared by every llmport component that keeps state."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .health import Degradation
from .keys import RedisKeys, check_url, redact_url

T = TypeVar("T")

# What an unreachable, slow or failing Redis raises through redis-py (TimeoutError: our own bound).
UNAVAILABLE: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


class RedisConnection:
    """A Redis URL, a key namespace and the clients built from them.

    ``call`` is how state is read and written: it bounds the command by ``timeout`` seconds (socket,
    connect and the whole call), and on any Redis failure returns the caller's ``default`` instead
    of raising, marking the connection degraded (see ``Degradation``) so that the next calls skip
    Redis until it answers again. ``client`` gives the redis-py asyncio client for direct use.
    The URL, which may carry a password, is never shown: ``where`` is its redacted form.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "llmport",
        timeout: float = 0.05,
        retry_interval: float = 0.5,
        logger: Any = None,
    ) -> None:
        check_url(url)
        if timeout <= 0 or retry_interval < 0:
            raise ValueError("the Redis timeout must be positive and retry_interval not negative")
        self._url = url
        self.where = redact_url(url)
        self.keys = RedisKeys(namespace)
        self.timeout = timeout
        self.health = Degradation(self.where, retry_interval=retry_interval, logger=logger)
        self._clients: dict[float | None, Redis] = {}

    @property
    def namespace(self) -> str:
        return self.keys.namespace

    def client(self, timeout: float | None = None) -> Redis:
        """The redis-py asyncio client whose socket and connect timeouts are ``timeout`` seconds
        (default: the state timeout). One client and pool per distinct timeout; redis-py's own
        retries are off (callers fall back instead)."""
        return self._client(self.timeout if timeout is None else timeout)

    def subscriber(self) -> Redis:
        """A client without a read timeout, for pub/sub listeners (connecting is still bounded)."""
        return self._client(None)

    def _client(self, seconds: float | None) -> Redis:
        found = self._clients.get(seconds)
        if found is None:
            found = self._clients[seconds] = Redis.from_url(
                self._url,
                socket_timeout=seconds,
                socket_connect_timeout=seconds if seconds is not None else self.timeout * 4,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=0,
            )
        return found

    async def call(self, operation: Callable[[Redis], Awaitable[T]], default: T, *,
                   within: float | None = None) -> T:
        """``await operation(client)`` within ``within`` seconds (default: the state timeout), or
        ``default`` when Redis is degraded, unreachable, slow or answers an error."""
        health = self.health
        if not health.should_try():
            return default
        seconds = self.timeout if within is None else within
        try:
            async with asyncio.timeout(seconds):
                result = await operation(self.client(seconds))
        except UNAVAILABLE as exc:
            health.failed(exc)
            return default
        health.succeeded()
        return result

    async def ping(self) -> bool:
        """Whether Redis answers now (and record the answer in ``health``)."""
        async def op(client: Redis) -> bool:
            return bool(await client.ping())
        return await self.call(op, False)

    async def aclose(self) -> None:
        """Close every client's connections (idempotent)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def __repr__(self) -> str:
        return f"RedisConnection({self.where!r}, namespace={self.namespace!r})"
