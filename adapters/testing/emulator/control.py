"""The emulator's control surface, one implementation behind both the Python API (``VendorEmulator.script``,
``fail_rate``, ``pending``, ``reset``) and the HTTP control API under ``/_emulator/`` on the emulator's own port,
so a host whose application runs in another process (or another language) scripts faults the same way.

HTTP (JSON bodies; selectors ``vendor``/``model``/``tag``/``endpoint``/``key`` (an API key fingerprint) are optional
and match like the Python API)::

    POST /_emulator/script      {"steps": [STEP, ...], "then": STEP, "tag": "primary"}
    POST /_emulator/fail_rate   {"rate": 0.2, "seed": 7, "fault": FAULT, "mix": [FAULT, ...], "vendor": "openai"}
    POST /_emulator/reset       forget every script, fault rate and journal entry
    GET  /_emulator/pending     {"pending": N}  (queued steps not consumed yet; selectors as query parameters)
    GET  /_emulator/journal     {"entries": [ENTRY, ...]}  (filters: vendor, model, tag, endpoint)
    POST /_emulator/wait_disconnected  {"seq": 3, "timeout": 5}  -> ENTRY once its client went away, else 408

    STEP  = {"reply": {"text": "hi", "chunk_size": 4, "chunk_delay": 0.01,
                       "tool_calls": [{"name": ..., "arguments": {}}], "usage": {"input_tokens": 3}, ...}}
          | {"fault": FAULT}
    FAULT = {"kind": "http", "status": 503, "error_type": ..., "message": ..., "retry_after": 1.5, "latency": 0.1,
             "after_chunks": 2, "reply": {...}, "body": "raw text", "media_type": "..."}  (kind: http, hang, reset,
             cut, malformed, stream_error, raw; every field is the Python ``Fault``/``Reply`` field of that name)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from .journal import Journal, JournalEntry
from .script import Fault, FaultRate, Reply, ScriptedToolCall, ScriptedUsage, Step
from .scripts import ScriptStore, Selector

PREFIX = "/_emulator/"
_SELECTOR_KEYS = ("vendor", "model", "tag", "endpoint", "key")


class ControlError(ValueError):
    """A control request the emulator cannot apply (HTTP 400 with this message)."""


class Control:
    """Scripts, fault rates and the journal of one emulator."""

    def __init__(self, store: ScriptStore, journal: Journal) -> None:
        self.store = store
        self.journal = journal

    # --- the Python API's operations ---------------------------------------------------------
    def script(self, steps: tuple[Step, ...], selector: Selector, then: Step | None = None) -> None:
        self.store.script(steps, selector, then)

    def fail_rate(self, rate: FaultRate, selector: Selector) -> None:
        self.store.fail_rate(rate, selector)

    def pending(self, selector: Selector) -> int:
        return self.store.pending(None if selector == Selector() else selector)

    def reset(self) -> None:
        self.store.clear()
        self.journal.clear()

    # --- HTTP --------------------------------------------------------------------------------
    async def handle(self, method: str, path: str, query: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        """Answer one control request: (status, JSON value)."""
        action = path.removeprefix(PREFIX).strip("/")
        try:
            data = json.loads(body) if body.strip() else {}
            if not isinstance(data, dict):
                raise ControlError("the body must be a JSON object")
            if (method, action) == ("POST", "script"):
                steps = tuple(step_from_json(s) for s in _list(data.get("steps", []), "steps"))
                then = step_from_json(data["then"]) if data.get("then") is not None else None
                self.script(steps, _selector(data), then)
                return 200, {"scripted": len(steps)}
            if (method, action) == ("POST", "fail_rate"):
                self.fail_rate(rate_from_json(data), _selector(data))
                return 200, {"ok": True}
            if (method, action) == ("POST", "reset"):
                self.reset()
                return 200, {"ok": True}
            if (method, action) == ("GET", "pending"):
                return 200, {"pending": self.pending(_selector(query))}
            if (method, action) == ("GET", "journal"):
                return 200, {"entries": [entry_to_json(e) for e in self.journal.entries(**_filters(query))]}
            if (method, action) == ("POST", "wait_disconnected"):
                return await self._wait_disconnected(data)
        except ControlError as exc:
            return 400, {"error": str(exc)}
        except (ValueError, TypeError, KeyError) as exc:
            return 400, {"error": f"invalid control request: {exc}"}
        return 404, {"error": f"no control endpoint {method} {path}"}

    async def _wait_disconnected(self, data: Mapping[str, Any]) -> tuple[int, Any]:
        seq, timeout = int(data["seq"]), float(data.get("timeout", 2.0))
        found = [e for e in self.journal.entries() if e.seq == seq]
        if not found:
            return 404, {"error": f"no journal entry with seq {seq}"}
        try:
            await self.journal.await_disconnected(found[0], timeout)
        except TimeoutError:
            return 408, {"error": f"entry {seq} was not disconnected within {timeout:g}s"}
        return 200, entry_to_json(found[0])


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise ControlError(f"{name} must be a list")
    return value


def _selector(data: Mapping[str, Any]) -> Selector:
    values = {k: data.get(k) for k in _SELECTOR_KEYS}
    for key, value in values.items():
        if value is not None and not isinstance(value, str):
            raise ControlError(f"{key} must be a string")
    return Selector(**values)


def _filters(query: Mapping[str, str]) -> dict[str, str]:
    return {k: query[k] for k in _SELECTOR_KEYS if k in query}


def _build(cls: type[Any], data: Any, name: str) -> Any:
    if not isinstance(data, dict):
        raise ControlError(f"{name} must be a JSON object")
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ControlError(f"unknown {name} field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**data)


def reply_from_json(data: Any) -> Reply:
    """A ``Reply`` from its JSON form (the dataclass's field names)."""
    if not isinstance(data, dict):
        raise ControlError("reply must be a JSON object")
    fields = dict(data)
    if "tool_calls" in fields:
        fields["tool_calls"] = tuple(_build(ScriptedToolCall, c, "tool call")
                                     for c in _list(fields["tool_calls"], "tool_calls"))
    if "usage" in fields:
        fields["usage"] = _build(ScriptedUsage, fields["usage"], "usage")
    if fields.get("chunks") is not None:
        fields["chunks"] = tuple(str(c) for c in _list(fields["chunks"], "chunks"))
    reply: Reply = _build(Reply, fields, "reply")
    return reply


def fault_from_json(data: Any) -> Fault:
    """A ``Fault`` from its JSON form (the dataclass's field names; ``body`` as text)."""
    if not isinstance(data, dict):
        raise ControlError("fault must be a JSON object")
    fields = dict(data)
    if fields.get("reply") is not None:
        fields["reply"] = reply_from_json(fields["reply"])
    if "body" in fields:
        fields["body"] = str(fields["body"]).encode()
    fault: Fault = _build(Fault, fields, "fault")
    return fault


def step_from_json(data: Any) -> Step:
    """``{"reply": {...}}`` or ``{"fault": {...}}``."""
    if not isinstance(data, dict) or len(data) != 1 or not ({"reply", "fault"} & set(data)):
        raise ControlError('a step is {"reply": {...}} or {"fault": {...}}')
    return reply_from_json(data["reply"]) if "reply" in data else fault_from_json(data["fault"])


def rate_from_json(data: Mapping[str, Any]) -> FaultRate:
    rate = float(data["rate"])
    if not 0.0 <= rate <= 1.0:
        raise ControlError("rate must be between 0 and 1")
    mix = tuple(fault_from_json(f) for f in _list(data.get("mix", []), "mix"))
    return FaultRate(rate, fault_from_json(data["fault"]), int(data.get("seed", 0)), mix)


def entry_to_json(entry: JournalEntry) -> dict[str, Any]:
    """A journal entry as JSON (headers and query already redacted at recording time)."""
    step = entry.step
    return {
        "seq": entry.seq, "vendor": entry.vendor, "endpoint": entry.endpoint, "method": entry.method,
        "path": entry.path, "tag": entry.tag, "model": entry.model, "stream": entry.stream,
        "query": dict(entry.query), "headers": dict(entry.headers), "body": _jsonable(entry.body),
        "step": None if step is None else {"reply" if isinstance(step, Reply) else "fault": _step_summary(step)},
        "status": entry.status, "frames_sent": entry.frames_sent, "ended": entry.ended,
        "client_disconnected": entry.client_disconnected, "connection_closed": entry.connection_closed,
        "client": list(entry.client) if entry.client else None, "key": entry.key,
    }


def _step_summary(step: Step) -> dict[str, Any]:
    if isinstance(step, Reply):
        return {"text": step.text}
    return {"kind": step.kind, "status": step.status, "error_type": step.error_type}


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value
