"""``llmport chat`` prints the answer and a summary line, whatever events the stream carries."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from llmport.adapters.testing import FakeLLM
from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator
from llmport.composition import cli
from llmport.domain import CompletionRequest, StopReason, StreamEnd, StreamEvent, TextDelta


class _NoUsage(FakeLLM):
    """A stream with no UsageUpdate (a provider that reports none)."""

    async def _events(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:  # type: ignore[override]
        yield TextDelta("hello")
        yield StreamEnd(StopReason("end_turn", "stop"), "gw", "m")


def test_chat_without_usage_in_the_stream(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    @asynccontextmanager
    async def fake_open_llm(*_: object) -> AsyncIterator[FakeLLM]:
        yield _NoUsage()

    monkeypatch.setattr(cli, "open_llm", fake_open_llm)
    assert cli.main(["chat", "hi"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "hello\n"
    assert "gw/m: end_turn" in captured.err


def test_chat_log_lines_never_interleave_with_the_answer(monkeypatch: pytest.MonkeyPatch, emu: VendorEmulator) -> None:
    for name in list(os.environ):
        if name.startswith("LLMPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__KIND", "openai_compatible")
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__BASE_URL", f"{emu.url_for('chat')}/v1")
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__DEFAULT_MODEL", "m")
    monkeypatch.setenv("LLMPORT_LOGGING__CONFIGURE", "true")
    monkeypatch.setenv("LLMPORT_POLICY__RETRY__BASE_DELAY", "0.001")
    emu.script(Fault.http(503), then=Reply("one two three four five", chunk_size=4, chunk_delay=0.01), tag="chat")
    both = io.StringIO()  # a terminal: answer and log lines on one screen
    monkeypatch.setattr(sys, "stdout", both)
    monkeypatch.setattr(sys, "stderr", both)
    assert cli.main(["chat", "hi"]) == 0
    lines = both.getvalue().splitlines()
    assert lines[0] == "one two three four five"
    assert any('"outcome": "error"' in line or "outcome=error" in line for line in lines[1:])  # the 503, held back
