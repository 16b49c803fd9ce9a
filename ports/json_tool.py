"""JSON schema output through a forced tool call, for a route whose model has tool calling but no
native structured output (its catalog entry says ``json_schema = false``).

``JsonThroughTool`` wraps that route's adapter: a request asking for ``ResponseFormat.json_schema``
is sent as a forced call of one tool whose parameters are the schema, and the call's arguments come
back as the answer's text (``TextDelta`` while streaming), with an ``end_turn`` stop: the caller sees
the same completion as from a route with native structured output. Other requests pass unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractAsyncContextManager

from llmport.domain import (
    Completion,
    CompletionRequest,
    InvalidRequest,
    ResponseFormat,
    StopReason,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolSpec,
)

from .pipeline import LLMStep

_DESCRIPTION = "Respond with the answer as this tool's input."


def through_tool(request: CompletionRequest) -> CompletionRequest:
    """``request`` with its JSON schema output asked as a forced tool call."""
    fmt = request.response_format  # a json_schema format always has its schema (ResponseFormat checks)
    if any(tool.name == fmt.name for tool in request.tools):
        raise InvalidRequest(f"the request already has a tool named {fmt.name!r}, the response format's name",
                             field="response_format")
    return dataclasses.replace(request, tools=(*request.tools, ToolSpec(fmt.name, _DESCRIPTION, fmt.schema or {})),
                               tool_choice=ToolChoice.tool(fmt.name), response_format=ResponseFormat.TEXT)


def _stop(stop: StopReason) -> StopReason:
    return StopReason("end_turn", stop.raw) if stop.kind == "tool_use" else stop


class JsonThroughTool(LLMStep):
    """A route's adapter answering JSON schema requests through a forced tool call."""

    async def complete(self, request: CompletionRequest) -> Completion:
        if request.response_format.kind != "json_schema":
            return await self.inner.complete(request)
        completion = await self.inner.complete(through_tool(request))
        name = request.response_format.name
        parts = tuple(TextPart(_arguments(p)) if isinstance(p, ToolCallPart) and p.name == name else p
                      for p in completion.parts)
        return dataclasses.replace(completion, parts=parts, stop_reason=_stop(completion.stop_reason))

    def stream(self, request: CompletionRequest) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        if request.response_format.kind != "json_schema":
            return self.inner.stream(request)
        return self._stream(request)

    @contextlib.asynccontextmanager
    async def _stream(self, request: CompletionRequest) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        async with self.inner.stream(through_tool(request)) as events:
            yield _as_text(events, request.response_format.name)

    async def count_tokens(self, request: CompletionRequest) -> int:
        if request.response_format.kind == "json_schema":
            request = through_tool(request)
        return await self.inner.count_tokens(request)


def _arguments(call: ToolCallPart) -> str:
    return call.raw_arguments if call.raw_arguments is not None else json.dumps(dict(call.arguments))


async def _as_text(events: AsyncIterator[StreamEvent], name: str) -> AsyncGenerator[StreamEvent, None]:
    ours: int | None = None
    async for event in events:
        if isinstance(event, ToolCallStart) and event.name == name:
            ours = event.index
        elif isinstance(event, ToolCallDelta) and event.index == ours:
            if event.arguments:
                yield TextDelta(event.arguments)
        elif isinstance(event, ToolCallEnd) and event.index == ours:
            ours = None
        elif isinstance(event, StreamEnd):
            yield dataclasses.replace(event, stop_reason=_stop(event.stop_reason))
        else:
            yield event
