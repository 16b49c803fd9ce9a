"""``RedisKeyStates``: every key ring's per-key state shared by the replicas through Redis.

Each replica answers its key rings from a local view (cooling instants, retired keys, usage) and
never waits for Redis on a request. What it learns is queued and sent by a background task: a
cooling (429) or a retirement (401/403) at once, usage counts every ``interval``; the same script
call returns the ring's shared state, so every replica learns within ``interval`` that a key is
cooling or out, and the fleet's usage counts.

One hash per ring (provider), hash tag ``keys:<ring>``, fields per key id (never the key):
``c:<id>`` cooling until (wall-clock ms; a later one never shortens), ``x:<id>`` out of rotation,
``s:``/``l:``/``r:``/``f:<id>`` calls served / rate limited / rejected / failed. The hash expires
``ttl`` after its last write (longer while a key cools): a retirement outlives a restart for that
long, and a ring no replica uses disappears.

Redis is never a single point of failure: when it is down or slow (``RedisConnection.call``) the
replica keeps its local view and what is queued, and sends it once Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from llmport.ports.keyring_state import OUTCOMES, KeyOutcome, KeyUsage

from .background import sync_loop
from .connection import RedisConnection

#: Applies one replica's queued ops to a ring's hash and returns the whole hash. ARGV: wall-clock
#: ms, time to live (ms), then ops: ``C|id|until`` cool until, ``X|id`` retire, ``U|id|s|l|r|f`` counts.
SCRIPT = r"""
local H = KEYS[1]
local wall, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV do
  local kind, id, rest = string.match(ARGV[i], '^(%a)|([^|]+)|?(.*)$')
  if kind == 'C' then
    if tonumber(rest) > tonumber(redis.call('HGET', H, 'c:' .. id) or '0') then
      redis.call('HSET', H, 'c:' .. id, rest)
    end
  elseif kind == 'X' then
    redis.call('HSET', H, 'x:' .. id, '1')
  elseif kind == 'U' then
    local n = 0
    for count in string.gmatch(rest, '[^|]+') do
      n = n + 1
      if count ~= '0' then redis.call('HINCRBY', H, string.sub('slrf', n, n) .. ':' .. id, count) end
    end
  end
end
local all = redis.call('HGETALL', H)
if #ARGV > 2 then
  local keep = 0
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'c:' then keep = math.max(keep, tonumber(all[i + 1]) - wall) end
  end
  redis.call('PEXPIRE', H, ttl + keep)
end
return all
"""

_ACTIVE = 60.0  # a ring used within this many seconds is refreshed every interval
_FIELDS = {"s": 0, "l": 1, "r": 2, "f": 3}


class _Ring:
    """This replica's view of one ring."""

    __slots__ = ("cool", "fleet", "ops", "pending", "retired", "sending", "used")

    def __init__(self) -> None:
        self.cool: dict[str, float] = {}  # key id -> cooling until (monotonic)
        self.retired: set[str] = set()
        self.fleet: dict[str, KeyUsage] = {}  # as Redis last answered (includes what this replica sent)
        self.pending: dict[str, list[int]] = {}  # counted here, not sent yet (OUTCOMES order)
        self.sending: dict[str, list[int]] = {}  # sent, not answered yet
        self.ops: list[str] = []
        self.used = time.monotonic()


