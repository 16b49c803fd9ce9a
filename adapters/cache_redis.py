"""``RedisResponseCache``: the response cache shared by every replica, in the deployment's Redis.

Entries live under the shared connection's namespace with a TTL (``<ns>:{cache:<key>}:answer``),
stored in the versioned form of ``ports.cache_codec``: an entry that is corrupted, foreign or of
another format is a miss. Redis down, slow or failing is a miss and a skipped write, never an
error (the connection answers its default and logs the degradation once). The fill claim is a
short ``SET NX PX`` lock with a random owner token, released only by its owner.
"""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

from llmport.adapters.redis import RedisConnection
from llmport.domain import Completion
from llmport.ports.cache_codec import CacheDataError, Uncacheable, decode, encode

# Deletes the lock only when it still holds this process's token (a lock that expired and was
# taken by another replica is left alone).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisResponseCache:
    """A ``ResponseCache`` over the shared ``RedisConnection``. ``write_timeout`` bounds a write
    (answers may be larger than state values); reads use the connection's state timeout."""

    def __init__(self, connection: RedisConnection, *, write_timeout: float = 0.25) -> None:
        self.connection = connection
        self.write_timeout = write_timeout
        self._tokens: dict[str, str] = {}

    def _key(self, key: str, part: str) -> str:
        return self.connection.keys.key(f"cache:{key}", part)

    async def get(self, key: str) -> Completion | None:
        name = self._key(key, "answer")

        async def read(client: Redis) -> bytes | None:
            value = await client.get(name)
            return value if isinstance(value, bytes) else None

        data = await self.connection.call(read, None)
        if data is None:
            return None
        try:
            return decode(key, data)
        except CacheDataError:
            return None

    async def put(self, key: str, completion: Completion, ttl: float) -> None:
        try:
            data = encode(key, completion)
        except Uncacheable:
            return
        name, millis = self._key(key, "answer"), max(1, int(ttl * 1000))

        async def write(client: Redis) -> None:
            await client.set(name, data, px=millis)

        await self.connection.call(write, None, within=self.write_timeout)

    async def acquire(self, key: str, ttl: float) -> bool:
        name, token, millis = self._key(key, "lock"), secrets.token_hex(8), max(1, int(ttl * 1000))

        async def claim(client: Redis) -> bool | None:
            return bool(await client.set(name, token, nx=True, px=millis))

        won = await self.connection.call(claim, None)
        if won is None:  # Redis unavailable: nobody can coordinate, so this process fills
            return True
        if won:
            self._tokens[key] = token
        return won

    async def release(self, key: str) -> None:
        token = self._tokens.pop(key, None)
        if token is None:
            return
        name = self._key(key, "lock")

        async def free(client: Redis) -> None:
            await client.eval(_RELEASE, 1, name, token)

        await self.connection.call(free, None)
