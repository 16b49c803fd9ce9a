"""The one port a host backend calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from llmport.domain import Completion, CompletionRequest, StreamEvent


@runtime_checkable
class LLMPort(Protocol):
    """An LLM behind one async interface.

    Contract, for every implementation (adapters, ``FailoverPolicy``, ``FakeLLM``):

    - ``complete`` returns a ``Completion`` or raises an ``LLMError`` subclass, never an SDK exception.
    - ``stream(request)`` is an async context manager whose value is an async iterator of
      ``StreamEvent``. Provider errors surface while iterating (mapped to the taxonomy); a failure
      after content reached the caller is ``StreamInterrupted`` carrying the partial completion.
      Nothing is yielded after an error; the last event of a successful stream is ``StreamEnd``.
      Leaving the context (early or not) closes the upstream connection.
    - Cancelling the awaiting task reaches the upstream connection: it is closed, not leaked.
    - ``count_tokens`` counts the request's input tokens (the vendor's count where it has one).
    - ``aclose`` releases clients and connections; the object is unusable afterwards.
    """

    async def complete(self, request: CompletionRequest) -> Completion: ...

    def stream(self, request: CompletionRequest) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]: ...

    async def count_tokens(self, request: CompletionRequest) -> int: ...

    async def aclose(self) -> None: ...
