"""The background loop of the shared-state stores: one exchange with Redis per wake-up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def sync_loop(interval: float, wake: asyncio.Event, closed: Callable[[], bool],
                    exchange: Callable[[], Awaitable[None]]) -> None:
    """Run ``exchange`` every ``interval`` seconds, or at once when ``wake`` is set (an urgent
    write, or ``aclose``), until ``closed()``; no cancellation needed to stop it."""
    loop = asyncio.get_running_loop()
    while not closed():
        timer = loop.call_later(interval, wake.set)
        await wake.wait()
        timer.cancel()
        wake.clear()
        if not closed():
            await exchange()
