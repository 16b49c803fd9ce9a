"""The stream watchdog: one timer for a stream's deadline and stall limit."""

from __future__ import annotations

import asyncio

import pytest

from llmport.ports.watchdog import Watchdog


async def _read(watchdog: Watchdog, wait: asyncio.Future[None]) -> str:
    """What a stream reader does around one await; returns how it ended."""
    task = asyncio.current_task()
    watchdog.waiter = task  # type: ignore[assignment]
    try:
        await wait
    except asyncio.CancelledError:
        if watchdog.swallow(task):  # type: ignore[arg-type]
            return f"expired: {watchdog.fired}"
        raise
    finally:
        watchdog.waiter = None
    return "received"


async def test_the_deadline_cancels_the_await_in_progress_and_is_swallowed() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, loop.time() + 0.05, None)
    assert watchdog.waiter is None and watchdog.fired is None
    assert await _read(watchdog, loop.create_future()) == "expired: deadline"
    task = asyncio.current_task()
    assert task is not None and not task.cancelling()
    assert not watchdog.swallow(task)  # swallowed once: a later cancellation is someone else's


async def test_expiry_between_reads_is_only_marked() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, loop.time() + 0.02, None)
    await asyncio.sleep(0.1)  # not reading: nothing to cancel (this sleep is not interrupted)
    assert watchdog.fired == "deadline"
    assert not watchdog.swallow(asyncio.current_task())  # type: ignore[arg-type]


async def test_events_keep_a_stall_limit_from_firing_until_they_stop() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, None, 0.1)
    assert watchdog.stall == 0.1
    assert watchdog._handle.when() == pytest.approx(watchdog.last + 0.1)  # one timer, at the stall limit
    for _ in range(6):
        done = loop.create_future()
        loop.call_later(0.03, done.set_result, None)
        assert await _read(watchdog, done) == "received"
        watchdog.received()
    assert watchdog.fired is None
    assert await _read(watchdog, loop.create_future()) == "expired: stall"


async def test_the_sooner_limit_wins() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, loop.time() + 0.03, 5.0)
    assert await _read(watchdog, loop.create_future()) == "expired: deadline"
    stall_first = Watchdog(loop, loop.time() + 5.0, 0.03)
    assert await _read(stall_first, loop.create_future()) == "expired: stall"


async def test_a_cancelled_watchdog_never_fires() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, loop.time() + 0.02, 0.02)
    watchdog.cancel()
    watchdog.cancel()  # idempotent
    done = loop.create_future()
    loop.call_later(0.1, done.set_result, None)
    assert await _read(watchdog, done) == "received"
    assert watchdog.fired is None


async def test_someone_elses_cancellation_propagates() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, loop.time() + 30.0, None)
    reader = asyncio.create_task(_read(watchdog, loop.create_future()))
    await asyncio.sleep(0.01)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    watchdog.cancel()


async def test_a_caller_cancelling_too_is_not_swallowed() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, loop.time() + 0.05, None)

    async def reader() -> str:
        task = asyncio.current_task()
        watchdog.waiter = task  # type: ignore[assignment]
        try:
            await loop.create_future()
        except asyncio.CancelledError:
            task.cancel()  # type: ignore[union-attr]  # the caller cancels as well, in the same instant
            if watchdog.swallow(task):  # type: ignore[arg-type]
                return "swallowed"
            raise
        return "received"

    task = asyncio.create_task(reader())
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_finished_waiter_is_not_cancelled() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop, loop.time() + 0.02, None)
    finished = asyncio.create_task(asyncio.sleep(0))
    await finished
    watchdog.waiter = finished  # type: ignore[assignment]
    await asyncio.sleep(0.08)
    assert watchdog.fired == "deadline"
    assert not finished.cancelled()
    assert not watchdog.swallow(finished)  # type: ignore[arg-type]
