"""``make demo`` shows the pipeline: guidance from a Markdown directory and a cache hit."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.composition import demo
from llmport.composition.demo_pipeline import GUIDANCE


async def test_demo_shows_guidance_and_a_cache_hit(emu: VendorEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    providers = demo.available()
    assert len(providers) >= 2
    with mock.patch.dict(os.environ, {k: v for k, v in os.environ.items() if not k.startswith("LLMPORT_")},
                         clear=True):
        assert await demo.run(emu) == 0
    out = capsys.readouterr().out
    assert "same question again: answered from the response cache (0 upstream calls, cost 0)" in out
    assert f"was in the request {providers[1].name!r} received: yes" in out
    backup = emu.journal.entries(tag=providers[1].name)
    assert len(backup) == 2 and all(GUIDANCE in str(e.body) for e in backup)
