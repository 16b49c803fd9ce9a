"""An emulator speaking only the test ``EchoWire``: engine tests independent of any vendor format."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from llmport.adapters.testing.emulator import VendorEmulator

from .echo_wire import EchoWire


@pytest.fixture(scope="module")
def echo_emulator() -> Iterator[VendorEmulator]:
    with VendorEmulator(protocols=[EchoWire()]) as emu:
        yield emu


@pytest.fixture
def echo(echo_emulator: VendorEmulator) -> Iterator[VendorEmulator]:
    echo_emulator.reset()
    yield echo_emulator
    echo_emulator.reset()


@pytest.fixture
def client(echo: VendorEmulator) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=echo.url, timeout=5.0) as c:
        yield c
