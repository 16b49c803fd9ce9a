"""The response cache's key: a hash of a canonical form of everything that changes the answer.

Every field of ``CompletionRequest`` is part of the key except those that cannot change the answer
(deadlines and timeouts, cache hints, metadata: enrichment by metadata happens before the key is
computed, so its effect is in the system text). A field added to the request later is part of the
key whenever it is set (not its default): a new field may cost a hit, never serve a wrong answer,
and leaves the keys of requests that do not use it unchanged. ``model`` is replaced by the
resolved route set, and the tenant is part of the key unless the alias is shared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields, is_dataclass
from enum import Enum
from typing import Any

from llmport.domain import CompletionRequest, Message, ResponseFormat, TextPart

# Fields that do not change the answer (or, for model and tenant, are added explicitly).
_EXCLUDED = frozenset({"model", "tenant_id", "metadata", "timeout", "attempt_timeout", "deadline", "cache",
                       "stall_timeout"})
# The fields of this key format, always keyed; a field added to the request later is keyed (by name)
# only when set to something other than its default, so existing keys stay the same.
_KNOWN = ("messages", "system", "tools", "tool_choice", "temperature", "top_p", "max_tokens", "stop",
          "response_format", "seed", "reasoning")
_KEYED = tuple(f.name for f in fields(CompletionRequest) if f.name in _KNOWN)


def later_fields(request_type: type) -> tuple[tuple[str, Any], ...]:
    """The fields of ``request_type`` this key format does not know, each with its default."""
    return tuple((f.name, f.default if f.default_factory is MISSING else f.default_factory())
                 for f in fields(request_type) if f.name not in _KNOWN and f.name not in _EXCLUDED)


_LATER = later_fields(CompletionRequest)
# Message fields that only steer the vendor's prompt cache.
_SKIP = {"Message": frozenset({"cache_breakpoint"})}


def cache_key(request: CompletionRequest, route_set: str, tenant: str | None) -> str:
    """A hex SHA-256 naming the answer ``request`` gets from ``route_set`` for ``tenant``
    (``None``: shared across tenants)."""
    values = []
    for name, special in _PLAN:
        value = getattr(request, name)
        values.append(value if type(value) in _SCALARS else special(value))
    for name, default in _LATER:
        value = getattr(request, name)
        if value != default:
            values.append((name, _canon(value)))
    doc = (3, route_set, tenant, values)
    # The repr of nested str/int/float/bool/None, lists, tuples and dicts (keys sorted by _canon) is
    # unambiguous and several times faster than JSON; errors="surrogatepass": lone surrogates are text too.
    return hashlib.sha256(repr(doc).encode("utf-8", "surrogatepass")).hexdigest()


def _canon(value: Any) -> Any:
    """A plain form (builtins only) that differs whenever the value does (types named, bytes hashed)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _NAMES.get(kind)
    if names is None and is_dataclass(value) and not isinstance(value, type):
        skip = _SKIP.get(kind.__name__, frozenset())
        names = _NAMES[kind] = tuple(f.name for f in fields(value) if f.name not in skip)
    if names is not None:
        doc = {name: _canon(getattr(value, name)) for name in names}
        doc["@"] = kind.__name__
        return doc
    if isinstance(value, Enum):
        return _canon(value.value)
    if isinstance(value, tuple | list):
        return [_canon(v) for v in value]
    if isinstance(value, Mapping):
        return dict(sorted(((str(k), _canon(v)) for k, v in value.items()), key=_first))
    if isinstance(value, bytes | bytearray):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    return {"@": kind.__name__, "repr": repr(value)}


_SCALARS = frozenset({type(None), bool, int, float, str})
_NAMES: dict[type, tuple[str, ...]] = {}


def _messages(messages: tuple[Message, ...]) -> list[Any]:
    # The hot path: plain text parts in a compact form; every other part through ``_canon``.
    return [[m.role.value, [p.text if type(p) is TextPart else _canon(p) for p in m.parts]] for m in messages]


def _response_format(value: ResponseFormat) -> Any:
    # Only a schema's name and strictness reach the vendor; plain text and JSON are their kind alone.
    return value.kind if value.kind != "json_schema" else _canon(value)


def _sequence(value: Any) -> Any:
    return [] if value == () else _canon(value)


_FIELD: dict[str, Callable[[Any], Any]] = {"messages": _messages, "response_format": _response_format,
                                           "tools": _sequence, "stop": _sequence}
_PLAN = tuple((name, _FIELD.get(name, _canon)) for name in _KEYED)


def _first(item: tuple[str, Any]) -> str:
    return item[0]
