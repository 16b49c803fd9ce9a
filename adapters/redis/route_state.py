"""``RedisPolicyState``: the failover policy's state shared by every replica through Redis.

Each replica keeps a local view (per route: a ``CircuitBreaker`` of its own outcomes, its mirror of
the shared breaker, Retry-After cooling, statistics; and the retry budget) and answers the policy
from it without I/O: a fail-fast on an open breaker never leaves the process. What the replica
learns goes to Redis off the hot path: a background task sends queued outcomes every ``interval``
seconds (at once for failures, Retry-After, lockouts and released probes), one Lua script per route
(``scripts.ROUTE``), pipelined; the replies, and the changes other replicas publish on the
namespace's channel, update the mirrors. Only taking a half-open probe goes to Redis on the request
path, atomically with an owner token that expires (``probe_ttl``), so exactly one probe goes out
across the fleet.

Fleet-wide: breaker opening (consecutive failures and failure rate counted over every replica's
outcomes), the probe and its closing, Retry-After cooling, the retry budget (requests and retries
per time bucket), in-flight counts (each replica's count, dropped when it stops refreshing) and
latency EWMAs. Every key carries the route as its hash tag and a TTL.

Redis is never a single point of failure: every call is bounded by the connection's timeout; when
Redis is down or slow the replica decides from its local view alone (what it already knew of open
breakers and cooling still holds; at most one local probe per route), the connection logs the
outage once, and when Redis answers again the state resynchronises: mirrors are refreshed and
breakers this replica opened meanwhile are opened for the fleet.

Time: the policy's monotonic ``now`` is converted to wall-clock milliseconds for what is stored
(replicas on different machines compare instants through their synchronised wall clocks).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from llmport.ports import (
    BreakerConfig,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    Permit,
    RetryBudget,
    RouteStats,
)
from llmport.ports.state import ASK, Admission

from . import scripts
from .background import sync_loop
from .connection import UNAVAILABLE, RedisConnection

_STATE: dict[str, BreakerState] = {"c": "closed", "o": "open", "h": "half_open"}
_ACTIVE = 60.0  # a route used within this many seconds is refreshed every interval
_SLACK = 0.002  # seconds: instants come back from Redis rounded to the millisecond
_REFRESH_MAX = 128  # routes refreshed per interval at most (the others wait their turn)
_OPS_MAX = 256  # queued outcomes per route at most (successes are coalesced)
_SHA_ROUTE = hashlib.sha1(scripts.ROUTE.encode()).hexdigest()
_SHA_BUDGET = hashlib.sha1(scripts.BUDGET.encode()).hexdigest()


class _Route:
    """This replica's view of one route. Doubles as the route's ``BreakerView``."""

    __slots__ = ("breaker", "cool_until", "inflight_sent", "lat", "local", "m_probe_until", "m_state", "m_until",
                 "m_version", "name", "ops", "others", "permit", "probe", "probe_remote", "reason", "stats",
                 "synced", "used")

    def __init__(self, name: str, config: BreakerConfig) -> None:
        self.name = name
        self.breaker = CircuitBreaker(name, config, self._on_local)
        self.stats = RouteStats()
        self.permit = Permit(name)
        self.cool_until = 0.0
        self.probe: str | None = None  # the probe this replica holds
        self.probe_remote = False
        self.local = 0  # attempts in flight here
        self.others = 0  # in flight on other replicas
        self.inflight_sent: int | None = None
        self.m_state: BreakerState = "closed"  # the shared breaker, as last learned
        self.m_until = 0.0  # the shared breaker is open until
        self.m_probe_until = 0.0  # another replica's probe is out until
        self.m_version = 0
        self.ops: list[list[Any]] = []
        self.lat = [0, 0.0, 0, 0.0]  # samples not sent yet: totals (n, sum), ttfts (n, sum)
        self.synced = -1e18
        self.used = time.monotonic()
        self.reason: tuple[str, str | None] | None = None

    def _on_local(self, transition: BreakerTransition) -> None:
        self.reason = (transition.reason, transition.error)

    @property
    def state(self) -> BreakerState:
        """The breaker as this replica acts on it: open if either view is open."""
        local, shared = self.breaker.state, self.m_state
        if local == "open" or shared == "open":
            return "open"
        if local == "half_open" or shared == "half_open":
            return "half_open"
        return "closed"

    def retry_in(self, now: float) -> float:
        shared = self.m_until - now - _SLACK if self.m_state == "open" else 0.0
        return max(self.breaker.retry_in(now), self.cool_until - now, shared, 0.0)

    def snapshot(self, now: float) -> dict[str, object]:
        view = self.breaker.snapshot(now)
        view.update(state=self.state, retry_in=round(self.retry_in(now), 3), shared_state=self.m_state,
                    in_flight=self.local + self.others)
        return view

    def idle(self, now: float) -> bool:
        # Queued outcomes do not count: forgetting a closed route only loses statistics.
        return self.state == "closed" and self.cool_until <= now and self.local == 0 and self.probe is None


class RedisPolicyState:
    """A ``PolicyState`` shared through Redis (see the module docstring).

    ``breaker`` and ``budget`` configure thresholds as for ``MemoryPolicyState``; ``max_routes``
    bounds the routes remembered locally; ``interval`` is how often queued writes are sent and used
    routes refreshed; ``probe_ttl`` how long a half-open probe may stay out before another replica
    may take it; ``idle_ttl`` how long an idle route's keys live. The connection is closed by
    ``aclose`` only when ``owns_connection``.
    """

    SCAN = 64

    def __init__(self, connection: RedisConnection, breaker: BreakerConfig | None = None,
                 budget: RetryBudget | None = None, *, max_routes: int = 1024, interval: float = 0.05,
                 probe_ttl: float = 60.0, idle_ttl: float = 600.0, owns_connection: bool = False) -> None:
        if max_routes < 1 or interval <= 0 or probe_ttl <= 0 or idle_ttl <= 0:
            raise ValueError("max_routes, interval, probe_ttl and idle_ttl must be positive")
        self.config = breaker or BreakerConfig()
        budget = budget or RetryBudget()
        self.connection = connection
        self.max_routes = max_routes
        self.interval = interval
        self._owns = owns_connection
        self._replica = os.urandom(6).hex()
        self._tokens = itertools.count(1)
        self._offset = time.time() - time.monotonic()
        self._routes: dict[str, _Route] = {}
        self._stats: dict[str, RouteStats] = {}
        self._listeners: list[Callable[[BreakerTransition], None]] = []
        self._now = 0.0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._closed = False
        self._resync = False
        self._channel = connection.keys.channel("routes")
        self._budget_key = connection.keys.key("budget")
        c = self.config
        self._route_args = [self._channel, "", c.failure_threshold, c.failure_rate, c.min_calls,
                            int(c.window * 1000), c.buckets, int(c.cooldown * 1000), int(probe_ttl * 1000),
                            int(idle_ttl * 1000), RouteStats().alpha, int(max(20 * interval, 2.0) * 1000),
                            self._replica]
        # retry budget: this replica's requests/retries and the others', per wall-clock time bucket
        self._ratio, self._min_retries, self._window = budget.ratio, budget.min_retries, budget.window
        self._nb = 10
        self._width = budget.window / self._nb
        self._mine: dict[int, list[int]] = {}
        self._pending: dict[int, list[int]] = {}
        self._sent: dict[int, list[int]] = {}
        self._others: dict[int, list[int]] = {}
        self._budget_synced = -1e18
        connection.health.on_recover(self._on_recover)
        with contextlib.suppress(RuntimeError):  # no running loop: started by the first ``admit``
            asyncio.get_running_loop()
            self._start()

    # -- time ---------------------------------------------------------------------------------------

    def _ms(self, now: float) -> int:
        return round((now + self._offset) * 1000)

    def _mono(self, ms: float) -> float:
        return ms / 1000 - self._offset

    # -- lifecycle ----------------------------------------------------------------------------------

    def _start(self) -> None:
        if not self._tasks and not self._closed:
            self._tasks = [asyncio.ensure_future(self._run()), asyncio.ensure_future(self._listen())]

    async def start(self, wait: float = 5.0, routes: Iterable[str] = ()) -> None:
        """Start the background work, learn the fleet's state of ``routes`` (a new replica honours
        a breaker the others opened from its first request) and wait until this replica hears the
        others' changes; at most ``wait`` seconds in all (Redis down: local state, as always).
        Optional: the first ``admit`` starts the background work without waiting."""
        for route in routes:
            if route not in self._routes:
                self._add(route)
        self._start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                if self._routes:
                    await self._sync(force=True)
                await self._subscribed.wait()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        tasks, self._tasks = self._tasks, []
        if tasks:
            tasks[1].cancel()  # the listener: waiting for messages
            await asyncio.wait(tasks, timeout=self.connection.timeout * 8)
        await self._sync()  # best effort: what is still queued
        if self._owns:
            await self.connection.aclose()

    # -- routes -------------------------------------------------------------------------------------

    def _get(self, route: str) -> _Route:
        r = self._routes.get(route)
        return r if r is not None else self._add(route)

    def _add(self, route: str) -> _Route:
        if len(self._routes) >= self.max_routes:
            self._evict()
        r = self._routes[route] = _Route(route, self.config)
        self._stats[route] = r.stats
        self._wake.set()  # learn the route's shared state soon
        return r

    def _evict(self) -> None:
        victim = None
        for name, r in itertools.islice(self._routes.items(), self.SCAN):
            if victim is None:
                victim = name
            if r.idle(self._now):
                victim = name
                break
        assert victim is not None
        del self._routes[victim], self._stats[victim]

    def _emit(self, r: _Route, before: BreakerState, reason: str, error: str | None = None) -> None:
        after = r.state
        if after == before:
            return
        if r.reason is not None:  # the local breaker moved: its reason is the precise one
            reason, error = r.reason
        transition = BreakerTransition(r.name, before, after, reason, self._now, error)
        for listener in self._listeners:
            with contextlib.suppress(Exception):  # a listener's bug must not change a decision
                listener(transition)

    def _queue(self, r: _Route, op: list[Any], *, urgent: bool = True) -> None:
        if len(r.ops) >= _OPS_MAX:
            del r.ops[0]
        r.ops.append(op)
        if urgent:
            self._wake.set()

    # -- may this route be tried now -------------------------------------------------------------

    async def admit(self, route: str, now: float) -> Permit | None:
        permit = self.admit_now(route, now)
        if permit is not ASK:
            return permit
        r = self._routes[route]
        answered, permit = await self._acquire(r, now)
        if answered:
            return permit
        return self._admit_locally(r, now)

    def admit_now(self, route: str, now: float) -> Admission:
        """Closed and open routes from the local mirror; ``ASK`` when the shared half-open probe is
        to be acquired (Redis reachable)."""
        if not self._tasks:
            self._start()
        self._now = now
        r = self._routes.get(route)
        if r is None:
            r = self._add(route)
        r.used = time.monotonic()
        if r.cool_until > now:
            return None
        b = r.breaker
        if b.state == "closed" and r.m_state == "closed":
            return r.permit
        if r.probe is not None:  # this replica's probe is out
            return None
        if b.state == "open" and b.retry_in(now) > 0:
            return None
        if r.m_state == "open" and now < r.m_until - _SLACK:
            return None
        if r.m_probe_until > now:  # another replica's probe is out
            return None
        if self.connection.health.should_try():
            return ASK
        return self._admit_locally(r, now)

    async def _acquire(self, r: _Route, now: float) -> tuple[bool, Permit | None]:
        """Take the shared half-open probe: (whether Redis answered, the permit or None)."""
        token = f"{self._replica}:{next(self._tokens)}"
        ops, r.ops = r.ops, []
        ops.append(["A", self._ms(now), token])
        try:
            async with asyncio.timeout(self.connection.timeout):
                await self._lock.acquire()
        except TimeoutError:
            r.ops[:0] = ops[:-1]  # not sent: keep them queued
            return False, None
        try:
            async def run(client: Redis) -> list[Any]:
                return await self._evalsha(client, [self._route_call(r, ops)])
            replies = await self.connection.call(run, None)
        finally:
            self._lock.release()
        if replies is None:
            return False, None
        reply = replies[0]
        before = r.state
        self._apply(r, reply, "cooldown elapsed", emit=False)
        granted = int(reply[0])
        b = r.breaker
        if granted == 1 and r.probe is None:
            r.probe, r.probe_remote = token, True
            if b.state != "closed":
                b.allow(now)  # the local breaker follows: half-open, its one probe out
        elif granted == 2 and b.state != "closed":  # the fleet's breaker is closed: a probe elsewhere closed it
            b.success(now, probe=True)
        r.reason = None
        self._emit(r, before, "cooldown elapsed" if granted == 1 else "closed by another replica's probe")
        if granted == 1 and r.probe == token:
            return True, Permit(r.name, True, token)
        return True, r.permit if granted == 2 else None

    def _admit_locally(self, r: _Route, now: float) -> Permit | None:
        """Redis unavailable: decide as the in-memory state would (at most one local probe)."""
        before, r.reason = r.state, None
        if r.m_state != "closed":  # what was known of the shared breaker has run its course
            r.m_state, r.m_probe_until = "closed", 0.0
        b = r.breaker
        if b.state == "closed":
            self._emit(r, before, "shared state unavailable")
            return r.permit
        allowed = b.allow(now)
        self._emit(r, before, "cooldown elapsed")
        if not allowed:
            return None
        r.probe, r.probe_remote = f"{self._replica}:L{next(self._tokens)}", False
        return Permit(r.name, True, r.probe)

    def retry_in(self, route: str, now: float) -> float:
        r = self._routes.get(route)
        return 0.0 if r is None else r.retry_in(now)

    def breaker_state(self, route: str, now: float) -> BreakerState:
        r = self._routes.get(route)
        return "closed" if r is None else r.state

    def refusal(self, route: str, now: float) -> tuple[BreakerState, float]:
        r = self._routes.get(route)
        return ("closed", 0.0) if r is None else (r.state, r.retry_in(now))

    # -- record this outcome ------------------------------------------------------------------------

    def _take_probe(self, r: _Route, permit: Permit) -> tuple[bool, str]:
        """(whether ``permit`` is this replica's current probe, the token to send to Redis)."""
        if permit.probe and permit.token is not None and permit.token == r.probe:
            r.probe = None
            return True, permit.token if r.probe_remote else ""
        return False, ""

    def record_success(self, permit: Permit, now: float) -> None:
        self._now = now
        r = self._get(permit.route)
        before, r.reason = r.state, None
        probe, token = self._take_probe(r, permit)
        r.breaker.success(now, probe=probe)
        if token:
            r.m_state, r.m_probe_until = "closed", 0.0
            self._queue(r, ["P", self._ms(now), token])
        elif r.ops and r.ops[-1][0] == "S":
            r.ops[-1][2] += 1
        else:
            self._queue(r, ["S", self._ms(now), 1], urgent=False)
        self._emit(r, before, "probe succeeded")

    def record_failure(self, permit: Permit, now: float) -> None:
        self._now = now
        r = self._get(permit.route)
        before, r.reason = r.state, None
        probe, token = self._take_probe(r, permit)
        r.breaker.failure(now, probe=probe)
        if token or r.m_state == "half_open":
            r.m_state, r.m_until = "open", now + self.config.cooldown
        self._queue(r, ["F", self._ms(now), token])
        self._emit(r, before, "probe failed" if token else "a call failed during the probe")

    def record_lockout(self, permit: Permit, now: float, cooldown: float, error: str) -> None:
        self._now = now
        r = self._get(permit.route)
        before, r.reason = r.state, None
        probe, token = self._take_probe(r, permit)
        r.breaker.trip(now, f"credentials rejected ({error})", cooldown, probe=probe, error=error)
        self._queue(r, ["L", self._ms(now), f"{token}|{int(cooldown * 1000)}|{error}"])
        self._emit(r, before, f"credentials rejected ({error})", error)

    def release(self, permit: Permit) -> None:
        r = self._routes.get(permit.route)
        if r is None:
            return
        probe, token = self._take_probe(r, permit)
        if probe:
            r.breaker.release()
        if token:
            self._queue(r, ["R", self._ms(self._now), token])

    def note_retry_after(self, route: str, now: float, seconds: float) -> None:
        if seconds <= 0:
            return
        self._now = now
        r = self._get(route)
        r.cool_until = max(r.cool_until, now + seconds)
        self._queue(r, ["C", self._ms(now), self._ms(now + seconds)])

    # -- reserve a retry --------------------------------------------------------------------------

    def _bucket(self, now: float) -> int:
        return int((now + self._offset) // self._width)

    def note_request(self, now: float) -> None:
        bucket = self._bucket(now)
        _add_to(self._mine, bucket, 0)
        _add_to(self._pending, bucket, 0)
        if len(self._mine) > 2 * self._nb:
            _prune(self._mine, bucket - self._nb)

    def reserve_retry(self, now: float) -> bool:
        bucket = self._bucket(now)
        oldest = bucket - self._nb + 1
        requests = retries = 0
        for counts in (self._mine, self._others):
            for b, (q, r) in counts.items():
                if b >= oldest:
                    requests += q
                    retries += r
        if retries + 1 > self._min_retries + self._ratio * requests:
            return False
        _add_to(self._mine, bucket, 1)
        _add_to(self._pending, bucket, 1)
        return True

    # -- in-flight counts and latency ---------------------------------------------------------------

    def in_flight_up(self, route: str) -> None:
        r = self._get(route)
        r.local += 1
        r.stats.in_flight = r.local + r.others

    def in_flight_down(self, route: str) -> None:
        r = self._routes.get(route)
        if r is not None and r.local > 0:
            r.local -= 1
            r.stats.in_flight = r.local + r.others

    def observe_latency(self, route: str, now: float, total: float | None, ttft: float | None) -> None:
        r = self._get(route)
        r.stats.observe(now, total, ttft)
        lat = r.lat
        if total is not None:
            lat[0] += 1
            lat[1] += total
        if ttft is not None:
            lat[2] += 1
            lat[3] += ttft

    def stats(self) -> Mapping[str, RouteStats]:
        return self._stats

    # -- observing ----------------------------------------------------------------------------------

    def listen(self, listener: Callable[[BreakerTransition], None]) -> None:
        self._listeners.append(listener)

    def breakers(self) -> Mapping[str, _Route]:
        return self._routes

    # -- talking to Redis ---------------------------------------------------------------------------

    def _route_call(self, r: _Route, ops: list[list[Any]]) -> tuple[str, list[Any]]:
        keys = self.connection.keys
        tag = "route:" + r.name
        lat = r.lat
        inflight = r.local
        report: int | str = inflight if inflight or r.inflight_sent else ""  # nothing to report: no field
        r.inflight_sent = inflight
        argv = self._route_args.copy()
        argv[1] = r.name
        argv += [int(time.time() * 1000), report,
                 lat[0], lat[1] / lat[0] if lat[0] else 0, lat[2], lat[3] / lat[2] if lat[2] else 0]
        argv += ["|".join(str(part) for part in op) for op in ops]
        r.lat = [0, 0.0, 0, 0.0]
        r.synced = time.monotonic()
        return _SHA_ROUTE, [3, keys.key(tag, "breaker"), keys.key(tag, "stats"), keys.key(tag, "inflight"), *argv]

    async def _evalsha(self, client: Redis, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Run the scripts in one pipeline (loading them once more if Redis lost them)."""
        for attempt in (1, 2):
            pipe = client.pipeline(transaction=False)
            for sha, args in calls:
                pipe.execute_command("EVALSHA", sha, *args)
            replies = await pipe.execute(raise_on_error=False)
            if attempt == 1 and any(isinstance(x, NoScriptError) for x in replies):
                await client.script_load(scripts.ROUTE)
                await client.script_load(scripts.BUDGET)
                continue
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return list(replies)
        raise AssertionError("unreachable")

    def _apply(self, r: _Route, reply: list[Any], reason: str, *, emit: bool = True) -> None:
        """A route's shared view from a script's reply: mirror, cooling, fleet statistics."""
        st, oa, cd, cu, v, pr, pe, rs, er = (x.decode() if isinstance(x, bytes) else str(x) for x in reply[1:10])
        self._learn(r, st, float(oa), float(cd), float(cu), int(v), pr, float(pe), rs or reason, er, emit=emit)
        fleet, tt, to, lm = (x.decode() if isinstance(x, bytes) else str(x) for x in reply[10:14])
        r.others = max(0, int(fleet) - (r.inflight_sent or 0))
        stats = r.stats
        stats.in_flight = r.local + r.others
        if tt:
            stats.ttft_ewma = float(tt)
        if to:
            stats.total_ewma = float(to)
        if lm:
            stats.last_measured = max(stats.last_measured or 0.0, self._mono(float(lm)))

    def _learn(self, r: _Route, st: str, oa: float, cd: float, cu: float, v: int, pr: str, pe: float, rs: str,
               er: str, *, emit: bool = True) -> None:
        """Adopt the shared breaker's state when it is newer than what this replica knows."""
        cool = self._mono(cu)
        if cool > r.cool_until + _SLACK:
            r.cool_until = cool
        if v <= r.m_version:
            return
        before, r.reason = r.state, None
        r.m_version = v
        r.m_state = _STATE.get(st, "closed")
        r.m_until = self._mono(oa + cd) if r.m_state == "open" else 0.0
        mine = pr.startswith(self._replica + ":")
        r.m_probe_until = self._mono(pe) if pr and not mine else 0.0
        if r.m_state == "closed" and rs == "probe succeeded" and r.breaker.state != "closed":
            r.breaker.success(self._now, probe=True)  # one probe closed it for every replica
            r.reason = None
        if emit:
            self._emit(r, before, rs, er or None)

    def _on_message(self, data: bytes) -> None:
        try:
            m = json.loads(data)
            route, st, v = str(m["r"]), str(m["st"]), int(m["v"])
            oa, cd, cu, pe = float(m["oa"]), float(m["cd"]), float(m["cu"]), float(m["pe"])
            pr, rs, er = str(m["pr"]), str(m["rs"]), str(m["er"])
        except (ValueError, KeyError, TypeError):
            return  # not ours
        r = self._routes.get(route)
        if r is None:
            if st == "c" and self._mono(cu) <= self._now:
                return  # nothing this replica needs to remember
            r = self._add(route)
        self._learn(r, st, oa, cd, cu, v, pr, pe, rs, er)

    def _on_recover(self) -> None:
        self._resync = True
        self._wake.set()

    async def _sync(self, *, force: bool = False) -> None:
        """Send what is queued and refresh the routes in use, in one pipeline."""
        now = time.monotonic()
        resync, self._resync = self._resync, False
        due: list[_Route] = []
        for r in self._routes.values():
            if resync and r.breaker.state == "open" and r.m_state == "closed":
                wait = r.breaker.retry_in(self._now)
                if wait > 0:  # opened while Redis was away: open it for the fleet too
                    self._queue(r, ["O", self._ms(self._now), f"{self._ms(self._now + wait)}|"
                                    f"opened by a replica while shared state was unavailable"], urgent=False)
            if (r.ops or r.lat[0] or r.lat[2] or r.local != r.inflight_sent or resync or force
                    or (now - r.synced >= self.interval and now - r.used < _ACTIVE)):
                due.append(r)
        due.sort(key=lambda r: not (r.ops or r.local != r.inflight_sent))
        due = due[:max(_REFRESH_MAX, sum(1 for r in due if r.ops))]
        pending, self._pending = self._pending, {}
        budget_due = bool(pending) or now - self._budget_synced >= self.interval
        if not due and not budget_due:
            return
        calls: list[tuple[str, list[Any]]] = []
        for r in due:
            ops, r.ops = r.ops, []
            calls.append(self._route_call(r, ops))
        if budget_due:
            self._budget_synced = now
            triplets = [x for b, (q, rt) in pending.items() for x in (b, q, rt)]
            calls.append((_SHA_BUDGET, [1, self._budget_key, int(time.time() * 1000), int(self._width * 1000),
                                        self._nb, int(self._window * 2000) + 60_000, *triplets]))

        async def run(client: Redis) -> list[Any]:
            return await self._evalsha(client, calls)

        async with self._lock:
            replies = await self.connection.call(run, None, within=self.connection.timeout * 4)
        if replies is None:
            for r in due:  # unsent: will be sent again once Redis answers (until then local only)
                r.inflight_sent = None
            return
        for r, reply in zip(due, replies, strict=False):
            self._apply(r, reply, "learned from the fleet")
        if budget_due:
            for b, (q, rt) in pending.items():
                _add_to(self._sent, b, 0, q)
                _add_to(self._sent, b, 1, rt)
            self._learn_budget(replies[-1])

    def _learn_budget(self, reply: list[Any]) -> None:
        """The others' requests and retries per bucket: the fleet's minus this replica's."""
        others: dict[int, list[int]] = {}
        values = [int(x) for x in reply]
        for i in range(0, len(values) - 2, 3):
            b, q, rt = values[i], values[i + 1], values[i + 2]
            sent = self._sent.get(b, [0, 0])
            others[b] = [max(0, q - sent[0]), max(0, rt - sent[1])]
        self._others = others
        if others:
            _prune(self._sent, min(others) - 1)

    async def _run(self) -> None:
        await sync_loop(self.interval, self._wake, lambda: self._closed, self._sync)

    async def _listen(self) -> None:
        """Hear the other replicas' changes; after each (re)subscription, refresh everything."""
        while True:
            pubsub = self.connection.subscriber().pubsub()
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed.set()
                self._on_recover()  # messages may have been missed while not subscribed
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._on_message(message["data"])
            except UNAVAILABLE:
                self._subscribed.clear()
                await asyncio.sleep(max(self.connection.health.retry_interval, self.interval))
            finally:
                with contextlib.suppress(*UNAVAILABLE):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


def _add_to(counts: dict[int, list[int]], bucket: int, i: int, n: int = 1) -> None:
    found = counts.get(bucket)
    if found is None:
        found = counts[bucket] = [0, 0]
    found[i] += n


def _prune(counts: dict[int, list[int]], before: int) -> None:
    for b in [b for b in counts if b < before]:
        del counts[b]
