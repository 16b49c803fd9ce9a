"""Credentials passed as extra headers (Azure's ``api-key``, a gateway's token) are secrets too:
redacted from logs, hidden from reprs and from ``llmport config``."""

from __future__ import annotations

import os

import pytest

from llmport.composition import load_settings
from llmport.composition.cli import main

GATEWAY_KEY = "gw-0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LLMPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__KIND", "openai_compatible")
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__EXTRA_HEADERS",
                       f'{{"X-Gateway-Api-Key": "{GATEWAY_KEY}", "X-Trace": "visible"}}')


def test_credential_headers_are_secret_values_and_hidden_from_repr() -> None:
    settings = load_settings()
    assert settings.providers["gw"].extra_headers["X-Gateway-Api-Key"] == GATEWAY_KEY  # still sent
    assert GATEWAY_KEY in settings.secret_values()
    assert "visible" not in settings.secret_values()
    assert GATEWAY_KEY not in repr(settings)
    assert GATEWAY_KEY not in str(settings)


def test_config_command_hides_credential_headers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert GATEWAY_KEY not in out
    assert "visible" in out
