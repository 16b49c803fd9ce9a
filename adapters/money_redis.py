"""Budgets and the usage ledger in the deployment's Redis, shared by every replica.

``RedisBudgetStore``: one Lua script checks every budget a request falls under and reserves its
worst case in all of them, atomically (so concurrent requests on any number of replicas never
overshoot by more than what is in flight); another settles. Amounts are integers of nano-USD.
Spend lives in one hash per budget and scope key (a field per calendar window or rolling bucket);
reservations in a sorted set scored by their expiry, so a replica that dies mid-request cannot hold
budget for longer than ``reservation_ttl``. All keys share the ``{budgets}`` hash tag (one script
touches several) and carry a TTL. Redis down or slow: this replica falls back to its own in-memory
counters (logged once by the connection) instead of failing requests.

``RedisUsageLedger``: records in a capped stream, and totals in hourly counter hashes (by tenant,
provider, model, alias and every metadata tag) kept for ``retention`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from redis.asyncio import Redis

from llmport.adapters.redis import RedisConnection
from llmport.domain import Usage
from llmport.domain.budget import BudgetSpec, BudgetStatus, Charge
from llmport.domain.usage_record import UsageRecord, UsageTotals, group_key
from llmport.ports.budgets import InMemoryBudgetStore, exceeded

_NANO = Decimal(1_000_000_000)

_LIB = """
local function spent(key, kind, window, minb)
  local flat = redis.call('HGETALL', key)
  local u, t, oldest = 0, 0, -1
  for j = 1, #flat, 2 do
    local f = flat[j]
    local sep = string.find(f, '|', 1, true)
    local w, what = string.sub(f, 1, sep - 1), string.sub(f, sep + 1)
    if (kind == 'cal' and w == window) or (kind == 'roll' and tonumber(w) >= tonumber(minb)) then
      if what == 'u' then u = u + tonumber(flat[j + 1]) else t = t + tonumber(flat[j + 1]) end
      if kind == 'roll' and (oldest < 0 or tonumber(w) < oldest) then oldest = tonumber(w) end
    end
  end
  return u, t, oldest
end
local function held(key, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local u, t = 0, 0
  for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    local _, a, b = string.match(m, '^(.-)|(%-?%d+)|(%-?%d+)$')
    u = u + tonumber(a)
    t = t + tonumber(b)
  end
  return u, t
end
"""

# KEYS: per charge, its spend hash and its reservation set. ARGV: now, reservation id, reservation
# expiry (absolute), then per charge: kind, window, min bucket, limit nano-USD, limit tokens (-1:
# none), nano-USD, tokens. Returns {0} when held, else {charge number, spent+held nano-USD, tokens}.
_RESERVE = _LIB + """
local now, rid, expiry = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = #KEYS / 2
for i = 1, n do
  local a = 3 + (i - 1) * 7
  local su, st = spent(KEYS[2 * i - 1], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
  local hu, ht = held(KEYS[2 * i], now)
  local lu, lt = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local u, t = tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7])
  if (lu >= 0 and su + hu + u > lu) or (lt >= 0 and st + ht + t > lt) then
    return {i, su + hu, st + ht}
  end
end
for i = 1, n do
  local a = 3 + (i - 1) * 7
  redis.call('ZADD', KEYS[2 * i], expiry, rid .. ':' .. i .. '|' .. ARGV[a + 6] .. '|' .. ARGV[a + 7])
  redis.call('EXPIRE', KEYS[2 * i], math.ceil(expiry - tonumber(now)) + 60)
