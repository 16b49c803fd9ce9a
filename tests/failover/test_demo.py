"""``make demo`` end to end: environment settings -> container -> policy -> real SDKs -> emulator."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.composition import demo


async def test_demo_fails_over_and_prints_the_attempts(emu: VendorEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    providers = demo.available()
    if len(providers) < 2:
        pytest.skip("needs two provider SDK factories")
    with mock.patch.dict(os.environ, {k: v for k, v in os.environ.items() if not k.startswith("LLMPORT_")},
                         clear=True):
        assert await demo.run(emu) == 0
    out = capsys.readouterr().out
    assert demo.ANSWER in out
    primary = providers[0]
    assert f"{primary.name}/{primary.model}: closed -> open" in out
    assert "skipped" in out
    statuses = [e.status for e in emu.journal.entries(tag=primary.name)]
    assert statuses == [503, 503, 429]  # the primary is never called again once its breaker opened
    throttled = emu.journal.entries(tag=primary.name)[2]
    backup = emu.journal.entries(tag=providers[1].name)[0]
    assert backup.arrived - throttled.arrived < 0.5  # failed over at once: the backup could serve
    assert "demo-" not in out  # placeholder keys never printed
