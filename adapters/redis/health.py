"""Whether Redis is usable right now, as the last calls found it: logged once per change."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any


class Degradation:
    """Tracks Redis availability for one connection.

    A failed call marks the connection degraded (one warning); while degraded, callers skip Redis
    (``should_try`` is false) except for one attempt every ``retry_interval`` seconds, so an outage
    costs the hot path nothing after the first timeout. The first success after an outage logs one
    recovery line and runs the ``on_recover`` callbacks (state owners resynchronise there).
    """

    __slots__ = ("_clock", "_log", "_next_try", "_on_recover", "_since", "failures", "retry_interval", "where")

    def __init__(self, where: str, *, retry_interval: float = 0.5, clock: Callable[[], float] = time.monotonic,
                 logger: Any = None) -> None:
        self.where = where  # a redacted URL: never the password
        self.retry_interval = retry_interval
        self.failures = 0  # outages seen (each logged once)
        self._clock = clock
        self._log = logger if logger is not None else _Events(logging.getLogger("llmport.redis"))
        self._since: float | None = None
        self._next_try = 0.0
        self._on_recover: list[Callable[[], None]] = []

    @property
    def degraded(self) -> bool:
        return self._since is not None

    def should_try(self) -> bool:
        """Whether a caller should send a command now (always, unless degraded and too soon)."""
        return self._since is None or self._clock() >= self._next_try

    def failed(self, exc: BaseException) -> None:
        """A call failed or timed out: degrade (logging the first failure of an outage only)."""
        now = self._clock()
        self._next_try = now + self.retry_interval
        if self._since is None:
            self._since = now
            self.failures += 1
            with contextlib.suppress(Exception):  # a broken log sink must not break the fallback
                self._log.warning("redis.degraded", redis=self.where, error=type(exc).__name__,
                                  fallback="local state", retry_every_s=self.retry_interval)

    def succeeded(self) -> None:
        """A call succeeded: recover (logging once) and notify the resynchronising callbacks."""
        since = self._since
        if since is None:
            return
        self._since = None
        with contextlib.suppress(Exception):
            self._log.info("redis.recovered", redis=self.where, degraded_s=round(self._clock() - since, 3))
        for callback in tuple(self._on_recover):
            callback()

    def on_recover(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (synchronously, keep it short) each time Redis comes back."""
        self._on_recover.append(callback)


class _Events:
    """``warning("redis.degraded", **fields)`` over a stdlib logger: one ``event=... key=value`` line,
    the fields also on the record as ``record.llmport`` (the container passes llmport's own logger)."""

    __slots__ = ("_logger",)

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, event, fields)

    def _emit(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):
            line = " ".join([f"event={event}", *(f"{k}={v}" for k, v in fields.items())])
            self._logger.log(level, line, extra={"llmport": {**fields, "event": event}})