class RedisKeyStates:
    """A ``KeyStates`` shared through Redis (see the module docstring).

    ``interval``: how often usage is sent and used rings refreshed; ``ttl``: how long a ring's
    state outlives its last write. The connection is closed by ``aclose`` only when
    ``owns_connection``.
    """

    def __init__(self, connection: RedisConnection, *, interval: float = 0.1, ttl: float = 86_400.0,
                 owns_connection: bool = False) -> None:
        if interval <= 0 or ttl <= 0:
            raise ValueError("interval and ttl must be positive")
        self.connection = connection
        self.interval = interval
        self._ttl_ms = int(ttl * 1000)
        self._owns = owns_connection
        self._offset = time.time() - time.monotonic()
        self._rings: dict[str, _Ring] = {}
        self._script = connection.client().register_script(SCRIPT)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"RedisKeyStates({self.connection!r})"

    # -- lifecycle ----------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._task is None and not self._closed:
            with contextlib.suppress(RuntimeError):  # no running loop: the next call in one starts it
                asyncio.get_running_loop()
                self._task = asyncio.ensure_future(self._run())

    async def start(self) -> None:
        """Start the background work and learn the watched rings' shared state now (optional: the
        first use inside an event loop starts it, and the state arrives within ``interval``)."""
        self._start()
        await self.sync()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await asyncio.wait([task], timeout=self.connection.timeout * 8)
        await self.sync()  # best effort: what is still queued
        if self._owns:
            await self.connection.aclose()

    # -- KeyStates ----------------------------------------------------------------------------------

    def _ring(self, ring: str) -> _Ring:
        found = self._rings.get(ring)
        if found is None:
            found = self._rings[ring] = _Ring()
            self._wake.set()  # learn its shared state soon
        found.used = time.monotonic()
        self._start()
        return found

    def watch(self, ring: str) -> None:
        self._ring(ring)

    def cooling_for(self, ring: str, key: str, now: float) -> float:
        return max(0.0, self._ring(ring).cool.get(key, now) - now)

    def retired(self, ring: str, key: str) -> bool:
        return key in self._ring(ring).retired

    def cool(self, ring: str, key: str, now: float, seconds: float) -> None:
        if seconds <= 0:
            return
        r = self._ring(ring)
        until = now + seconds
        if until > r.cool.get(key, now):  # a shorter one changes nothing, here or for the fleet
            r.cool[key] = until
            r.ops.append(f"C|{key}|{round((until + self._offset) * 1000)}")
            self._wake.set()

    def retire(self, ring: str, key: str) -> bool:
        r = self._ring(ring)
        if key in r.retired:
            return False
        r.retired.add(key)
        r.ops.append(f"X|{key}")
        self._wake.set()
        return True

    def record(self, ring: str, key: str, outcome: KeyOutcome) -> None:
        counts = self._ring(ring).pending.setdefault(key, [0, 0, 0, 0])
        counts[OUTCOMES.index(outcome)] += 1

    def usage(self, ring: str, key: str) -> KeyUsage:
        r = self._ring(ring)
        total = r.fleet.get(key, KeyUsage())
        for unsent in (r.pending.get(key), r.sending.get(key)):
            if unsent is not None:
                total = total.plus(KeyUsage(*unsent))
        return total

    # -- talking to Redis ---------------------------------------------------------------------------

    async def _run(self) -> None:
        await sync_loop(self.interval, self._wake, lambda: self._closed, self.sync)

    async def sync(self) -> None:
        """Send what is queued and refresh the rings in use, one script call per ring."""
        async with self._lock:  # one exchange at a time: each owns its rings' ``sending`` counts
            await self._exchange()

    async def _exchange(self) -> None:
        now = time.monotonic()
        due: list[tuple[str, _Ring, list[str]]] = []
        for name, r in self._rings.items():
            if not (r.ops or r.pending or now - r.used < _ACTIVE):
                continue
            for key, counts in r.pending.items():
                r.ops.append(f"U|{key}|" + "|".join(str(c) for c in counts))
            r.sending, r.pending = r.pending, {}
            ops, r.ops = r.ops, []
            due.append((name, r, ops))
        if not due:
            return
        keys = self.connection.keys
        ttl = self._ttl_ms

        async def run(client: Redis) -> list[Any]:
            wall = int(time.time() * 1000)
            return [await self._script(keys=[keys.key("keys:" + name, "state")], args=[wall, ttl, *ops],
                                       client=client)
                    for name, _, ops in due]

        replies = await self.connection.call(run, None, within=self.connection.timeout * 4)
        for (_, r, ops), reply in zip(due, replies or [None] * len(due), strict=True):
            if reply is None:  # not sent: queued again for when Redis answers
                r.ops[:0] = [op for op in ops if op[0] != "U"]
                for key, counts in r.sending.items():
                    mine = r.pending.setdefault(key, [0, 0, 0, 0])
                    for i, c in enumerate(counts):
                        mine[i] += c
            else:
                self._learn(r, reply)
            r.sending = {}

    def _learn(self, r: _Ring, reply: list[Any]) -> None:
        """Adopt the ring's shared state: longer coolings, retirements, the fleet's counts."""
        fields: Mapping[str, str] = {_text(reply[i]): _text(reply[i + 1]) for i in range(0, len(reply) - 1, 2)}
        usage: dict[str, list[int]] = {}
        for field, value in fields.items():
            kind, _, key = field.partition(":")
            if kind == "c":
                until = int(value) / 1000 - self._offset
                if until > r.cool.get(key, -1e18):
                    r.cool[key] = until
            elif kind == "x":
                r.retired.add(key)
            elif kind in _FIELDS:
                usage.setdefault(key, [0, 0, 0, 0])[_FIELDS[kind]] = int(value)
        r.fleet = {key: KeyUsage(*counts) for key, counts in usage.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
