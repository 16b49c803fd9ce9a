"""Mechanics every SDK adapter shares, written once: error mapping at the boundary, the stream
guard (partial on failure, nothing after an error, StreamEnd last), timing, and closing."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from dataclasses import replace
from types import TracebackType

from llmport.domain import (
    Accumulator,
    Completion,
    CompletionRequest,
    LLMError,
    ProviderUnavailable,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    Timeout,
    Timing,
    UsageUpdate,
    redact_secrets,
)


def attempt_timeout(request: CompletionRequest) -> float | None:
    """The attempt's time limit, for the SDK call's own timeout (so a timed-out call frees its
    connection or worker at once): the request's ``attempt_timeout`` (the failover policy hands
    each attempt the limit it computed: the smaller of the per-attempt limit and the time left),
    shortened by ``deadline`` when an adapter is called directly. ``Timeout`` if no time is left."""
    timeout = request.attempt_timeout
    if request.deadline is not None:
        remaining = request.deadline - time.monotonic()
        timeout = remaining if timeout is None else min(timeout, remaining)
    if timeout is not None and timeout <= 0:
        raise Timeout("the request's deadline has passed", model=request.model)
    return timeout


class SDKAdapter(ABC):
    """Base of the vendor adapters: subclasses supply the translation, this class the contract.

    A subclass implements ``_complete`` (one non-streaming call), ``_events`` (an async generator
    that opens the vendor stream, yields domain events and closes the stream in its ``finally``),
    ``_map_error`` (vendor exception -> taxonomy), ``count_tokens`` and ``aclose``.
    """

    #: Family name used in errors and reasoning parts ("openai", "anthropic", ...).
    family: str = "sdk"

    def __init__(self, *, provider: str | None = None) -> None:
        self.provider = provider or self.family
        self._secrets: tuple[str, ...] = ()

    def redact(self, secrets: Iterable[str]) -> None:
        """Scrub these values (the provider's own credentials) from every error this adapter raises,
        whatever their shape: a gateway may echo a key that matches no known key pattern."""
        self._secrets = tuple(s for s in secrets if s)

    async def complete(self, request: CompletionRequest) -> Completion:
        start = time.perf_counter()
        try:
            completion = await self._complete(request)
        except LLMError as exc:
            raise self._attribute(exc, request) from None
        except Exception as exc:
            raise self._translate(exc, request) from None
        return replace(completion, timing=Timing(None, time.perf_counter() - start))

    def stream(self, request: CompletionRequest) -> AdapterStream:
        return AdapterStream(self, request)

    @abstractmethod
    async def _complete(self, request: CompletionRequest) -> Completion: ...

    @abstractmethod
    def _events(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]: ...

    @abstractmethod
    def _map_error(self, exc: Exception, request: CompletionRequest) -> LLMError | None:
        """The taxonomy error for a vendor exception, or None when it is not a vendor failure."""

    @abstractmethod
    async def count_tokens(self, request: CompletionRequest) -> int: ...

    @abstractmethod
    async def aclose(self) -> None: ...

    def _translate(self, exc: Exception, request: CompletionRequest) -> Exception:
        mapped = self._map_error(exc, request)
        return exc if mapped is None else self._attribute(mapped, request)

    def _attribute(self, error: LLMError, request: CompletionRequest) -> LLMError:
        """Fill in which provider and model failed, where the error does not say."""
        if error.provider is None:
            error.provider = self.provider
        if error.model is None:
            error.model = request.model
        if self._secrets:
            error.message = redact_secrets(error.message, self._secrets)
            error.args = (error.message,)
        return error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r})"


class AdapterStream:
    """The value of ``SDKAdapter.stream``: an async context manager and iterator in one.

    The vendor request is sent on the first iteration, so every provider error surfaces the same
    way, from ``__anext__``. A plain class (not a generator) keeps the per-chunk cost to a call.
    """

    __slots__ = ("_acc", "_adapter", "_done", "_first", "_gen", "_request", "_start")

    def __init__(self, adapter: SDKAdapter, request: CompletionRequest) -> None:
        self._adapter = adapter
        self._request = request
        self._gen: AsyncGenerator[StreamEvent, None] | None = None
        self._acc = Accumulator()
        self._done = False
        self._start = 0.0
        self._first: float | None = None

    async def __aenter__(self) -> AdapterStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AdapterStream:
        return self

    @property
    def timing(self) -> Timing:
        total = time.perf_counter() - self._start if self._start else None
        ttft = self._first - self._start if self._first is not None else None
        return Timing(ttft, total)

    def partial(self) -> Completion:
        """Everything received so far, as a completion."""
        return self._acc.partial(self.timing)

    async def __anext__(self) -> StreamEvent:
        if self._done:
            raise StopAsyncIteration
        gen = self._gen
        if gen is None:
            self._start = time.perf_counter()
            gen = self._gen = self._adapter._events(self._request)
        try:
            event = await gen.__anext__()
        except StopAsyncIteration:
            self._done = True
            if self._acc.end is None:
                raise self._failure(
                    ProviderUnavailable("stream ended without a final event", provider=self._adapter.provider,
                                        model=self._request.model)
                ) from None
            raise
        except (asyncio.CancelledError, GeneratorExit):
            self._done = True
            raise
        except LLMError as exc:
            self._done = True
            raise self._failure(self._adapter._attribute(exc, self._request)) from None
        except Exception as exc:
            self._done = True
            mapped = self._adapter._translate(exc, self._request)
            if isinstance(mapped, LLMError):
                raise self._failure(mapped) from None
            raise
        if self._first is None and type(event) is not UsageUpdate and type(event) is not StreamEnd:
            self._first = time.perf_counter()
        self._acc.add(event)
        if type(event) is StreamEnd:
            self._done = True
        return event

    def _failure(self, error: LLMError) -> LLMError:
        if not self._acc.has_content or isinstance(error, StreamInterrupted):
            return error
        return StreamInterrupted(
            f"stream failed after output began: {error.message}",
            partial=self.partial(),
            cause=error,
            provider=error.provider,
            model=error.model,
            status=error.status,
            request_id=error.request_id,
            vendor_type=error.vendor_type,
            vendor_code=error.vendor_code,
        )

    async def aclose(self) -> None:
        """Close the vendor stream and its connection (idempotent)."""
        self._done = True
        gen, self._gen = self._gen, None
        if gen is not None:
            await gen.aclose()


async def collect(events: AsyncIterator[StreamEvent]) -> str:
    """Join the text of a stream (a small convenience for scripts and tests)."""
    return "".join([e.text async for e in events if isinstance(e, TextDelta)])
