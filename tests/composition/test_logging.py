from __future__ import annotations

import json

from llmport.composition.logging import logging_processors
from llmport.composition.settings import LoggingSettings

SECRET = "my-very-own-gateway-token-123"


def render(event: dict[str, object], *, log_content: bool = False, fmt: str = "json") -> str:
    processors = logging_processors(LoggingSettings(format=fmt, log_content=log_content), [SECRET])  # type: ignore[arg-type]
    value: object = dict(event)
    for proc in processors:
        value = proc(None, "info", value)
    assert isinstance(value, str)
    return value


def test_configured_secrets_and_key_shaped_values_are_redacted_everywhere() -> None:
    line = render({
        "event": f"calling with {SECRET}",
        "headers": {"authorization": "Bearer abcdefghijklmnopqrstuvwxyz"},
        "keys": ["sk-ant-api03-abcdefghijklmnop", "AIzaSyA1234567890abcdefghijklmnop"],
        "error": RuntimeError(f"denied for {SECRET}"),
    })
    assert SECRET not in line
    for leaked in ("abcdefghijklmnopqrstuvwxyz", "sk-ant-api03", "AIzaSy"):
        assert leaked not in line
    assert json.loads(line)["headers"]["authorization"] == "[REDACTED]"


def test_prompt_and_completion_text_is_never_logged_unless_enabled() -> None:
    event = {"event": "attempt", "prompt": "my medical history", "completion": "diagnosis", "route": "a/b"}
    line = json.loads(render(event))
    assert line["prompt"] == "[omitted]" and line["completion"] == "[omitted]" and line["route"] == "a/b"
    assert json.loads(render(event, log_content=True))["prompt"] == "my medical history"


def test_console_format_for_development() -> None:
    line = render({"event": "hello", "route": "x"}, fmt="console")
    assert "hello" in line and "route=x" in line


def test_text_fields_are_redacted_every_time_and_trusted_keys_only_when_plain() -> None:
    for _ in range(2):  # the second time from the memo of short strings
        line = json.loads(render({"event": SECRET, "error": "AuthenticationFailed", "detail": f"key {SECRET}",
                                  "route": {"nested": SECRET}, "outcome": "ok", "attempt": 1}))
        assert SECRET not in json.dumps(line)
        assert line["event"] == "[REDACTED]" and line["route"] == {"nested": "[REDACTED]"}
        assert (line["error"], line["outcome"], line["attempt"]) == ("AuthenticationFailed", "ok", 1)


def test_every_line_has_a_utc_iso_timestamp_with_microseconds() -> None:
    import datetime as dt

    stamp = json.loads(render({"event": "x"}))["timestamp"]
    parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert stamp.endswith("Z") and len(stamp) == len("2026-01-01T00:00:00.000000Z")
    assert abs((dt.datetime.now(dt.UTC) - parsed).total_seconds()) < 60
