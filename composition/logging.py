"""llmport's logging: events go to the stdlib logger ``llmport`` (``llmport.policy`` for attempts,
``llmport.money``, ``llmport.keys``, ...), so the host's ``logging`` configuration decides where they
go and at which level. Secrets are always redacted; prompt and completion text is dropped unless
``logging.log_content`` is on.

An event is a name and fields (``log.warning("llm.attempt", route=..., outcome=...)``); the record's
message is the event rendered as one ``key=value`` line, and the fields ride along on the record as
``record.llmport`` for a host's own formatter. llmport never touches the host's handlers, and needs
no logging library of its own (structlog's global configuration, if the host uses it, is untouched).
It formats and prints its events itself only when asked (``LLMPORT_LOGGING__CONFIGURE=true``, as the
CLI and the demo do): then the lines are JSON (or console) with level and timestamp, written to
stderr by a handler on ``llmport`` that is removed at shutdown. While the container runs, a filter on
the HTTP clients' own loggers (``httpx2``, ``httpx``) masks credentials in the URLs they log.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any

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
    """An event step: replaces every configured secret and key-shaped token in every value
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
    """An event step: removes prompt/completion text unless content logging is enabled."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if not self._enabled:
            for key in CONTENT_KEYS & event.keys():
                event[key] = "[omitted]"
        return event


class IsoTimestamp:
    """Adds the UTC ISO-8601 ``timestamp`` with microseconds; the date and time of each second are
    formatted once."""

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


def render_json(event: MutableMapping[str, Any]) -> str:
    """One JSON object per line (one encoder for every line)."""
    return _ENCODER.encode(event)


def render_logfmt(event: MutableMapping[str, Any]) -> str:
    """``event=name key=value ...``: strings with spaces, quotes or ``=`` quoted, None as ``key=``."""
    parts = [f"event={_logfmt_value(event['event'])}"] if "event" in event else []
    parts.extend(f"{key}={_logfmt_value(value)}" for key, value in event.items() if key != "event")
    return " ".join(parts)


def _logfmt_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else (json.dumps(value, default=repr)
                                                 if isinstance(value, dict | list | tuple) else str(value))
    if text == "" or any(c in text for c in ' "=\n\t\\'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def render_console(event: MutableMapping[str, Any]) -> str:
    """A line for a developer's terminal: ``timestamp [level] event  key=value ...``."""
    head = " ".join(str(event[k]) for k in ("timestamp", "level") if k in event)
    rest = {k: v for k, v in event.items() if k not in ("timestamp", "level", "event")}
    fields = render_logfmt(rest)
    return f"{head} {event.get('event', '')}" + (f"  {fields}" if fields else "")


def _renderer(config: LoggingSettings) -> Callable[[MutableMapping[str, Any]], str]:
    return render_json if config.format == "json" else render_console


def _format_exc_info(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    exc_info = event.pop("exc_info", None)
    if exc_info:
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        elif not isinstance(exc_info, tuple):
            exc_info = sys.exc_info()
        event["exception"] = "".join(traceback.format_exception(*exc_info))
    return event


def _add_log_level(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event["level"] = method
    return event


def logging_processors(config: LoggingSettings, secrets: Iterable[str]) -> list[Any]:
    """The processing of one event, in order, ending in the configured rendering: each step takes
    ``(logger, method, event)`` and returns the event (the last one, a string)."""
    renderer = _renderer(config)
    return [_add_log_level, IsoTimestamp(), _format_exc_info, DropContent(config.log_content),
            RedactSecrets(secrets), lambda logger, method, event: renderer(event)]


class EventLogger:
    """Events over the stdlib logger ``name`` (a child of ``llmport``): ``info("llm.attempt", **fields)``.
    An event below the logger's level costs one check."""

    __slots__ = ("_logger", "_render", "_steps")

    def __init__(self, name: str, config: LoggingSettings, secrets: Iterable[str] = ()) -> None:
        self._logger = logging.getLogger(name)
        steps: list[Any] = [_add_log_level, IsoTimestamp()] if config.configure else []
        self._steps: tuple[Any, ...] = (*steps, _format_exc_info, DropContent(config.log_content),
                                        RedactSecrets(secrets))
        self._render = _renderer(config) if config.configure else render_logfmt

    def enabled(self, level: int) -> bool:
        """Whether an event at ``level`` would be logged (a caller can skip building its fields)."""
        return self._logger.isEnabledFor(level)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, "error", event, fields)

    def _log(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if not self._logger.isEnabledFor(level):
            return
        record: MutableMapping[str, Any] = {**fields, "event": event}
        for step in self._steps:
            record = step(self._logger, method, record)
        self._logger.log(level, self._render(record), extra={"llmport": dict(record)})


def event_logger(name: str, config: LoggingSettings, secrets: Iterable[str] = ()) -> EventLogger:
    """llmport's event logger over the stdlib logger ``name``."""
    return EventLogger(name, config, secrets)


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
