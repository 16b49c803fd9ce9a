"""``SyncLLM``: the blocking counterpart of ``LLMPort`` for synchronous hosts (Django, Flask, Celery, scripts).

llmport runs on one private event loop in a background thread per container; any number of caller
threads submit to it. The caller's ``timeout``, leaving or abandoning a stream, and ``KeyboardInterrupt``
cancel the request on that loop, which closes its upstream connection. A process forked after start-up
(gunicorn ``--preload``, Celery prefork) builds a fresh container, clients and loop on first use and never
touches the parent's sockets. Errors are the async port's taxonomy::

    container = Container()
    llm = container.sync_llm()          # starts nothing yet; the first call starts the loop
    llm.complete(request, timeout=30)
    with llm.stream(request) as events:
        for event in events: ...
    llm.close()                          # shuts the container's resources down, stops the loop
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import queue
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from llmport.domain import Completion, CompletionRequest, LLMError, StreamEvent, Timeout
from llmport.ports import LLMPort
from llmport.ports.structured import OutputValidator, Structured, StructuredLLM, StructuredMode

if TYPE_CHECKING:
    from .container import Container as DIContainer

T = TypeVar("T")

_START_TIMEOUT = 60.0
#: How long a cancelled call may take to unwind (close its upstream) before the caller moves on.
_CANCEL_GRACE = 5.0
#: Events a stream buffers ahead of a slow reader before its pump waits.
_STREAM_AHEAD = 64
_END = object()


class _Runtime:
    """One started loop thread with the container's resources up and its ``llm``."""

    def __init__(self, container: DIContainer) -> None:
        self.container = container
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="llmport-sync", daemon=True)
        self.thread.start()
        try:
            self.llm: LLMPort = self.call(self._start(), _START_TIMEOUT)
        except BaseException:
            self.stop(shutdown=False)
            raise

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    async def _start(self) -> LLMPort:
        await _settle(self.container.init_resources())
        llm: LLMPort = self.container.llm()
        return llm

    async def _shutdown(self) -> None:
        # Calls still in flight (abandoned streams, other threads) end first, then the clients close.
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await _settle(self.container.shutdown_resources())

    def submit(self, coro: Coroutine[Any, Any, T]) -> _Call[T]:
        call: _Call[T] = _Call(self.loop)
        self.loop.call_soon_threadsafe(call.start, coro)
        return call

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        return self.submit(coro).wait(timeout)

    def stop(self, *, shutdown: bool = True) -> None:
        """Shut the container's resources down on the loop, then stop the loop and join its thread."""
        try:
            if shutdown and self.thread.is_alive():
                self.call(self._shutdown(), _START_TIMEOUT)
        finally:
            if self.thread.is_alive():
                self.loop.call_soon_threadsafe(self.loop.stop)
                self.thread.join(_START_TIMEOUT)


