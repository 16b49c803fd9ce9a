"""One timer for a stream's whole life: the request deadline and the stall limit.

``asyncio.timeout_at`` per chunk costs a context manager, a timeout object and a rescheduled timer
handle for every event. A stream needs one handle: it fires at the deadline (or when no event came
for ``stall`` seconds), cancels the await in progress if there is one, and otherwise only marks the
stream expired for its next read.
"""

from __future__ import annotations

import asyncio
from typing import Literal

Expiry = Literal["deadline", "stall"]


class Watchdog:
    """Watches one stream. The reader sets ``waiter`` to its task around each await (and clears
    it after), calls ``received`` after each event when a stall limit is set, and on
    ``CancelledError`` asks ``swallow`` whether the cancellation was the watchdog's own."""

    __slots__ = ("_cancelling", "_deadline", "_handle", "_loop", "_stall", "_took", "fired", "last", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: float | None, stall: float | None) -> None:
        self._loop = loop
        self._deadline = deadline
        self._stall = stall
        self.last = loop.time()
        self.waiter: asyncio.Task[object] | None = None
        self.fired: Expiry | None = None
        self._took = False  # whether the watchdog cancelled the waiter (then ``_cancelling`` is set)
        self._handle = loop.call_at(self._due(), self._check)

    @property
    def stall(self) -> float | None:
        return self._stall

    def _due(self) -> float:
        due = self._deadline if self._deadline is not None else float("inf")
        if self._stall is not None:
            due = min(due, self.last + self._stall)
        return due

    def _check(self) -> None:
        now = self._loop.time()
        if self._deadline is not None and now >= self._deadline:
            self.fired = "deadline"
        elif self._stall is not None and now >= self.last + self._stall:
            self.fired = "stall"
        else:  # events arrived since it was scheduled: look again when the stall limit next falls due
            self._handle = self._loop.call_at(self._due(), self._check)
            return
        task = self.waiter
        if task is not None and not task.done():
            self._cancelling = task.cancelling()
            self._took = True
            task.cancel()

    def received(self) -> None:
        """An event arrived (only needed with a stall limit)."""
        self.last = self._loop.time()

    def swallow(self, task: asyncio.Task[object] | None) -> bool:
        """On ``CancelledError``: True when the watchdog caused it (then it is undone), False when
        someone else cancelled the task (it must propagate)."""
        if not self._took or task is None:
            return False
        self._took = False
        return task.uncancel() <= self._cancelling

    def cancel(self) -> None:
        """The stream ended: drop the timer (idempotent)."""
        self._handle.cancel()
