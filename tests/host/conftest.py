"""The host's test set-up: the environment a deployment would set, pointing at the emulator, and
one ``TestClient`` reused across tests (each ``with client:`` starts and stops the app)."""

from __future__ import annotations

import os

import pytest
from starlette.testclient import TestClient

from llmport.adapters.testing.emulator import VendorEmulator

from .app import app

KEY = "sk-host-test-0123456789abcdef"


@pytest.fixture
def deployment(emu: VendorEmulator, monkeypatch: pytest.MonkeyPatch) -> VendorEmulator:
    for name in list(os.environ):
        if name.startswith("LLMPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__KIND", "openai_compatible")
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__BASE_URL", emu.url + "/v1")
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__API_KEY", KEY)
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__MODELS", "gpt-4o-mini")
    monkeypatch.setenv("LLMPORT_POLICY__RETRY", "aggressive")
    return emu


@pytest.fixture(scope="module")
def client() -> TestClient:
    """One client for the module, as a host's test suite keeps one."""
    return TestClient(app)
