"""Shared by the wire fast-path tests: one stream's or one call's observable outcome (every event or
the completion, and the error with everything a caller or the failover policy reads from it), and
the scenarios both paths run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from llmport.adapters.testing.emulator import Fault, Reply, ScriptedToolCall, ScriptedUsage, VendorEmulator
from llmport.domain import CompletionRequest, LLMError, ReasoningConfig, StreamEnd, StreamInterrupted, ToolSpec

TOOL = ToolSpec("lookup", "Look something up", {"type": "object", "properties": {"q": {"type": "string"}}})


async def outcome(adapter: Any, req: CompletionRequest) -> tuple[list[Any], Any]:
    events: list[Any] = []
    try:
        async with adapter.stream(req) as stream:
            async for event in stream:
                # the emulator numbers its responses: the id is the one thing that differs per call
                events.append(replace(event, response_id=None) if isinstance(event, StreamEnd) else event)
    except LLMError as exc:
        partial = exc.partial if isinstance(exc, StreamInterrupted) else None
        detail = (type(exc).__name__, exc.message, exc.status, exc.vendor_type, exc.vendor_code, exc.retryable,
                  exc.failover, partial.parts if partial is not None else None)
        return events, detail
    return events, None


async def complete_outcome(adapter: Any, req: CompletionRequest) -> tuple[Any, Any]:
    """One ``complete`` call's observable outcome: the completion (its extras and usage too), or the
    error (whether it drags an exception chain along; its request id as scripted, or only whether
    there is one, since the emulator numbers them)."""
    try:
        done = await adapter.complete(req)
    except LLMError as exc:
        chained = exc.__cause__ is not None or exc.__context__ is not None
        request_id = exc.request_id if exc.request_id == "req_from_header" else bool(exc.request_id)
        return None, (chained, type(exc).__name__, exc.message, exc.status, exc.vendor_type, exc.vendor_code,
                      exc.retryable, exc.failover, request_id)
    # the emulator numbers its responses: the id is the one thing that differs per call
    return (done.parts, done.stop_reason, done.usage, done.model, dict(done.extras)), None


async def on_both(pair: tuple[Any, Any], emu: VendorEmulator, vendor: str, step: Any, req: CompletionRequest,
                  run: Callable[[Any, CompletionRequest], Awaitable[Any]]) -> list[Any]:
    """``run`` (``outcome`` or ``complete_outcome``) on the wire adapter, then on the SDK one, each
    against a fresh emulator script of ``step``."""
    outcomes = []
    for adapter in pair:
        emu.reset()
        emu.script(step, vendor=vendor)
        outcomes.append(await run(adapter, req))
    return outcomes


def scenarios(server_error: str, rate_limit_error: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """(name, scripted step, request fields); the in-stream error types are the vendor's own."""
    return [
        ("text", Reply(text="Hello from the wire, in small chunks.", chunk_size=4,
                       usage=ScriptedUsage(11, 7, cached_input_tokens=3, cache_write_tokens=1, reasoning_tokens=2)),
         {}),
        ("tool calls", Reply(text="Let me look.", tool_calls=(ScriptedToolCall("lookup", {"q": "a"}),
                                                              ScriptedToolCall("lookup", {"q": "b"}))),
         {"tools": [TOOL]}),
        ("reasoning", Reply(text="Answer.", reasoning="Thinking it over.", reasoning_signature="sig-1"),
         {"reasoning": ReasoningConfig(effort="low", include_text=True)}),
        ("max tokens", Reply(text="cut short", stop="max_tokens"), {}),
        ("content filter", Reply(text="", stop="content_filter"), {}),
        ("empty", Reply(text=""), {}),
        ("status 503", Fault.http(503), {}),
        ("rate limited", Fault.rate_limited(retry_after=2), {}),
        ("context length", Fault.context_length(), {}),
        ("cut before output", Fault.cut(0), {}),
        ("cut after output", Fault.cut(3, reply=Reply(text="abcdefghijklmnop", chunk_size=2)), {}),
        ("malformed first", Fault.malformed(0), {}),
        ("malformed later", Fault.malformed(2, reply=Reply(text="abcdefgh", chunk_size=2)), {}),
        ("stream error first", Fault.stream_error(0, server_error, "boom"), {}),
        ("stream error later", Fault.stream_error(2, rate_limit_error, "slow down",
                                                  reply=Reply(text="abcdefgh", chunk_size=2)), {}),
    ]
