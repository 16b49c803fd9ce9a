"""Time limits for many awaits on one event loop timer.

``asyncio.timeout`` per attempt costs a context manager, a timeout object and a loop timer handle
pushed onto (and, once cancelled, left in) the loop's heap, whose entries compare through Python
code: about 4 µs per attempt, more than the rest of the policy's bookkeeping. An attempt's limit is
almost never reached, so ``Alarms`` keeps the limits in its own heap of plain tuples and holds one
loop timer, armed at the earliest limit; setting and clearing an alarm touch no loop timer unless
the new limit is the earliest.

An alarm that falls due cancels its task, as ``asyncio.timeout`` does; the awaiting code asks
``expired`` on ``CancelledError`` whether the cancellation was the alarm's (then it becomes a
timeout) or someone else's (it propagates).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any

_COMPACT = 64  # cleared entries tolerated in the heap before it is rebuilt (and at most half of it)


class Alarm:
    """One time limit on one task's await. ``clear`` it when the await is over (idempotent)."""

    __slots__ = ("_alarms", "_cancelling", "_rung", "cleared", "fired", "task")

    def __init__(self, alarms: Alarms, task: asyncio.Task[Any]) -> None:
        self._alarms = alarms
        self.task = task
        self.fired = False  # the alarm cancelled the task (an uncancel is owed)
        self.cleared = False
        self._rung = False  # taken out of the heap by the timer
        self._cancelling = 0

    def _fire(self) -> None:
        task = self.task
        if not task.done():
            self._cancelling = task.cancelling()
            self.fired = True
            task.cancel()

    def expired(self) -> bool:
        """On ``CancelledError``: True when this alarm caused it (the cancellation is undone: the
        caller raises its timeout instead), False when the task was cancelled by someone else."""
        if not self.fired:
            return False
        self.fired = False
        return self.task.uncancel() <= self._cancelling

    def clear(self) -> None:
        """The await is over: the alarm will not fire (its cancellation, if it fired, is undone)."""
        if self.fired:
            self.fired = False
            self.task.uncancel()
        if not self.cleared:
            self.cleared = True
            if not self._rung:
                self._alarms._cleared()


class Alarms:
    """The alarms of one event loop (``loop``), on one loop timer at the earliest limit."""

    __slots__ = ("_armed", "_dead", "_handle", "_heap", "_seq", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[tuple[float, int, Alarm]] = []
        self._seq = itertools.count()  # ties: the heap never compares two alarms
        self._handle: asyncio.TimerHandle | None = None
        self._armed = float("inf")  # when the loop timer is due
        self._dead = 0  # cleared alarms still in the heap

    def __len__(self) -> int:
        """Alarms set and not cleared (nor fired)."""
        return len(self._heap) - self._dead

    def set(self, delay: float, task: asyncio.Task[Any]) -> Alarm:
        """An alarm that cancels ``task`` in ``delay`` seconds unless cleared first."""
        alarm = Alarm(self, task)
        when = self.loop.time() + delay
        heapq.heappush(self._heap, (when, next(self._seq), alarm))
        if when < self._armed:
            self._arm(when)
        return alarm

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed = when
        self._handle = self.loop.call_at(when, self._ring)

    def _cleared(self) -> None:
        self._dead += 1
        heap = self._heap
        if self._dead > _COMPACT and self._dead * 2 > len(heap):
            self._heap = [entry for entry in heap if not entry[2].cleared]
            heapq.heapify(self._heap)
            self._dead = 0

    def _ring(self) -> None:
        # The loop runs a timer up to its clock resolution early: what was due at ``_armed`` is due.
        due = max(self.loop.time(), self._armed)
        self._handle, self._armed = None, float("inf")
        heap = self._heap
        while heap and (heap[0][0] <= due or heap[0][2].cleared):
            alarm = heapq.heappop(heap)[2]
            if alarm.cleared:
                self._dead -= 1
            else:
                alarm._rung = True  # out of the heap: its own ``clear`` must not count it as dead
                alarm._fire()
        if heap:
            self._arm(heap[0][0])
