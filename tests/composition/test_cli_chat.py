"""``llmport chat`` prints the answer and a summary line, whatever events the stream carries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from llmport.adapters.testing import FakeLLM
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
    async def fake_open_llm() -> AsyncIterator[FakeLLM]:
        yield _NoUsage()

    monkeypatch.setattr(cli, "open_llm", fake_open_llm)
    assert cli.main(["chat", "hi"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "hello\n"
    assert "gw/m: end_turn" in captured.err
