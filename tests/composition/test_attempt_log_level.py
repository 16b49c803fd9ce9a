"""The attempt observer checks the logger's level before gathering an attempt's fields: answers
(info) are logged only when info is enabled, failures (warning) whenever warnings are."""

from __future__ import annotations

import logging

import pytest

from llmport.composition.logging import event_logger
from llmport.composition.policy_factory import StructlogObserver
from llmport.composition.settings import LoggingSettings
from llmport.ports.observer import AttemptEvent


def _event(outcome: str, error: str | None = None) -> AttemptEvent:
    return AttemptEvent("p/m", 1, outcome, error, None, 0.25, None, "closed", "smart")  # type: ignore[arg-type]


@pytest.mark.parametrize(("level", "logged"), [(logging.INFO, ["ok", "error"]), (logging.WARNING, ["error"]),
                                               (logging.ERROR, [])])
def test_attempts_follow_the_loggers_level(caplog: pytest.LogCaptureFixture, level: int, logged: list[str]) -> None:
    observer = StructlogObserver(event_logger("llmport.policy.leveltest", LoggingSettings()))
    with caplog.at_level(level, logger="llmport.policy.leveltest"):
        observer.on_attempt(_event("ok"))
        observer.on_attempt(_event("error", "Timeout"))
    outcomes = [r.llmport["outcome"] for r in caplog.records if r.name == "llmport.policy.leveltest"]  # type: ignore[attr-defined]
    assert outcomes == logged
    if "ok" in logged:
        record = next(r for r in caplog.records if r.llmport["outcome"] == "ok")  # type: ignore[attr-defined]
        assert record.levelno == logging.INFO and record.llmport["latency_ms"] == 250.0  # type: ignore[attr-defined]
