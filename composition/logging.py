"""structlog set-up: JSON lines in production, console in development, secrets always redacted,
prompt and completion text dropped unless explicitly enabled."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any

import structlog

from llmport.domain import redact_secrets

from .settings import LoggingSettings, Settings

#: Event keys that carry conversation content; dropped unless ``log_content`` is on.
CONTENT_KEYS = frozenset({"prompt", "messages", "completion", "text", "content", "system", "arguments"})


#: Keys whose values llmport itself writes from configuration names, enums and numbers (the
#: processors' level and timestamp, the policy's attempt and breaker fields): never caller or vendor
#: text, so never scanned. Everything else (``event``, ``error``, ``detail``, ``reason``, any key a
#: host logs) is.
TRUSTED_KEYS = frozenset({"level", "timestamp", "route", "target", "outcome", "breaker", "attempt", "status",
                          "latency_ms", "ttft_ms", "hedge", "old", "new"})
_MEMO_LEN, _MEMO_SIZE = 64, 512  # short strings repeat (event names, error types): scrub each once


class RedactSecrets:
    """A structlog processor: replaces every configured secret and key-shaped token in every value
    that can hold caller or vendor text (``TRUSTED_KEYS`` are skipped when their value is not text
    from elsewhere: a string, number, bool or None)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self._memo: dict[str, str] = {}

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if key in TRUSTED_KEYS and (value is None or type(value) in _PLAIN):
                continue
            event[key] = self._scrub(value)
        return event

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            if len(value) > _MEMO_LEN:
                return redact_secrets(value, self._secrets)
            memo = self._memo
            done = memo.get(value)
            if done is None:
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                done = memo[value] = redact_secrets(value, self._secrets)
            return done
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v) for v in value)
        if isinstance(value, BaseException | int | float | bool) or value is None:
            return value if not isinstance(value, BaseException) else redact_secrets(repr(value), self._secrets)
        return redact_secrets(repr(value), self._secrets)


_PLAIN = frozenset({str, int, float, bool})


class DropContent:
    """A structlog processor: removes prompt/completion text unless content logging is enabled."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if not self._enabled:
            for key in CONTENT_KEYS & event.keys():
                event[key] = "[omitted]"
        return event


class IsoTimestamp:
    """A structlog processor: the UTC ISO-8601 ``timestamp`` with microseconds, the date and time
    of each second formatted once (``TimeStamper`` formats a datetime per event)."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second, self._prefix = -1, ""

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._prefix = second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        event["timestamp"] = f"{self._prefix}.{int((now - second) * 1e6):06d}Z"
        return event


def _unknown(value: Any) -> Any:
    return repr(value)


_ENCODER = json.JSONEncoder(default=_unknown)


def _dumps(value: Any, **_: Any) -> str:
    """One encoder for every line (``json.dumps`` with ``default`` builds one per call)."""
    return _ENCODER.encode(value)


def logging_processors(config: LoggingSettings, secrets: Iterable[str]) -> list[Any]:
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps) if config.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        IsoTimestamp(),
        structlog.processors.format_exc_info,
        DropContent(config.log_content),
        RedactSecrets(secrets),
        renderer,
    ]


def configure_logging(settings: Settings) -> Iterator[None]:
    """A dependency-injector resource: configures structlog for the deployment."""
    config = settings.logging
    structlog.configure(
        processors=logging_processors(config, settings.secret_values()),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[config.level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    yield
