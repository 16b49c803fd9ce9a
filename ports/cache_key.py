"""The response cache's key: a hash of a canonical form of everything that changes the answer.

Every field of ``CompletionRequest`` is part of the key except those that cannot change the answer
(deadlines, cache hints, metadata: enrichment by metadata happens before the key is computed, so
its effect is in the system text). A field added to the request later is part of the key by
default: a new field may cost a hit, never serve a wrong answer. ``model`` is replaced by the
resolved route set, and the tenant is part of the key unless the alias is shared.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any

from llmport.domain import CompletionRequest

# Fields that do not change the answer (or, for model and tenant, are added explicitly).
_EXCLUDED = frozenset({"model", "tenant_id", "metadata", "timeout", "attempt_timeout", "deadline", "cache"})
_KEYED = tuple(f.name for f in fields(CompletionRequest) if f.name not in _EXCLUDED)
# Message fields that only steer the vendor's prompt cache.
_SKIP = {"Message": frozenset({"cache_breakpoint"})}


def cache_key(request: CompletionRequest, route_set: str, tenant: str | None) -> str:
    """A hex SHA-256 naming the answer ``request`` gets from ``route_set`` for ``tenant``
    (``None``: shared across tenants)."""
    doc = [2, route_set, tenant, [_canon(getattr(request, name)) for name in _KEYED]]
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _canon(value: Any) -> Any:
    """A JSON-ready form that differs whenever the value does (types named, bytes hashed)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return _canon(value.value)
    if isinstance(value, tuple | list):
        return [_canon(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, bytes | bytearray):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        skip = _SKIP.get(name, frozenset())
        return {"@": name, **{f.name: _canon(getattr(value, f.name)) for f in fields(value) if f.name not in skip}}
    return {"@": type(value).__name__, "repr": repr(value)}
