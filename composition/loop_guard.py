"""One event loop, clearly: SDK clients are bound to the loop that first used them, so the ``llm``
a container hands out refuses calls from another loop with a clear ``LLMError`` (instead of an
SDK's ``RuntimeError: Event loop is closed`` from deep inside a connection pool)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from llmport.domain import Completion, CompletionRequest, LLMError, StreamEvent
from llmport.ports import LLMPort
from llmport.ports.pipeline import LLMStep


class WrongEventLoop(LLMError):
    """The container was started on one event loop and used from another. Run llmport on one
    loop: start the container (``init_resources``) on the loop that serves requests; a synchronous
    host runs one loop in a dedicated thread and submits calls with
    ``asyncio.run_coroutine_threadsafe``."""


class LoopBoundLLM(LLMStep):
    """The container's ``llm``: the pipeline in front of the failover policy, used only from the loop
    the container started on. The check is one ``get_running_loop()`` per call; ``inner`` is the
    pipeline it guards, and other attributes are the pipeline's."""

    def __init__(self, inner: LLMPort, loop: asyncio.AbstractEventLoop | None) -> None:
        super().__init__(inner)
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
        return await self.inner.complete(request)

    def stream(self, request: CompletionRequest) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        self._check()
        return self.inner.stream(request)

    async def count_tokens(self, request: CompletionRequest) -> int:
        self._check()
        return await self.inner.count_tokens(request)