class _Call(Generic[T]):
    """A coroutine running as a task on the loop; ``wait`` blocks the caller until it ends.

    Completion is a pre-acquired lock the loop releases (a latch): a cross-thread hand-off much cheaper
    than ``concurrent.futures`` on the hot path."""

    __slots__ = ("_cancelled", "_done", "_error", "_loop", "_released", "_result", "_task")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._done = threading.Lock()
        self._done.acquire()
        self._task: asyncio.Task[None] | None = None
        self._result: T | None = None
        self._error: BaseException | None = None
        self._cancelled = False
        self._released = False

    def start(self, coro: Coroutine[Any, Any, T]) -> None:  # on the loop
        self._task = task = self._loop.create_task(self._run(coro))
        task.add_done_callback(self._ended)

    async def _run(self, coro: Coroutine[Any, Any, T]) -> None:
        # Releasing the caller from inside the task's last step saves a loop turn over a done callback;
        # the error is handed over here, not left in the task (nothing to log as never retrieved).
        try:
            self._result = await coro
        except asyncio.CancelledError:
            self._cancelled = True
            raise
        except Exception as exc:
            self._error = exc
        finally:
            self._release()

    def _ended(self, task: asyncio.Task[None]) -> None:  # on the loop; matters when cancelled before it ran
        if not self._released:
            self._cancelled = task.cancelled()
            if not self._cancelled:
                self._error = task.exception()
            self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._done.release()

    def cancel(self) -> None:
        """Cancel the task (from any thread); ``start`` always runs before this reaches the loop."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to cancel
            self._loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def finished(self, timeout: float | None) -> bool:
        """Block until the task ended (True) or ``timeout`` passed (False)."""
        if self._done.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            self._done.release()  # stays open for any later waiter
            return True
        return False

    def wait(self, timeout: float | None) -> T:
        """The task's result; on the caller's timeout or an interrupt, cancel it and let it unwind."""
        try:
            done = self.finished(timeout)
        except BaseException:  # KeyboardInterrupt, SystemExit: cancel, then propagate
            self.abandon()
            raise
        if not done:
            self.abandon()
            raise Timeout(f"no answer within the caller's timeout of {timeout:g}s")
        if self._error is not None:
            raise self._error
        if self._cancelled:
            raise LLMError("the call was cancelled: the SyncLLM is shutting down")
        return self._result  # type: ignore[return-value]  # set whenever the task returned

    def abandon(self) -> None:
        """Cancel, then wait (bounded) for the task to unwind; a second interrupt is not swallowed."""
        self.cancel()
        self.finished(_CANCEL_GRACE)


async def _settle(result: Awaitable[None] | None) -> None:
    # dependency-injector returns an awaitable only when some resource is asynchronous.
    if result is not None:
        await result


_open: weakref.WeakSet[SyncLLM] = weakref.WeakSet()


class SyncLLM:
    """A blocking ``LLMPort`` over a container; safe for many threads at once.

    ``timeout`` (seconds) bounds the whole call from the caller's side; on expiry the request is cancelled
    (its upstream connection closed) and ``Timeout`` raised. The policy's own deadlines still apply."""

    def __init__(self, container: DIContainer) -> None:
        self._source = container
        self._container = container
        self._runtime: _Runtime | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._stale = False  # forked after the parent started: the next start builds a fresh container
        _open.add(self)

    # --- the port, blocking ----------------------------------------------------------------
    def complete(self, request: CompletionRequest, *, timeout: float | None = None) -> Completion:
        runtime = self._ready()
        return runtime.call(runtime.llm.complete(request), timeout)

    def count_tokens(self, request: CompletionRequest, *, timeout: float | None = None) -> int:
        runtime = self._ready()
        return runtime.call(runtime.llm.count_tokens(request), timeout)

    def stream(self, request: CompletionRequest, *, timeout: float | None = None) -> SyncStream:
        """A stream of events: an iterator and a context manager. Leaving the ``with`` block, ``close()``,
        or dropping the iterator cancels the request and closes its upstream connection."""
        return SyncStream(self._ready(), request, timeout)

    def structured(self, output: type[T] | OutputValidator[T], request: CompletionRequest, *,
                   mode: StructuredMode = "native", max_repairs: int = 2, timeout: float | None = None,
                   ) -> Structured[T]:
        """The blocking ``structured(llm, output).complete(request)``: a validated value of ``output``
        (a type pydantic accepts, or any ``OutputValidator``), with repairs; ``StructuredOutputInvalid``
        when it never validates. ``timeout`` bounds every attempt and repair together."""
        from llmport.adapters.pydantic_output import structured

        runtime = self._ready()
        helper: StructuredLLM[T] = structured(runtime.llm, output, mode=mode, max_repairs=max_repairs)
        return runtime.call(helper.complete(request), timeout)

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        """True when this process's loop is running."""
        runtime = self._runtime
        return runtime is not None and runtime.pid == os.getpid() and runtime.thread.is_alive()

    def close(self) -> None:
        """Close the container's resources (clients, adapters, ledger) and stop the loop. Idempotent."""
        with self._lock:
            self._closed = True
            runtime, self._runtime = self._runtime, None
        if runtime is not None and runtime.pid == os.getpid():
            runtime.stop()

    def __enter__(self) -> SyncLLM:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "started" if self.started else "idle"
        return f"SyncLLM({state})"

    def _ready(self) -> _Runtime:
        runtime = self._runtime
        if runtime is not None and runtime.pid == os.getpid():
            return runtime
        with self._lock:
            if self._closed:
                raise LLMError("this SyncLLM is closed")
            runtime = self._runtime
            if runtime is None or runtime.pid != os.getpid():
                if self._stale:
                    self._container, self._stale = _fresh_copy(self._source), False
                runtime = self._runtime = _Runtime(self._container)
            return runtime

    def _forked(self) -> None:
        """In a forked child: forget the parent's loop, clients and locks (never close them: their
        sockets are shared with the parent); the next call builds everything afresh."""
        self._lock = threading.Lock()
        if self._runtime is not None:
            self._runtime, self._stale = None, True


