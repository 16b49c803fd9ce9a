"""Counting fuzz of the public domain constructors and of the adapters behind them.

Run ``python -m tests.fuzz.constructor_fuzz`` (add ``--send`` to also send every request that
constructs through every contract harness against the emulator). It prints how many cases
constructed, raised ``InvalidRequest``, or raised anything else (a contract breach), and for the
sent requests how many ended in a completion, an ``LLMError`` or anything else. The cases are a
fixed grid (each argument of each constructor replaced in turn by each value of a pool of
awkward values), so counts taken before and after a change compare like for like; the
hypothesis property tests in ``tests/domain`` and ``tests/contract`` explore beyond the grid.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from llmport.domain import (
    CachePolicy,
    CompletionRequest,
    ImagePart,
    InvalidRequest,
    LLMError,
    Message,
    ModelRef,
    ReasoningConfig,
    ReasoningPart,
    ResponseFormat,
    Role,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    ToolSpec,
)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "object"}
    for _ in range(depth):
        value = {"type": "object", "properties": {"x": value}}
    return value


class _Opaque:
    pass


# Awkward values: wrong types, absurd or non-finite numbers, unencodable text, deep nesting.
POOL: list[Any] = [
    None, 0, -1, 7, 10**400, 1.5, math.nan, math.inf, -math.inf, True, "", " ", "x", "a\ud800b", "bogus",
    b"bytes", [], ["x"], {}, {"k": "v"}, {"type": "object", "properties": "notadict", "required": 5},
    _nested(2000), _Opaque(), ("a",), "file:///etc/passwd", "text/html",
]

USER = Message.user("hi")
CALL = ToolCallPart("c1", "get_weather", {"city": "Oslo"})
TOOL = ToolSpec("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})

# constructor -> valid keyword arguments; each is varied one argument at a time
CONSTRUCTORS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "TextPart": (TextPart, {"text": "hello"}),
    "ImagePart.url": (ImagePart, {"url": "https://example.com/cat.png", "data": None, "media_type": None}),
    "ImagePart.data": (ImagePart, {"url": None, "data": b"\x89PNG", "media_type": "image/png"}),
    "ToolCallPart": (ToolCallPart, {"id": "c1", "name": "f", "arguments": {"a": 1}, "raw_arguments": None}),
    "ToolResultPart": (ToolResultPart, {"call_id": "c1", "content": "42", "is_error": False}),
    "ReasoningPart": (ReasoningPart, {"text": "hmm", "signature": None, "provider": None, "redacted": False}),
    "Message": (Message, {"role": Role.USER, "parts": (TextPart("hi"),), "cache_breakpoint": False}),
    "Message.user": (lambda content: Message.user(content), {"content": "hi"}),
    "Message.system": (lambda text: Message.system(text), {"text": "be brief"}),
    "Message.tool_result": (lambda call_id, content: Message.tool_result(call_id, content),
                            {"call_id": "c1", "content": "42"}),
    "ToolSpec": (ToolSpec, {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}}),
    "ToolChoice": (ToolChoice, {"mode": "auto", "name": None}),
    "ResponseFormat": (ResponseFormat, {"kind": "json_schema", "schema": {"type": "object"}, "name": "r",
                                        "strict": True}),
    "ReasoningConfig": (ReasoningConfig, {"effort": "low", "budget_tokens": None, "include_text": True}),
    "CachePolicy": (CachePolicy, {"prompt_cache": "off", "response_ttl": None}),
    "ModelRef.parse": (lambda text: ModelRef.parse(text), {"text": "openai/gpt-4o"}),
    "CompletionRequest": (CompletionRequest, {
        "model": "m", "messages": [USER], "system": None, "tools": (), "tool_choice": None, "temperature": None,
        "top_p": None, "max_tokens": None, "stop": (), "response_format": ResponseFormat(), "seed": None,
        "reasoning": None, "tenant_id": None, "metadata": {}, "timeout": None, "attempt_timeout": None,
        "deadline": None, "cache": CachePolicy(),
    }),
}

# Values that are meaningful replacements for arguments expecting domain values (not in POOL).
EXTRA: dict[str, list[Any]] = {
    "tools": [[{"name": "f", "parameters": {}}], [TOOL]],
    "tool_choice": ["auto", "required", {"type": "auto"}],
    "messages": [[{"role": "user", "content": "hi"}], [Message(Role.ASSISTANT, (CALL,)), USER]],
    "response_format": ["json", {"type": "json_object"}],
    "reasoning": ["high", {"effort": "high"}],
    "cache": ["auto", {"prompt_cache": "auto"}],
    "budget_tokens": ["100"],
    "role": ["bogus", "user"],
    "parts": [TextPart("x"), [TextPart("")], ["plain string"]],
}


def cases() -> Iterator[tuple[str, Callable[[], Any]]]:
    for name, (ctor, valid) in CONSTRUCTORS.items():
        for arg in valid:
            for value in [*POOL, *EXTRA.get(arg, [])]:
                kwargs = {**valid, arg: value}
                yield f"{name}({arg}={_short(value)})", (lambda c=ctor, k=kwargs: c(**k))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


def as_request(value: Any) -> CompletionRequest | None:
    """A constructed value placed in a request (None when it cannot be placed: that is fine)."""
    try:
        if isinstance(value, CompletionRequest):
            return value
        if isinstance(value, Message):
            if value.role is Role.TOOL:
                return CompletionRequest("m", [USER, Message(Role.ASSISTANT, (CALL,)), value])
            return CompletionRequest("m", [value] if value.role is Role.USER else [value, USER])
        if isinstance(value, TextPart | ImagePart):
            return CompletionRequest("m", [Message(Role.USER, (value,))])
        if isinstance(value, ToolCallPart | ReasoningPart):
            return CompletionRequest("m", [USER, Message(Role.ASSISTANT, (value,)), USER]
                                     if isinstance(value, ReasoningPart) else [USER, Message(Role.ASSISTANT, (value,))])
        if isinstance(value, ToolResultPart):
            call = ToolCallPart(value.call_id, "f", {})
            return CompletionRequest("m", [USER, Message(Role.ASSISTANT, (call,)), Message(Role.TOOL, (value,))])
        if isinstance(value, ToolSpec):
            return CompletionRequest("m", [USER], tools=[value])
        if isinstance(value, ToolChoice):
            return CompletionRequest("m", [USER], tools=[TOOL], tool_choice=value)
        if isinstance(value, ResponseFormat):
            return CompletionRequest("m", [USER], response_format=value)
        if isinstance(value, ReasoningConfig):
            return CompletionRequest("m", [USER], reasoning=value)
        if isinstance(value, CachePolicy):
            return CompletionRequest("m", [USER], cache=value)
    except Exception:
        return None
    return None


def classify(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        value = fn()
    except InvalidRequest:
        return "InvalidRequest", None
    except Exception as exc:
        return f"raw {type(exc).__name__}", None
    return "constructed", value


async def send_all(requests: list[tuple[str, CompletionRequest]]) -> tuple[Counter[str], list[str]]:
    import dataclasses

    from llmport.adapters.testing.emulator import VendorEmulator
    from tests.contract.conftest import HARNESSES

    outcomes: Counter[str] = Counter()
    breaches: list[str] = []
    with VendorEmulator() as emu:
        for harness in HARNESSES:
            adapter = harness.build(emu.url)
            try:
                for label, req in requests:
                    req = dataclasses.replace(req, model=harness.model) if req.model == "m" else req
                    try:
                        await adapter.complete(req)
                    except LLMError:
                        outcomes["LLMError"] += 1
                        continue
                    except Exception as exc:
                        outcomes[f"raw {type(exc).__name__}"] += 1
                        breaches.append(f"{harness.name}: {label}: {type(exc).__name__}")
                        continue
                    outcomes["completion"] += 1
            finally:
                await adapter.aclose()
    return outcomes, breaches


def main(argv: list[str]) -> None:
    sys.setrecursionlimit(10_000)
    totals: Counter[str] = Counter()
    raw: list[str] = []
    constructed: list[tuple[str, CompletionRequest]] = []
    for label, fn in cases():
        outcome, value = classify(fn)
        totals[outcome] += 1
        if outcome.startswith("raw"):
            raw.append(f"{label}: {outcome}")
        elif value is not None:
            req = as_request(value)
            if req is not None:
                constructed.append((label, req))
    print(f"constructor cases: {sum(totals.values())}  " + ", ".join(f"{k}: {v}" for k, v in sorted(totals.items())))
    for line in raw if "-v" in argv else ():
        print("  ", line)
    if "--send" in argv:
        outcomes, breaches = asyncio.run(send_all(constructed))
        print(f"sent {len(constructed)} constructed requests x harnesses = {sum(outcomes.values())} calls  "
              + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
        for line in breaches if "-v" in argv else ():
            print("  ", line)


if __name__ == "__main__":
    main(sys.argv[1:])
