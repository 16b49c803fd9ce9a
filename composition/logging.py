"""llmport's logging: events go to the stdlib logger ``llmport`` (``llmport.policy`` for attempts),
through structlog's stdlib integration, so the host's ``logging`` configuration decides where they
go and at which level. Secrets are always redacted; prompt and completion text is dropped unless
``logging.log_content`` is on.

llmport never touches structlog's global configuration nor the host's handlers. It formats and
prints its events itself only when asked (``LLMPORT_LOGGING__CONFIGURE=true``, as the CLI and the
demo do): then a handler on ``llmport`` writes JSON lines (or console lines) to stderr, removed at
shutdown. While the container runs, a filter on the HTTP clients' own loggers (``httpx2``,
``httpx``) masks credentials in the URLs they log.
"""

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
#: The stdlib logger every llmport event goes to (and its children).
LOGGER = "llmport"
#: Loggers of HTTP clients that log full request URLs at INFO.
HTTP_LOGGERS = ("httpx2", "httpx")


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


def _renderer(config: LoggingSettings) -> Any:
    if config.format == "json":
        return structlog.processors.JSONRenderer(serializer=_dumps)
    return structlog.dev.ConsoleRenderer(colors=False)


def logging_processors(config: LoggingSettings, secrets: Iterable[str]) -> list[Any]:
    """The processor chain ending in the configured renderer (a string per event)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        IsoTimestamp(),
        structlog.processors.format_exc_info,
        DropContent(config.log_content),
        RedactSecrets(secrets),
        _renderer(config),
    ]


def _to_stdlib(logger: Any, method: str, event: MutableMapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    # The rendered line is the record's message; the fields ride along as ``record.llmport``.
    line = event.pop("_line")
    return (line,), {"extra": {"llmport": dict(event)}}


def _render_line(renderer: Any) -> Any:
    def render(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event["_line"] = renderer(logger, method, dict(event))
        return event
    return render


def event_logger(name: str, config: LoggingSettings, secrets: Iterable[str] = ()) -> Any:
    """A structlog logger over the stdlib logger ``name`` (a child of ``llmport``), independent of
    structlog's global configuration. Events below the stdlib logger's level cost one check."""
    renderer = _renderer(config) if config.configure else structlog.processors.LogfmtRenderer(
        key_order=["event"], drop_missing=True)
    processors: list[Any] = [structlog.stdlib.filter_by_level]
    if config.configure:
        processors += [structlog.processors.add_log_level, IsoTimestamp()]
    processors += [structlog.processors.format_exc_info, DropContent(config.log_content), RedactSecrets(secrets),
                   _render_line(renderer), _to_stdlib]
    return structlog.wrap_logger(logging.getLogger(name), processors=processors,
                                 wrapper_class=structlog.stdlib.BoundLogger)


class _MaskUrls(logging.Filter):
    """Masks credentials (and configured secrets) in the messages of an HTTP client's logger."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact_secrets(message, self._secrets)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def configure_logging(settings: Settings) -> Iterator[None]:
    """A dependency-injector resource: while the container runs, masks URL credentials in the HTTP
    clients' logs and, only with ``logging.configure``, prints llmport's events to stderr."""
    config = settings.logging
    url_filter = _MaskUrls(settings.secret_values())
    for name in HTTP_LOGGERS:
        logging.getLogger(name).addFilter(url_filter)
    logger = logging.getLogger(LOGGER)
    saved = (logger.level, logger.propagate)
    handler: logging.Handler | None = None
    if config.configure:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(config.level.upper())
        logger.propagate = False
    try:
        yield
    finally:
        for name in HTTP_LOGGERS:
            logging.getLogger(name).removeFilter(url_filter)
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]
