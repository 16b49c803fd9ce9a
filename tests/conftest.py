"""Shared fixtures.

``emu``: the VendorEmulator, clean for each test (scripts and journal reset before it runs). One
emulator server serves the whole test session (``emulator``); point SDK clients at ``emu.url``
(or ``emu.url_for(tag)`` for a tagged "provider") and script answers with ``emu.script(...)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llmport.adapters.testing.emulator import VendorEmulator


@pytest.fixture(scope="session")
def emulator() -> Iterator[VendorEmulator]:
    """One emulator (every vendor wire protocol available) for the whole session."""
    from llmport.adapters.testing.emulator import VendorEmulator

    with VendorEmulator() as emu:
        yield emu


@pytest.fixture
def emu(emulator: VendorEmulator) -> Iterator[VendorEmulator]:
    """The session emulator with no scripts, fault rates or journal entries left by other tests."""
    emulator.reset()
    yield emulator
    emulator.reset()


from .redis_fixtures import own_redis, redis_connection, redis_server, redis_url  # noqa: E402, F401
