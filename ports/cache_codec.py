"""A cached answer as bytes: a versioned JSON document that names its own key, so a corrupted,
truncated, foreign or older-format entry is recognised and treated as a miss."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, get_args

from llmport.domain import Completion, LLMError, ReasoningPart, StopKind, StopReason, TextPart, ToolCallPart, Usage

from .pipeline import evolve

FORMAT = "llmport.cache/1"
_ZERO = Decimal(0)
_STOP_KINDS = frozenset(get_args(StopKind))


class CacheDataError(ValueError):
    """Bytes that are not a cached answer for the key asked (corrupted, foreign or another format)."""


class Uncacheable(ValueError):
    """An answer holding parts the cache does not store (an answer never does; kept safe anyway)."""


def encode(key: str, completion: Completion) -> bytes:
    """``completion`` as the bytes stored under ``key`` (timing and the cached mark left out)."""
    parts: list[list[Any]] = []
    for p in completion.parts:
        if isinstance(p, TextPart):
            parts.append(["t", p.text])
        elif isinstance(p, ReasoningPart):
            parts.append(["r", p.text, p.signature, p.provider, p.redacted])
        elif isinstance(p, ToolCallPart):
            parts.append(["c", p.id, p.name, dict(p.arguments), p.raw_arguments])
        else:
            raise Uncacheable(f"an answer holding a {type(p).__name__} is not cached")
    u = completion.usage
    doc: dict[str, Any] = {
        "f": FORMAT, "k": key, "p": parts,
        "s": [completion.stop_reason.kind, completion.stop_reason.raw],
        "u": [u.input_tokens, u.output_tokens, u.cached_input_tokens, u.cache_write_tokens, u.reasoning_tokens,
              u.reported],
        "m": [completion.provider, completion.model, completion.response_id],
    }
    if completion.extras:
        doc["x"] = dict(completion.extras)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def decode(key: str, data: bytes) -> Completion:
    """The completion stored under ``key``, marked cached; ``CacheDataError`` for anything else."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("f") != FORMAT:
            raise CacheDataError("not a cached answer in this format")
        if doc.get("k") != key:
            raise CacheDataError("a cached answer for another key")
        kind, raw = doc["s"]
        if kind not in _STOP_KINDS:
            raise CacheDataError(f"unknown stop kind {kind!r}")
        tokens, output, cached, written, reasoning, reported = doc["u"]
        if not all(type(n) is int and n >= 0 for n in (tokens, output, cached, written, reasoning)) or \
                type(reported) is not bool:
            raise CacheDataError("bad usage")
        provider, model, response_id = doc["m"]
        extras = doc.get("x", {})
        if type(extras) is not dict:
            raise CacheDataError("bad extras")
        return Completion(
            tuple(_part(p) for p in doc["p"]), StopReason(kind, _opt_str(raw)),
            Usage(tokens, output, cached, written, reasoning, reported),
            _opt_str(provider), _opt_str(model), _opt_str(response_id), cached=True, cost=_ZERO, request_cost=_ZERO,
            extras=extras,
        )
    except CacheDataError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, RecursionError, LLMError) as exc:
        raise CacheDataError(f"unreadable cache entry ({type(exc).__name__})") from None


def as_cached(completion: Completion) -> Completion:
    """``completion`` as a cache serves it: marked ``cached``, costing nothing (no upstream call)."""
    if completion.cached and completion.cost == _ZERO and completion.request_cost == _ZERO:
        return completion
    return evolve(completion, cached=True, cost=_ZERO, request_cost=_ZERO)


def _part(item: list[Any]) -> TextPart | ReasoningPart | ToolCallPart:
    tag = item[0]
    if tag == "t" and len(item) == 2:
        return TextPart(_str(item[1]))
    if tag == "r" and len(item) == 5 and type(item[4]) is bool:
        return ReasoningPart(_str(item[1]), _opt_str(item[2]), _opt_str(item[3]), item[4])
    if tag == "c" and len(item) == 5 and isinstance(item[3], dict):
        return ToolCallPart(_str(item[1]), _str(item[2]), item[3], _opt_str(item[4]))
    raise CacheDataError("unknown part")


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise CacheDataError("expected a string")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)