def _fresh_copy(source: DIContainer) -> DIContainer:
    """A new container of the same class carrying ``source``'s overrides (settings, fakes, steps)."""
    factory: Callable[[], DIContainer] = getattr(source, "declarative_parent", None) or type(source)
    fresh = factory()
    for name, provider in source.providers.items():
        for overriding in provider.overridden:
            fresh.providers[name].override(overriding)
    return fresh


class _Handoff:
    """The pump's side of a stream: events for the reader and the credit the reader gives back.
    It never references the ``SyncStream``, so an abandoned stream is collected (and cancels)."""

    __slots__ = ("credit", "events")

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.credit: asyncio.Semaphore | None = None

    def release(self) -> None:  # on the loop: the reader took one event
        if self.credit is not None:
            self.credit.release()

    async def pump(self, llm: LLMPort, request: CompletionRequest) -> None:
        self.credit = credit = asyncio.Semaphore(_STREAM_AHEAD)
        put = self.events.put
        try:
            async with llm.stream(request) as events:
                async for event in events:
                    await credit.acquire()
                    put(event)
        except Exception as exc:  # the taxonomy error reaches the reader
            put(exc)
            return
        put(_END)


class SyncStream(Iterator[StreamEvent]):
    """Events of one streamed request, pumped by a task on the loop into a bounded hand-off."""

    def __init__(self, runtime: _Runtime, request: CompletionRequest, timeout: float | None) -> None:
        self._runtime = runtime
        self._request = request
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._timeout = timeout
        self._handoff = _Handoff()
        self._call: _Call[None] | None = None
        self._done = False

    def __enter__(self) -> SyncStream:
        self._begin()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __iter__(self) -> SyncStream:
        return self

    def __next__(self) -> StreamEvent:
        if self._done:
            raise StopIteration
        self._begin()
        try:
            item = self._handoff.events.get(timeout=self._remaining())
        except queue.Empty:
            self.close()
            raise Timeout(f"no answer within the caller's timeout of {self._timeout:g}s") from None
        except BaseException:
            self.close()
            raise
        if item is _END or isinstance(item, Exception):
            self._done = True
            if self._call is not None:
                self._call.finished(_CANCEL_GRACE)
            if isinstance(item, Exception):
                raise item
            raise StopIteration
        self._runtime.loop.call_soon_threadsafe(self._handoff.release)
        event: StreamEvent = item
        return event

    def close(self) -> None:
        """Cancel the request if it is still running and wait (bounded) until its upstream is closed."""
        self._done = True
        if self._call is not None:
            self._call.abandon()

    def __del__(self) -> None:
        # An abandoned iterator: cancel without waiting (this may run on any thread, even the loop's).
        if not self._done and self._call is not None:
            self._done = True
            self._call.cancel()

    def _begin(self) -> None:
        if self._call is None and not self._done:
            self._call = self._runtime.submit(self._handoff.pump(self._runtime.llm, self._request))

    def _remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())


@atexit.register
def _close_all() -> None:
    for llm in list(_open):
        with contextlib.suppress(Exception):
            llm.close()


def _after_fork_in_child() -> None:
    for llm in list(_open):
        llm._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["SyncLLM", "SyncStream"]
