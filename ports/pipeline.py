"""The request pipeline: ``LLMPort`` steps, each wrapping the next, ending at the failover policy.

A step is a function ``inner -> LLMPort``; ``chain`` builds the pipeline from the outermost step
inwards. ``LLMStep`` is the base of a step that changes only what it needs: every method it does
not override passes the call to the next port unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import fields
from operator import attrgetter
from typing import Any, TypeVar

from llmport.domain import Completion, CompletionRequest, StreamEvent
from llmport.domain.frozen import unchecked

from .llm import LLMPort

T = TypeVar("T", CompletionRequest, Completion)

Step = Callable[[LLMPort], LLMPort]
"""Builds a pipeline step around the next port (e.g. ``lambda inner: Redactor(inner)``)."""


class LLMStep:
    """An ``LLMPort`` that delegates to ``inner``; subclasses override what their step changes.
    Other attributes are the next port's (``budget_status``, ``breaker_states``, ...), so a host
    keeps what the end of the pipeline offers whatever steps stand in front of it."""

    def __init__(self, inner: LLMPort) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def complete(self, request: CompletionRequest) -> Completion:
        return await self.inner.complete(request)

    def stream(self, request: CompletionRequest) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        return self.inner.stream(request)

    async def count_tokens(self, request: CompletionRequest) -> int:
        return await self.inner.count_tokens(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def chain(steps: Sequence[Step], terminal: LLMPort) -> LLMPort:
    """The pipeline ``steps[0] -> steps[1] -> ... -> terminal``: the first step sees a request first."""
    port = terminal
    for step in reversed(steps):
        port = step(port)
    return port


def innermost(port: LLMPort) -> LLMPort:
    """The port at the end of a pipeline (the failover policy in the container's pipeline): follows
    each step's ``inner`` port (``LLMStep`` or any step that names its next port ``inner``)."""
    while isinstance(inner := getattr(port, "inner", None), LLMPort):
        port = inner
    return port


@asynccontextmanager
async def stream_after(prepare: Callable[[], Awaitable[CompletionRequest]],
                       inner: LLMPort) -> AsyncIterator[AsyncIterator[StreamEvent]]:
    """``inner``'s stream of the request ``prepare()`` gives: for a step that must await something
    (a lookup, a reservation) before the stream opens. The events are ``inner``'s own."""
    request = await prepare()
    async with inner.stream(request) as events:
        yield events


def evolve(value: T, **changes: Any) -> T:
    """A copy of a validated request or completion with ``changes``, skipping ``__post_init__``
    (``dataclasses.replace`` would validate or normalise it again: tens of microseconds a call).
    Only for changes that cannot make the value invalid, e.g. another ``system`` string."""
    build, read, index = _COPIERS[type(value)]
    values = list(read(value))
    for name, change in changes.items():
        values[index[name]] = change
    return build(*values)  # type: ignore[no-any-return]


def _copier(kind: type) -> tuple[Callable[..., Any], Callable[[Any], tuple[Any, ...]], dict[str, int]]:
    names = tuple(f.name for f in fields(kind))
    return unchecked(kind), attrgetter(*names), {name: i for i, name in enumerate(names)}


_COPIERS = {kind: _copier(kind) for kind in (CompletionRequest, Completion)}
