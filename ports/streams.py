"""Opening a route's stream up to its first content: until then a failure may still fail over."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from llmport.domain import CompletionRequest, ProviderUnavailable, StreamEnd, StreamEvent
from llmport.domain.events import ContentEvent

from .llm import LLMPort

_STOP = (*ContentEvent, StreamEnd)


class PrimedStream:
    """A route's open stream whose events up to the first content (or the end) are buffered."""

    __slots__ = ("buffered", "ctx", "events", "ttft")

    def __init__(self, ctx: AbstractAsyncContextManager[AsyncIterator[StreamEvent]],
                 events: AsyncIterator[StreamEvent], buffered: list[StreamEvent], ttft: float | None) -> None:
        self.ctx = ctx
        self.events = events
        self.buffered = buffered
        self.ttft = ttft

    async def close(self) -> None:
        """Leave the route's stream context: closes the upstream connection."""
        await self.ctx.__aexit__(None, None, None)


async def prime(adapter: LLMPort, request: CompletionRequest, provider: str) -> PrimedStream:
    """Open ``adapter``'s stream and read until the first content event or ``StreamEnd``; on any
    failure (or cancellation) the stream is closed before the exception leaves."""
    start = time.perf_counter()
    ctx = adapter.stream(request)
    events = await ctx.__aenter__()
    buffered: list[StreamEvent] = []
    try:
        while True:
            try:
                event = await events.__anext__()
            except StopAsyncIteration:
                raise ProviderUnavailable("stream ended without any event", provider=provider) from None
            buffered.append(event)
            if isinstance(event, _STOP):
                break
    except BaseException:
        await ctx.__aexit__(None, None, None)
        raise
    ttft = time.perf_counter() - start if type(buffered[-1]) is not StreamEnd else None
    return PrimedStream(ctx, events, buffered, ttft)
