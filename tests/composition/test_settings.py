from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmport.composition import SettingsError, load_settings

KEY = "sk-live-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LLMPORT_"):
            monkeypatch.delenv(name)


def test_providers_from_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPORT_PROVIDERS__PRIMARY__KIND", "openai_compatible")
    monkeypatch.setenv("LLMPORT_PROVIDERS__PRIMARY__PRESET", "groq")
    monkeypatch.setenv("LLMPORT_PROVIDERS__PRIMARY__API_KEY", KEY)
    monkeypatch.setenv("LLMPORT_PROVIDERS__BACKUP__KIND", "anthropic")
    monkeypatch.setenv("LLMPORT_PROVIDERS__BACKUP__TIMEOUT", "12.5")
    monkeypatch.setenv("LLMPORT_ORDER", "primary,backup")
    monkeypatch.setenv("LLMPORT_ALIASES__FAST", "primary/llama-3.1-8b, backup/claude-haiku")
    settings = load_settings()
    assert list(settings.ordered_providers) == ["primary", "backup"]
    assert settings.providers["backup"].timeout == 12.5
    assert settings.aliases == {"fast": ["primary/llama-3.1-8b", "backup/claude-haiku"]}
    assert settings.providers["primary"].resolved_api_key() == KEY
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())


def test_order_defaults_to_configured_order_and_the_key_can_come_from_a_named_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "llmport.toml"
    config.write_text(
        '[providers.zeta]\nkind = "openai_compatible"\npreset = "deepseek"\napi_key_env = "DEEPSEEK_API_KEY"\n'
        '[providers.alpha]\nkind = "google"\n[aliases]\nsmart = ["zeta/deepseek-chat", "alpha/gemini-2.5-pro"]\n'
    )
    monkeypatch.setenv("LLMPORT_CONFIG", str(config))
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    settings = load_settings()
    assert list(settings.ordered_providers) == ["zeta", "alpha"]
    assert settings.providers["zeta"].resolved_api_key() == KEY
    assert KEY in settings.secret_values()


def test_json_config_file_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "llmport.json"
    config.write_text(json.dumps({"providers": {"a": {"kind": "bedrock", "region": "eu-west-1"}}}))
    monkeypatch.setenv("LLMPORT_CONFIG", str(config))
    monkeypatch.setenv("LLMPORT_DEFAULT_MODEL", "a/anthropic.claude-v2:1")
    settings = load_settings()
    assert settings.providers["a"].region == "eu-west-1"
    assert settings.default_model == "a/anthropic.claude-v2:1"


@pytest.mark.parametrize(("env", "fragment"), [
    ({"LLMPORT_PROVIDERS__X__KIND": "openia"},
     "LLMPORT_PROVIDERS__X__KIND: unknown provider kind; did you mean 'openai'?"),
    ({"LLMPORT_PROVIDERS__X__KIND": "openai", "LLMPORT_PROVIDERS__X__TIMEOUT": "0"},
     "LLMPORT_PROVIDERS__X__TIMEOUT: Input should be greater than 0"),
    ({"LLMPORT_PROVIDERS__X__KIND": "openai", "LLMPORT_PROVIDERS__X__API_KEYY": KEY},
     "LLMPORT_PROVIDERS__X__API_KEYY: unknown setting; did you mean LLMPORT_PROVIDERS__X__API_KEY?"),
    ({"LLMPORT_PROVIDERS__X__KIND": "openai", "LLMPORT_ORDER": "x,y"},
     "LLMPORT_ORDER: names providers that are not configured: y"),
    ({"LLMPORT_CONFIG": "/nonexistent/llmport.toml"}, "LLMPORT_CONFIG: cannot read"),
])
def test_invalid_settings_fail_with_one_readable_message_without_secrets(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], fragment: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert fragment in message
    assert KEY not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_broken_config_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("providers = [")
    monkeypatch.setenv("LLMPORT_CONFIG", str(config))
    with pytest.raises(SettingsError, match="is not valid TOML"):
        load_settings()
