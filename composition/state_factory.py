"""The shared Redis connection (``LLMPORT_STATE__URL``) and its lifetime in the container."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from llmport.ports import FailoverPolicy

from .logging import event_logger
from .settings import Settings, SettingsError

if TYPE_CHECKING:
    from llmport.adapters.redis.connection import RedisConnection


def build_redis(settings: Settings) -> RedisConnection | None:
    """The deployment's one Redis connection, or None when ``LLMPORT_STATE__URL`` is unset. No I/O."""
    state = settings.state
    if state.url is None:
        return None
    try:
        from llmport.adapters.redis.connection import RedisConnection
    except ImportError:
        raise SettingsError("LLMPORT_STATE__URL: shared state needs the redis extra "
                            "(pip install 'llmport[redis]')") from None
    # degradation and recovery lines go through llmport's event logger (rendering, redaction) like every other event
    logger = event_logger("llmport.redis", settings.logging, settings.secret_values())
    return RedisConnection(state.url.get_secret_value(), namespace=state.namespace, timeout=state.timeout,
                           logger=logger)


async def hold_state(policy: FailoverPolicy, redis: RedisConnection | None) -> AsyncIterator[None]:
    """A dependency-injector resource: at shutdown, stops the policy's shared state (flushing what
    it queued) and closes the Redis connection."""
    try:
        yield
    finally:
        if redis is not None:
            try:
                await policy.state.aclose()
            finally:
                await redis.aclose()
