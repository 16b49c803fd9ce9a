"""Detection wired into the settings, the XDG user config file, and ``llmport providers``."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmport.composition.cli import main
from llmport.composition.settings import load_settings

KEY = "sk-live-do-not-print-ABCD1234"


def test_detected_when_nothing_is_configured(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY + "x")
    settings = load_settings()
    assert list(settings.providers) == ["openai", "anthropic"]
    assert settings.providers["openai"].resolved_api_key() == KEY


def test_configured_providers_switch_detection_off_unless_asked(clean_env: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("LLMPORT_PROVIDERS__MINE__KIND", "anthropic")
    monkeypatch.setenv("LLMPORT_PROVIDERS__MINE__API_KEY", "sk-ant-configured-0000")
    assert list(load_settings().providers) == ["mine"]
    monkeypatch.setenv("LLMPORT_DETECT", "true")
    assert list(load_settings().providers) == ["mine", "openai"]
    monkeypatch.delenv("LLMPORT_PROVIDERS__MINE__KIND")
    monkeypatch.delenv("LLMPORT_PROVIDERS__MINE__API_KEY")
    monkeypatch.setenv("LLMPORT_DETECT", "false")
    assert load_settings().providers == {}


def test_the_xdg_user_config_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = clean_env / "xdg" / "llmport"
    folder.mkdir()
    (folder / "config.toml").write_text('default_model = "fast"\n[providers.local]\nkind = "openai_compatible"\n'
                                        'preset = "vllm"\nmodels = ["m1"]\n')
    settings = load_settings()
    assert list(settings.providers) == ["local"]
    assert settings.default_model == "fast"
    other = clean_env / "other.toml"
    other.write_text('[providers.named]\nkind = "openai_compatible"\npreset = "vllm"\n')
    monkeypatch.setenv("LLMPORT_CONFIG", str(other))  # LLMPORT_CONFIG wins over the user file
    assert list(load_settings().providers) == ["named"]


def test_home_config_when_xdg_is_unset(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    folder = clean_env / "home" / ".config" / "llmport"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text('[providers.h]\nkind = "openai_compatible"\npreset = "vllm"\n')
    assert list(load_settings().providers) == ["h"]


def test_providers_command_shows_sources_never_keys(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("GROQ_API_KEY", KEY + "G")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY + "Z")
    (clean_env / "secrets" / "DEEPSEEK_API_KEY").write_text(KEY + "D")
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert "openai (openai): detected from OPENAI_API_KEY, key ...1234" in out
    assert "groq (openai_compatible): detected from GROQ_API_KEY, key ...234G" in out
    assert "deepseek (openai_compatible): detected from file " in out
    assert "AZURE_OPENAI_API_KEY: AZURE_OPENAI_ENDPOINT is not set" in out
    assert "Ollama at http://127.0.0.1:" in out
    assert "do-not-print" not in out


def test_providers_command_for_configured_settings(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LLMPORT_PROVIDERS__MINE__KIND", "anthropic")
    monkeypatch.setenv("LLMPORT_PROVIDERS__MINE__API_KEY", KEY)
    monkeypatch.setenv("LLMPORT_PROVIDERS__MINE__DEFAULT_MODEL", "claude-x")
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert "mine (anthropic): settings, key ...1234; models: claude-x" in out
    assert "do-not-print" not in out


def test_providers_command_lists_a_key_rings_fingerprints_and_weights(clean_env: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = clean_env / "ring.toml"
    config.write_text(f'[providers.ring]\nkind = "openai"\napi_keys = [{{ key = "{KEY}", weight = 3 }}, '
                      '{ key_env = "RING_SECOND_KEY" }, { key_env = "RING_UNSET_KEY" }]\n')
    monkeypatch.setenv("LLMPORT_CONFIG", str(config))
    monkeypatch.setenv("RING_SECOND_KEY", KEY + "B")
    monkeypatch.delenv("RING_UNSET_KEY", raising=False)
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert "ring (openai): settings, keys ...1234 (weight 3), ...234B (weight 1), (RING_UNSET_KEY not set) " \
           "(weight 1); models: -" in out
    assert "do-not-print" not in out