end
return {0}
"""

# KEYS: per touched budget, spend hash and reservation set. ARGV: now, reservation id, spend TTL,
# then per budget: kind, window, min bucket, nano-USD spent, tokens spent. Returns per budget
# {spent nano-USD, spent tokens, held nano-USD, held tokens, oldest live rolling bucket or -1}.
_SETTLE = _LIB + """
local now, rid, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS / 2 do
  local a = 3 + (i - 1) * 5
  local hash, set = KEYS[2 * i - 1], KEYS[2 * i]
  for _, m in ipairs(redis.call('ZRANGE', set, 0, -1)) do
    if string.sub(m, 1, #rid + 1) == rid .. ':' then redis.call('ZREM', set, m) end
  end
  local kind, window, minb = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local u, t = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  if u > 0 or t > 0 then
    for _, f in ipairs(redis.call('HKEYS', hash)) do
      local w = string.sub(f, 1, string.find(f, '|', 1, true) - 1)
      if (kind == 'cal' and w ~= window) or (kind == 'roll' and tonumber(w) < tonumber(minb)) then
        redis.call('HDEL', hash, f)
      end
    end
    redis.call('HINCRBY', hash, window .. '|u', u)
    redis.call('HINCRBY', hash, window .. '|t', t)
    redis.call('EXPIRE', hash, ttl)
  end
  local su, st, oldest = spent(hash, kind, window, minb)
  local hu, ht = held(set, now)
  out[i] = {su, st, hu, ht, oldest}
end
return out
"""


def _nano(usd: Decimal, *, up: bool = False) -> int:
    scaled = usd * _NANO
    return int(scaled.to_integral_value(ROUND_CEILING)) if up else int(scaled)


def _usd(nano: int) -> Decimal:
    return Decimal(nano) / _NANO


def _window_args(spec: BudgetSpec, now: float) -> tuple[str, str, str, float]:
    """kind, window (or current bucket), first live bucket, and when the window resets."""
    period = spec.period
    window, resets_at = period.window(now)
    if period.kind == "rolling":
        return "roll", window, str(period.live_buckets(now).start), resets_at
    return "cal", window, "0", resets_at


def _spend_ttl(spec: BudgetSpec) -> int:
    period = spec.period
    if period.kind == "rolling":
        return period.seconds + 120
    return 32 * 86400 if period.kind == "month" else 2 * 86400


class RedisBudgetStore:
    """``BudgetStore`` shared by every replica through ``connection``; ``fallback`` (this replica's
    own counters) answers while Redis is unavailable."""

    def __init__(self, connection: RedisConnection, *, reservation_ttl: float = 900.0,
                 fallback: InMemoryBudgetStore | None = None) -> None:
        self.connection = connection
        self.reservation_ttl = reservation_ttl
        self.fallback = fallback or InMemoryBudgetStore()
        client = connection.client()
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)

    def _keys(self, spec: BudgetSpec, key: str) -> tuple[str, str]:
        keys = self.connection.keys
        return keys.key("budgets", spec.name, key, "spent"), keys.key("budgets", spec.name, key, "held")

    async def reserve(self, charges: Sequence[Charge], now: float) -> str:
        rid = os.urandom(8).hex()
        keys: list[str] = []
        args: list[Any] = [repr(now), rid, repr(now + self.reservation_ttl)]
        for c in charges:
            keys.extend(self._keys(c.spec, c.key))
            kind, window, minb, _ = _window_args(c.spec, now)
            args += [kind, window, minb,
                     -1 if c.spec.limit_usd is None else _nano(c.spec.limit_usd),
                     -1 if c.spec.limit_tokens is None else c.spec.limit_tokens,
                     _nano(c.usd, up=True), c.tokens]

        async def op(client: Redis) -> list[Any] | None:
            return list(await self._reserve(keys=keys, args=args, client=client))

        answer = await self.connection.call(op, None)
        if answer is None:
            await self.fallback.reserve(charges, now)
            return "local:" + rid
        if int(answer[0]) != 0:
            charge = charges[int(answer[0]) - 1]
            error = exceeded(charge, _usd(int(answer[1])), int(answer[2]), _window_args(charge.spec, now)[3])
            assert error is not None
            raise error
        return rid

    async def settle(self, reservation: str, reserved: Sequence[Charge], spent: Sequence[Charge],
                     now: float) -> list[BudgetStatus]:
        if reservation.startswith("local:"):
            return await self.fallback.settle(reservation, reserved, spent, now)
        touched: dict[tuple[str, str], tuple[BudgetSpec, Decimal, int]] = {}
        for c in reserved:
            touched.setdefault((c.spec.name, c.key), (c.spec, Decimal(0), 0))
        for c in spent:
            spec, usd, tokens = touched.get((c.spec.name, c.key), (c.spec, Decimal(0), 0))
            touched[(c.spec.name, c.key)] = (spec, usd + c.usd, tokens + c.tokens)
        keys: list[str] = []
        args: list[Any] = [repr(now), reservation, max(_spend_ttl(s) for s, _, _ in touched.values())]
        for (_, key), (spec, usd, tokens) in touched.items():
            keys.extend(self._keys(spec, key))
            kind, window, minb, _ = _window_args(spec, now)
            args += [kind, window, minb, _nano(usd), tokens]

        async def op(client: Redis) -> list[Any] | None:
            return list(await self._settle(keys=keys, args=args, client=client))

        answer = await self.connection.call(op, None)
        if answer is None:
            return []  # the reservation expires by itself; this spend is lost to the shared count
        return [self._status(spec, key, row, now) for ((_, key), (spec, _, _)), row in zip(
            touched.items(), answer, strict=True)]

    def _status(self, spec: BudgetSpec, key: str, row: Sequence[Any], now: float) -> BudgetStatus:
        resets_at = _window_args(spec, now)[3]
        oldest = int(row[4])
        if oldest >= 0:  # a rolling window resets when its oldest spend leaves it
            resets_at = (oldest + 1) * spec.period.bucket_seconds + spec.period.seconds
        return BudgetStatus(spec.name, key, _usd(int(row[0])), int(row[1]), _usd(int(row[2])), int(row[3]),
                            spec.limit_usd, spec.limit_tokens, datetime.fromtimestamp(resets_at, UTC))

    async def status(self, spec: BudgetSpec, key: str, now: float) -> BudgetStatus:
        statuses = await self.settle(os.urandom(8).hex(), [Charge(spec, key, Decimal(0), 0)], [], now)
        if not statuses:
            return await self.fallback.status(spec, key, now)
        return statuses[0]


_GROUPS = ("tenant", "provider", "model", "alias")
_METRICS = ("requests", "attempts", "input", "output", "cached", "cache_write", "reasoning", "picousd",
            "unpriced", "estimated")
_PICO = Decimal(10**12)


def _encode(record: UsageRecord) -> str:
    u = record.usage
    return json.dumps({
        "at": record.at, "rid": record.request_id, "p": record.provider, "m": record.model, "a": record.alias,
        "u": [u.input_tokens, u.output_tokens, u.cached_input_tokens, u.cache_write_tokens, u.reasoning_tokens],
        "c": None if record.cost is None else str(record.cost), "o": record.outcome, "t": record.tenant,
        "g": dict(record.tags), "e": record.estimated, "n": record.attempt, "h": record.hedge,
    }, separators=(",", ":"))


def _decode(data: bytes | str) -> UsageRecord:
    d = json.loads(data)
    return UsageRecord(d["at"], d["rid"], d["p"], d["m"], d["a"], Usage(*d["u"]),
                       None if d["c"] is None else Decimal(d["c"]), d["o"], d["t"], d["g"], d["e"], d["n"], d["h"])


class RedisUsageLedger:
    """``UsageLedger`` shared by every replica: the newest ``capacity`` records in a stream, and
    hourly totals kept ``retention`` seconds (costs in pico-USD). ``totals`` counts whole hours:
    ``since`` is rounded down and ``until`` up to the hour.

    Writes are off the request's path: ``record`` queues, and a background task writes the queue
    every ``flush_interval`` seconds in one pipelined round trip (``flush`` writes now; reads flush
    first). While Redis is down the queue is kept (at most ``capacity`` records, oldest dropped and
    counted in ``lost``) and written once it answers again."""

    def __init__(self, connection: RedisConnection, *, capacity: int = 100_000, retention: float = 35 * 86400,
                 write_timeout: float = 0.25, flush_interval: float = 0.05) -> None:
        self.connection = connection
        self.capacity = capacity
        self.retention = int(retention)
        self.write_timeout = write_timeout
        self.flush_interval = flush_interval
        self.lost = 0
        self._stream = connection.keys.key("ledger", "records")
        self._pending: list[UsageRecord] = []
        self._flusher: asyncio.Task[None] | None = None

    def _hour_key(self, hour: int) -> str:
        return self.connection.keys.key("ledger", "hour", str(hour))

    async def record(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        self._pending.extend(records)
        if len(self._pending) > self.capacity:
            self.lost += len(self._pending) - self.capacity
            del self._pending[: len(self._pending) - self.capacity]
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.flush_interval)
        await self.flush()

    async def flush(self) -> None:
        """Write every queued record now (kept queued if Redis does not answer)."""
        batch, self._pending = self._pending, []
        if batch and not await self._write(batch):
            self._pending[:0] = batch[-self.capacity:]

    async def aclose(self) -> None:
        """Write what is queued and stop the background writer."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()

    async def _write(self, records: Sequence[UsageRecord]) -> bool:
        bumps: dict[int, dict[str, int]] = {}
        seen: set[tuple[str, str]] = set()
        for r in records:
            fields = bumps.setdefault(int(r.at // 3600), {})
            groups = [f"{by}={group_key(r, by)}" for by in _GROUPS if group_key(r, by) is not None]
            groups += [f"tag:{k}={v}" for k, v in r.tags.items()]
            u = r.usage
            values = (0, 1, u.input_tokens, u.output_tokens, u.cached_input_tokens, u.cache_write_tokens,
                      u.reasoning_tokens, 0 if r.cost is None else int(r.cost * _PICO), int(r.cost is None),
                      int(r.estimated))
            for group in groups:
                first = (group, r.request_id) not in seen
                seen.add((group, r.request_id))
                for metric, value in zip(_METRICS, values, strict=True):
                    value = int(first) if metric == "requests" else value
                    if value:
                        fields[f"{group}|{metric}"] = fields.get(f"{group}|{metric}", 0) + value

        async def op(client: Redis) -> bool:
            pipe = client.pipeline(transaction=False)
            for r in records:
                pipe.xadd(self._stream, {"r": _encode(r)}, maxlen=self.capacity, approximate=True)
            pipe.expire(self._stream, self.retention)
            for hour, fields in bumps.items():
                key = self._hour_key(hour)
                for field, value in fields.items():
                    pipe.hincrby(key, field, value)
                pipe.expire(key, self.retention)
            await pipe.execute()
            return True

        return await self.connection.call(op, False, within=self.write_timeout)

    async def records(self, *, since: float | None = None, until: float | None = None) -> list[UsageRecord]:
        await self.flush()

        async def op(client: Redis) -> list[Any]:
            return list(await client.xrange(self._stream) or [])

        rows: list[Any] = await self.connection.call(op, [], within=self.write_timeout * 4)
        out = [_decode(fields[b"r"]) for _, fields in rows]
        return [r for r in out if (since is None or r.at >= since) and (until is None or r.at < until)]

    async def totals(self, by: str, *, since: float | None = None,
                     until: float | None = None) -> dict[str, UsageTotals]:
        await self.flush()
        if by not in _GROUPS and not by.startswith("tag:"):
            group_key(UsageRecord(0, "", "", "", "", Usage(), None, "ok"), by)  # raises the readable error
        now = time.time()  # hours older than the retention are gone anyway
        first = int(max(since if since is not None else 0.0, now - self.retention) // 3600)
        last = math.ceil(min(until if until is not None else now + 1, now + 3600) / 3600)

        async def op(client: Redis) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for hour in range(first, last):
                pipe.hgetall(self._hour_key(hour))
            return list(await pipe.execute())

        out: dict[str, dict[str, int]] = {}
        prefix = by + "="
        hours: list[dict[bytes, bytes]] = await self.connection.call(op, [], within=self.write_timeout * 4)
        for fields in hours:
            for raw, value in fields.items():
                name = raw.decode()
                if not name.startswith(prefix):
                    continue
                group, _, metric = name[len(prefix):].rpartition("|")
                bucket = out.setdefault(group, {})
                bucket[metric] = bucket.get(metric, 0) + int(value)
        return {g: UsageTotals(m.get("requests", 0), m.get("attempts", 0), m.get("input", 0), m.get("output", 0),
                               m.get("cached", 0), m.get("cache_write", 0), m.get("reasoning", 0),
                               Decimal(m.get("picousd", 0)) / _PICO, m.get("unpriced", 0), m.get("estimated", 0))
                for g, m in out.items()}
