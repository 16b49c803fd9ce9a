"""Settings of the request pipeline: the response cache (``cache``) and context enrichment (``context``).

As environment variables::

    LLMPORT_CACHE__BACKEND=memory            # off | memory | redis (redis: the shared state connection)
    LLMPORT_CACHE__TTL=300                   # seconds, for aliases that opt in without their own TTL
    LLMPORT_CACHE__MAX_ENTRIES=1024          # memory backend bounds
    LLMPORT_CACHE__MAX_BYTES=67108864
    LLMPORT_CACHE__ALIASES__FAQ__TTL=3600    # every request to alias "faq" is cached for an hour
    LLMPORT_CACHE__ALIASES__FAQ__SHARED=true # ... and its answers are shared by every tenant
    LLMPORT_CONTEXT__DIRECTORY=./guidelines  # Markdown guidance with front matter
    LLMPORT_CONTEXT__MAX_TOKENS=1000         # the cap on guidance added to one request
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llmport.ports.response_cache import CacheConfig, CacheRule

DAY = 86_400.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, allow_inf_nan=False)


class CacheAliasSettings(_Strict):
    """One alias opting in: its TTL (the cache's default when unset) and whether tenants share answers."""

    ttl: float | None = Field(default=None, gt=0, le=365 * DAY)
    shared: bool = False


class CacheSettings(_Strict):
    """``cache``: where answers are kept. Requests opt in with ``cache.response_ttl``; aliases here."""

    backend: Literal["off", "memory", "redis"] = "memory"
    ttl: float = Field(default=300.0, gt=0, le=365 * DAY)
    max_entries: int = Field(default=1024, ge=1, le=10_000_000)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, le=64 * 1024**3)
    aliases: dict[str, CacheAliasSettings] = Field(default_factory=dict)
    lock_ttl: float = Field(default=5.0, gt=0, le=600)  # how long other replicas wait for one filling
    chunk_size: int = Field(default=32, ge=1, le=65_536)  # characters per replayed stream event

    def config(self) -> CacheConfig:
        return CacheConfig(self.ttl, {a: CacheRule(r.ttl, r.shared) for a, r in self.aliases.items()},
                           lock_ttl=self.lock_ttl, chunk_size=self.chunk_size)


class ContextSettings(_Strict):
    """``context``: guidance from a directory of Markdown files, added under a token cap."""

    directory: str | None = Field(default=None, min_length=1)
    max_tokens: int = Field(default=1000, ge=1, le=1_000_000)
