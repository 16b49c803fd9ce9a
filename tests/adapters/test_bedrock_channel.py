"""Bedrock's pump-to-loop channel hands events over in batches: everything queued by the time the
consumer looks is taken at once, in order; a waiting consumer is woken once and gets the batch."""

from __future__ import annotations

import asyncio
import threading

import pytest

from llmport.adapters.bedrock import _Channel


async def test_take_returns_everything_queued_in_order_then_none() -> None:
    channel = _Channel(asyncio.get_running_loop())
    assert channel.take() is None
    for item in ("a", "b", "c"):
        channel.put(item)
    assert list(channel.take() or ()) == ["a", "b", "c"]
    assert channel.take() is None


async def test_a_waiting_consumer_gets_what_a_thread_put_as_one_batch() -> None:
    channel = _Channel(asyncio.get_running_loop())
    waiting = asyncio.ensure_future(channel.get(5.0))
    await asyncio.sleep(0)  # the consumer is now waiting on an empty channel

    def pump() -> None:
        for i in range(50):
            channel.put(i)

    thread = threading.Thread(target=pump)
    thread.start()
    thread.join()
    received = list(await waiting)
    while (more := channel.take()) is not None:
        received.extend(more)
    assert received == list(range(50))


async def test_get_times_out_when_nothing_arrives() -> None:
    channel = _Channel(asyncio.get_running_loop())
    with pytest.raises(TimeoutError):
        await channel.get(0.01)
