"""structlog set-up: JSON lines in production, console in development, secrets always redacted,
prompt and completion text dropped unless explicitly enabled."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

import structlog

from llmport.domain import redact_secrets

from .settings import LoggingSettings, Settings

#: Event keys that carry conversation content; dropped unless ``log_content`` is on.
CONTENT_KEYS = frozenset({"prompt", "messages", "completion", "text", "content", "system", "arguments"})


class RedactSecrets:
    """A structlog processor: replaces every configured secret and key-shaped token in every value."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event.items():
            event[key] = self._scrub(value)
        return event

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact_secrets(value, self._secrets)
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v) for v in value)
        if isinstance(value, BaseException | int | float | bool) or value is None:
            return value if not isinstance(value, BaseException) else redact_secrets(repr(value), self._secrets)
        return redact_secrets(repr(value), self._secrets)


class DropContent:
    """A structlog processor: removes prompt/completion text unless content logging is enabled."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if not self._enabled:
            for key in CONTENT_KEYS & event.keys():
                event[key] = "[omitted]"
        return event


def logging_processors(config: LoggingSettings, secrets: Iterable[str]) -> list[Any]:
    renderer: Any = (
        structlog.processors.JSONRenderer() if config.format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
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
