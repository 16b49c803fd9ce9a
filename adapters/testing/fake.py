"""``FakeLLM``: a scripted ``LLMPort`` for host backends' tests. No network, no SDK."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from llmport.adapters.base import SDKAdapter
from llmport.domain import (
    Completion,
    CompletionRequest,
    LLMError,
    ProviderUnavailable,
    StopReason,
    StreamEvent,
    TextPart,
    Usage,
    completion_events,
)
from llmport.ports import FailoverPolicy, PolicyConfig, Route, Router, RouteSet


@dataclass(frozen=True, slots=True)
class FakeReply:
    """One scripted answer: a completion (or plain text), how it streams, and how it may fail.

    ``latency`` is waited before anything is returned; ``chunk_delay`` between stream events;
    ``fail_after`` raises ``error`` after that many stream events (``StreamInterrupted`` once
    content went out); with ``fail_after`` None, ``error`` is raised at once.
    """

    completion: Completion | str = "ok"
    chunk_size: int = 8
    latency: float = 0.0
    chunk_delay: float = 0.0
    error: LLMError | None = None
    fail_after: int | None = None


ScriptItem = FakeReply | Completion | LLMError | str


class FakeLLM(SDKAdapter):
    """An ``LLMPort`` that answers from a script and records every request.

    ``FakeLLM("hello", RateLimited("slow down", retry_after=1), "second")`` answers the first call
    with "hello", raises on the second, answers "second" on the third, then ``default`` forever.
    Behind a policy (as an adapter) its scripted errors are raised as they are; a host's tests
    should use ``container.llm.override(FakeLLM(...).as_policy())``, so that scripted errors reach
    the host exactly as the real ``FailoverPolicy`` delivers them (a 429 as ``AllProvidersFailed``,
    an ``InvalidRequest`` as itself). It raises nothing but ``LLMError``.
    """

    family = "fake"

    def __init__(self, *script: ScriptItem, default: ScriptItem = "ok", name: str = "fake") -> None:
        SDKAdapter.__init__(self, provider=name)
        self.script: deque[ScriptItem] = deque(script)
        self.default = default
        self.name = name
        self.requests: list[CompletionRequest] = []
        self.closed = False
        self.open_streams = 0

    def add(self, *items: ScriptItem) -> FakeLLM:
        """Append more scripted answers; returns self for chaining."""
        self.script.extend(items)
        return self

    def _next(self, request: CompletionRequest) -> FakeReply:
        if self.closed:
            raise ProviderUnavailable("FakeLLM used after aclose()", provider=self.name)
        self.requests.append(request)
        item = self.script.popleft() if self.script else self.default
        if isinstance(item, FakeReply):
            return item
        if isinstance(item, LLMError):
            return FakeReply(error=item)
        return FakeReply(completion=item)

    def _completion(self, reply: FakeReply, request: CompletionRequest) -> Completion:
        c = reply.completion
        if isinstance(c, Completion):
            return c
        words = max(1, len(c.split()))
        return Completion((TextPart(c),), StopReason("end_turn", "end_turn"),
                          Usage(input_tokens=_estimate(request), output_tokens=words),
                          provider=self.name, model=request.model, response_id=f"fake-{len(self.requests)}")

    async def _complete(self, request: CompletionRequest) -> Completion:
        reply = self._next(request)
        if reply.latency:
            await asyncio.sleep(reply.latency)
        if reply.error is not None:
            raise reply.error
        return self._completion(reply, request)

    async def _events(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        reply = self._next(request)
        self.open_streams += 1
        try:
            if reply.latency:
                await asyncio.sleep(reply.latency)
            if reply.error is not None and reply.fail_after is None:
                raise reply.error
            for n, event in enumerate(completion_events(self._completion(reply, request), reply.chunk_size)):
                if reply.error is not None and n == reply.fail_after:
                    raise reply.error
                if reply.chunk_delay and n:
                    await asyncio.sleep(reply.chunk_delay)
                yield event
        finally:
            self.open_streams -= 1

    def _map_error(self, exc: Exception, request: CompletionRequest) -> LLMError | None:
        return ProviderUnavailable(f"FakeLLM raised {type(exc).__name__}", provider=self.name)

    def as_policy(self, config: PolicyConfig | None = None, **kwargs: Any) -> FailoverPolicy:
        """This fake behind the real ``FailoverPolicy`` as the only route, for any model name:
        retries, breakers and the error rule exactly as in production. ``config`` and ``kwargs``
        go to the policy (e.g. ``PolicyConfig(retry=RetryPolicy(1))`` to see every scripted error
        once, without retries)."""
        return FailoverPolicy(_AnyModel(self), config=config, **kwargs)

    async def count_tokens(self, request: CompletionRequest) -> int:
        self.requests.append(request)
        return _estimate(request)

    async def aclose(self) -> None:
        self.closed = True


class _AnyModel(Router):
    """Every model name resolves to one route on the fake."""

    def __init__(self, fake: FakeLLM) -> None:
        super().__init__((), adapters={fake.name: fake})
        self._fake = fake

    def resolve(self, text: str) -> RouteSet:
        found = self._cache.get(text)
        if found is None:
            found = RouteSet(text, (Route(self._fake.name, text, self._fake),))
            if len(self._cache) < 1024:
                self._cache[text] = found
        return found


def _estimate(request: CompletionRequest) -> int:
    """About four characters per token, the usual rule of thumb."""
    chars = len(request.system or "") + sum(len(m.text) for m in request.messages)
    return max(1, chars // 4)

