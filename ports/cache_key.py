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
import marshal
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, fields, is_dataclass
from enum import Enum
from typing import Any

from llmport.domain import CompletionRequest, Message, Role, TextPart

# Fields that do not change the answer (or, for model and tenant, are added explicitly).
_EXCLUDED = frozenset({"model", "tenant_id", "metadata", "timeout", "attempt_timeout", "deadline", "cache",
                       "stall_timeout"})
# The fields of this key format, always keyed; a field added to the request later is keyed (by name)
# only when set to something other than its default, so existing keys stay the same.
_KNOWN = ("messages", "system", "tools", "tool_choice", "temperature", "top_p", "max_tokens", "stop",
          "response_format", "seed", "reasoning")


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
    # One flat list: a field is one element (a scalar, or its plain form), except the messages,
    # which are counted (messages, then parts per message), so the flat form stays unambiguous.
    # The fields in the order of ``_KNOWN``, each read directly (a loop over the fields cost a third
    # of the key's time): scalars as themselves, empty sequences as ``[]``, a plain-text or JSON
    # response format as its kind (only a schema's name and strictness reach the vendor).
    doc: list[Any] = [_FORMAT, route_set, tenant]
    _messages(request.messages, doc)
    add = doc.append
    value: Any = request.system
    add(value if type(value) in _SCALARS else _canon(value))
    value = request.tools
    add(_canon(value) if value else [])
    value = request.tool_choice
    add(value if type(value) in _SCALARS else _canon(value))
    value = request.temperature
    add(value if type(value) in _SCALARS else _canon(value))
    value = request.top_p
    add(value if type(value) in _SCALARS else _canon(value))
    value = request.max_tokens
    add(value if type(value) in _SCALARS else _canon(value))
    value = request.stop
    add(_canon(value) if value else [])
    value = request.response_format
    add(_canon(value) if value.kind == "json_schema" else value.kind)
    value = request.seed
    add(value if type(value) in _SCALARS else _canon(value))
    value = request.reasoning
    add(value if type(value) in _SCALARS else _canon(value))
    for name, default in _LATER:
        value = getattr(request, name)
        if value != default:
            add((name, _canon(value)))
    return hashlib.sha256(marshal.dumps(doc, _MARSHAL_VERSION)).hexdigest()


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
_ROLE = {role: role.value for role in Role}  # a dict lookup: ``Enum.value`` is a property, slow per message
_NAMES: dict[type, tuple[str, ...]] = {}


def _messages(messages: Sequence[Message], doc: list[Any]) -> None:
    # The hot path: plain text parts as their text; every other part through ``_canon``.
    add = doc.append
    add(len(messages))
    if _PLAIN_MESSAGES:
        for m in messages:
            parts = m.parts
            add(_ROLE[m.role])
            add(len(parts))
            for p in parts:
                add(p.text if type(p) is TextPart else _canon(p))
    else:
        doc.extend([_canon(m) for m in messages])


_FORMAT = 4  # changes every key: bump only deliberately (old entries become misses)
# The bytes hashed: the document (str/int/float/bool/None, lists, tuples, dicts with keys sorted by
# ``_canon``) in marshal's format version 2, a fixed format: every value type-tagged and strings
# length-prefixed (unambiguous, lone surrogates included), and, unlike versions 3 and later, no
# back-references and no interning marks, so equal documents give equal bytes whatever the
# identity of their objects. Several times faster than ``repr`` or JSON.
_MARSHAL_VERSION = 2
# A message is its role and parts (its other fields only steer the vendor's prompt cache); a field
# added to ``Message`` later sends every message through ``_canon`` instead.
_PLAIN_MESSAGES = {f.name for f in fields(Message)} - _SKIP["Message"] == {"role", "parts"}


def _first(item: tuple[str, Any]) -> str:
    return item[0]
