"""Redis for llmport: the connection every replica-shared component uses (extra ``llmport[redis]``).

One ``RedisConnection`` per deployment, built from ``LLMPORT_STATE__URL`` (``redis://``, TLS
``rediss://`` or ``unix://``; the URL is a secret and only ever shown redacted) and
``LLMPORT_STATE__NAMESPACE`` (default ``llmport``; replicas of one deployment share it, other
deployments on the same Redis pick their own). Components that keep state across replicas (the
policy's route state, the usage ledger, the response cache, key rotation) share it:

- **Keys** come from ``connection.keys.key(tag, *parts)``: ``<namespace>:{<tag>}:<parts>``. The
  ``{tag}`` is a Redis Cluster hash tag: give all keys that one script or transaction touches the
  same tag (e.g. ``"route:openai/gpt-4o"``, ``"ledger:<account>"``). Every key written must carry
  a TTL, so nothing grows without bound.
- **Calls** go through ``await connection.call(op, default)``: ``op(client)`` runs with the state
  timeout (50 ms by default: socket, connect and whole call) and redis-py's retries off; if Redis
  is down, slow or answers an error, ``call`` returns ``default`` instead of raising. Redis is never
  a single point of failure: callers keep a local fallback and treat ``default`` as "unknown".
  ``connection.client(timeout)`` gives the redis-py asyncio client with another timeout for work
  that may take longer (a ledger flush, a cache write off the hot path).
- **Degradation** (``connection.health``): the first failure of an outage logs one
  ``redis.degraded`` warning; while degraded, ``call`` skips Redis (returns ``default`` at once)
  except for one try every ``retry_interval`` (0.5 s); the first success logs ``redis.recovered``
  and runs the ``health.on_recover`` callbacks, where components resynchronise.
- **Scripts**: ``connection.client().register_script(lua)`` (EVALSHA, reloaded after a restart).
  Scripts get every key through ``KEYS`` (all with one tag) and do not call ``TIME`` (callers
  pass their clock), so they run alike on Redis 7 and Valkey.

``RedisPolicyState`` (``route_state``) shares the failover policy's state across replicas;
``RedisKeyStates`` (``key_state``) the key rings' per-key cooling, retirements and usage;
``RedisServer`` (``server``) runs a real ``redis-server`` on a free port for tests and benchmarks.
Importing this package imports redis-py only when one of these names is used (``keys`` is pure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .keys import RedisKeys, check_namespace, check_url, redact_url

if TYPE_CHECKING:
    from .connection import UNAVAILABLE, RedisConnection
    from .health import Degradation
    from .key_state import RedisKeyStates
    from .route_state import RedisPolicyState

_LAZY = {"UNAVAILABLE": "connection", "RedisConnection": "connection", "Degradation": "health",
         "RedisKeyStates": "key_state",
         "RedisPolicyState": "route_state"}

__all__ = ["UNAVAILABLE", "Degradation", "RedisConnection", "RedisKeyStates", "RedisKeys", "RedisPolicyState",
           "check_namespace", "check_url", "redact_url"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
