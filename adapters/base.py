"""Mechanics every SDK adapter shares, written once: error mapping at the boundary, the stream
guard (partial on failure, nothing after an error, StreamEnd last), timing, and closing."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from types import TracebackType
from typing import Any, TypeVar

from llmport.domain import (
    Accumulator,
    AuthenticationFailed,
    Completion,
    CompletionRequest,
    ConnectionFailed,
    InvalidRequest,
    LLMError,
    ProviderUnavailable,
    StopReason,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    Timeout,
    Timing,
    UsageUpdate,
    redact_secrets,
)
from llmport.ports.pipeline import evolve

T = TypeVar("T")


def shared_mapping(exc: BaseException) -> LLMError | None:
    """Failures every SDK shares (its transport, its client object), whatever the vendor."""
    if isinstance(exc, UnicodeEncodeError):
        # httpx-style transports encode headers as ASCII: a key with a pasted zero-width space or
        # similar. The exception's repr holds the whole header value, so nothing of it is kept.
        return AuthenticationFailed("a credential or header value holds a character HTTP headers cannot carry "
                                    f"({exc.encoding} cannot encode it); check the API key for pasted characters")
    if isinstance(exc, RuntimeError):
        text = str(exc)
        if "Event loop is closed" in text or "attached to a different loop" in text:
            return ProviderUnavailable("the SDK client is bound to another event loop (now closed): build the "
                                       "container, and so the clients, in the event loop that uses them")
        if "client has been closed" in text:
            return ProviderUnavailable("the SDK client has been closed (was its container shut down or garbage "
                                       "collected?)")
    if isinstance(exc, BaseExceptionGroup):
        leaves = _leaves(exc)
        mapped = [shared_mapping(leaf) for leaf in leaves]
        first = next((m for m in mapped if m is not None), None)
        names = ", ".join(sorted({type(leaf).__name__ for leaf in leaves}))
        return first or ConnectionFailed(f"the connection could not be made ({names})")
    return None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


def unexpected(exc: BaseException, family: str) -> LLMError:
    """An exception no mapping knows: a failure of the provider path, failover-eligible. Only its
    type is kept: its text may hold request data or credentials."""
    kind = type(exc)
    return ProviderUnavailable(f"the {family} SDK or its transport failed: {kind.__module__}.{kind.__qualname__}")


def with_calls(stop: StopReason, has_calls: bool) -> StopReason:
    """Tool calls present mean a tool-use stop, whatever the vendor's finish reason says (several
    OpenAI-compatible servers say "stop"); a cut (max tokens) or filtered answer keeps its kind."""
    if has_calls and stop.kind in ("end_turn", "stop_sequence", "other"):
        return StopReason("tool_use", stop.raw)
    return stop


def malformed_reply(exc: BaseException) -> LLMError:
    """A reply that could not be read (missing fields, wrong types, undecodable JSON)."""
    return ProviderUnavailable(f"the provider sent a reply that breaks its own schema ({type(exc).__name__})")


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
        except Exception as exc:
            error = self._boundary(exc, request)
        else:
            total = time.perf_counter() - start
            return evolve(completion, timing=Timing.measure(  # valid as it is: no second validation
                None, total, output_tokens=completion.usage.output_tokens,
                text_bytes=len(completion.text.encode("utf-8", "surrogatepass"))))
        raise error  # outside the handler: the SDK exception must not ride along as __context__

    async def _guard(self, call: Awaitable[T], request: CompletionRequest) -> T:
        """Await one SDK call, any exception turned into a taxonomy error (for ``count_tokens``
        and other calls outside ``complete``/``stream``)."""
        try:
            return await call
        except Exception as exc:
            error = self._boundary(exc, request)
        raise error

    def _reply(self, parse: Callable[..., T], *args: Any) -> T:
        """Map a vendor reply with ``parse``: a reply that breaks the vendor's own schema (so that
        parsing fails, or a domain value refuses it) is the provider's failure, never the caller's."""
        try:
            return parse(*args)
        except InvalidRequest as exc:
            error: LLMError = ProviderUnavailable(f"the provider's reply broke its own schema: {exc.message}")
        except LLMError:
            raise
        except Exception as exc:
            error = malformed_reply(exc)
        raise error
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

    def _translate(self, exc: Exception, request: CompletionRequest) -> LLMError:
        """The taxonomy error for any exception: the adapter's own mapping, else the shared one."""
        return self._boundary(exc, request)

    def _boundary(self, exc: Exception, request: CompletionRequest) -> LLMError:
        """Whatever was raised, as an attributed, scrubbed ``LLMError`` with no exception chain
        (an SDK exception's context holds the request, its headers included)."""
        if isinstance(exc, LLMError):
            error = exc
        else:
            # SDKs wrap transport failures (APIConnectionError from a RuntimeError...): look one level in.
            cause = exc.__cause__
            error = (shared_mapping(exc) or (shared_mapping(cause) if cause is not None else None)
                     or self._map_error(exc, request) or unexpected(exc, self.family))
        error = self._attribute(error, request)
        error.__cause__ = None
        error.__context__ = None
        error.__suppress_context__ = True
        error.__traceback__ = None
        return error

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

    __slots__ = ("_acc", "_adapter", "_count", "_done", "_first", "_gen", "_request", "_start", "_started")

    def __init__(self, adapter: SDKAdapter, request: CompletionRequest) -> None:
        self._adapter = adapter
        self._request = request
        self._gen: AsyncGenerator[StreamEvent, None] | None = None
        self._acc = Accumulator()
        self._done = False
        self._start = 0.0
        self._first: float | None = None
        self._started = False  # an event arrived: the request went out
        self._count = 0  # events received

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
        return self._timing(self._acc.partial())

    def _timing(self, so_far: Completion) -> Timing:
        ttft = self._first - self._start if self._first is not None else None
        if not self._start:
            return Timing(ttft, None)
        return Timing.measure(ttft, time.perf_counter() - self._start, output_tokens=so_far.usage.output_tokens,
                              text_bytes=len(so_far.text.encode("utf-8", "surrogatepass")), events=self._count)

    def partial(self) -> Completion:
        """Everything received so far, as a completion."""
        so_far = self._acc.partial()
        return evolve(so_far, timing=self._timing(so_far))

    async def __anext__(self) -> StreamEvent:
        if self._done:
            raise StopAsyncIteration
        gen = self._gen
        if gen is None:
            self._start = time.perf_counter()
            gen = self._gen = self._adapter._events(self._request)
        try:
            event = await gen.__anext__()
            if self._first is None and type(event) is not UsageUpdate and type(event) is not StreamEnd:
                self._first = time.perf_counter()
            self._acc.add(event)
        except StopAsyncIteration:
            self._done = True
            if self._acc.end is not None:
                raise
            error: Exception = ProviderUnavailable("stream ended without a final event")
        except (asyncio.CancelledError, GeneratorExit):
            self._done = True
            raise
        except InvalidRequest as exc:
            # Sent already (the generator checks the request before sending): the reply is at fault
            # when it raises InvalidRequest after its first event; before, the request is.
            self._done = True
            error = exc if not self._started else ProviderUnavailable(
                f"the provider's reply broke its own schema: {exc.message}")
        except Exception as exc:
            self._done = True
            error = exc
        else:
            self._started = True
            self._count += 1
            if type(event) is StreamEnd:
                self._done = True
                event = replace(event, timing=self._timing(self._acc.partial()))
                self._acc.end = event
            return event
        raise self._failure(self._adapter._boundary(error, self._request))

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
