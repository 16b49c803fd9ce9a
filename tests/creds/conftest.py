"""A clean credential environment per test: no key variable, HOME/XDG/secrets in temporary
directories, and OLLAMA_HOST pointing at a loopback port nobody listens on."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from llmport.composition.openai_presets import PRESETS

_VARIABLES = [
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION",
    "AZURE_OPENAI_DEPLOYMENT", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_SHARED_CREDENTIALS_FILE", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT", "CLOUDSDK_CONFIG", "GOOGLE_CLOUD_LOCATION", "LLMPORT_CONFIG", "LLMPORT_DETECT",
    *(p.key_env for p in PRESETS.values() if p.key_env),
]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in _VARIABLES + [k for k in os.environ if k.startswith("LLMPORT_")]:
        monkeypatch.delenv(name, raising=False)
    for sub in ("home", "xdg", "secrets"):
        (tmp_path / sub).mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LLMPORT_SECRETS_DIR", str(tmp_path / "secrets"))
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    return tmp_path
