"""One event loop, clearly: SDK clients are bound to the loop that first used them, so the ``llm``
a container hands out refuses calls from another loop with a clear ``LLMError`` (instead of an
SDK's ``RuntimeError: Event loop is closed`` from deep inside a connection pool)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

from llmport.domain import Completion, CompletionRequest, LLMError, StreamEvent
from llmport.ports import LLMPort


class WrongEventLoop(LLMError):
    """The container was started on one event loop and used from another. Run llmport on one
    loop: start the container (``init_resources``) on the loop that serves requests; a synchronous
    host runs one loop in a dedicated thread and submits calls with
    ``asyncio.run_coroutine_threadsafe``."""


class LoopBoundLLM:
    """The container's ``llm``: the failover policy, used only from the loop the container started on.

    The check is one ``get_running_loop()`` per call. ``policy`` is the ``FailoverPolicy`` itself
    (breaker states, router); other attributes are the policy's.
    """

    __slots__ = ("_loop", "policy")

    def __init__(self, policy: LLMPort, loop: asyncio.AbstractEventLoop | None) -> None:
        self.policy = policy
        self._loop = loop

    def _check(self) -> None:
        if self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if running is not self._loop:
            raise WrongEventLoop(
                "llmport was started on another event loop; its SDK clients belong to that loop. Start the "
                "container (init_resources) on the loop that calls it, or submit calls to that loop "
                "(asyncio.run_coroutine_threadsafe)")

    async def complete(self, request: CompletionRequest) -> Completion:
        self._check()
        return await self.policy.complete(request)

    def stream(self, request: CompletionRequest) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        self._check()
        return self.policy.stream(request)

    async def count_tokens(self, request: CompletionRequest) -> int:
        self._check()
        return await self.policy.count_tokens(request)

    async def aclose(self) -> None:
        await self.policy.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.policy, name)
