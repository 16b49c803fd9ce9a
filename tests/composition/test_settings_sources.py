"""Reading the settings' sources: nesting bounds, TOML error positions, malformed variable names, JSON
values merged with nested variables, and suggestions inside maps, optional and dataclass sections."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmport.composition import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("LLMPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LLMPORT_DETECT", "false")


def problem() -> str:
    with pytest.raises(SettingsError) as info:
        load_settings()
    return str(info.value)


def nested_toml(levels: int) -> str:
    return "[" + ".".join(f"k{i}" for i in range(levels)) + "]\nx = 1\n"


def test_nesting_is_bounded_at_32_levels(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "llmport.toml"
    monkeypatch.setenv("LLMPORT_CONFIG", str(file))
    file.write_text(nested_toml(32), encoding="utf-8")  # 33 keys with x: one too many
    assert "nests deeper than 32 levels (at k0.k1.k2...)" in problem()
    file.write_text(nested_toml(31), encoding="utf-8")  # 32 keys: allowed (then an unknown setting)
    message = problem()
    assert "nests deeper" not in message and "k0: unknown setting" in message


def test_a_toml_syntax_error_names_its_position(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "llmport.toml"
    file.write_text('default_model = "a"\nlogging = = 1\n', encoding="utf-8")
    monkeypatch.setenv("LLMPORT_CONFIG", str(file))
    assert "llmport.toml is not valid TOML: at line 2, column 11" in problem()


def test_a_variable_with_an_empty_level_is_not_a_setting_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPORT_POLICY____TIMEOUT", "5")
    assert "LLMPORT_POLICY____TIMEOUT: not a setting name (levels are separated by exactly two underscores)" \
        in problem()


def test_a_json_value_nesting_too_deeply_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPORT_POLICY", "{" + '"a": {' * 40 + "}" * 41)
    assert "LLMPORT_POLICY: nests deeper than 32 levels" in problem()


def test_a_json_value_merges_with_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPORT_POLICY__STRATEGY", "cost")
    monkeypatch.setenv("llmport_policy", '{"timeout": 5}')  # sorts after the upper-case variable
    policy = load_settings().policy
    assert (policy.strategy, policy.timeout) == ("cost", 5)
    monkeypatch.setenv("llmport_policy", "cost")
    assert "llmport_policy: conflicts with the LLMPORT_POLICY__* variables" in problem()


@pytest.mark.parametrize(("variable", "suggestion"), [
    ("LLMPORT_BUDGETS__DAILY__LIMIT_USDD", "LLMPORT_BUDGETS__DAILY__LIMIT_USD"),  # inside a map of sections
    ("LLMPORT_PRICES__P/M__INPUTT", "LLMPORT_PRICES__P/M__INPUT"),
    ("LLMPORT_POLICY__HEDGE__DELAYY", "LLMPORT_POLICY__HEDGE__DELAY"),  # an optional dataclass section
    ("LLMPORT_POLICY__BREAKER__COOLDOWNN", "LLMPORT_POLICY__BREAKER__COOLDOWN"),
])
def test_suggestions_inside_nested_sections(monkeypatch: pytest.MonkeyPatch, variable: str, suggestion: str) -> None:
    monkeypatch.setenv(variable, "1")
    assert f"{variable}: unknown setting; did you mean {suggestion}?" in problem()


def test_suggestions_for_a_provider_come_from_its_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPORT_PROVIDERS__X__KIND", "openai")
    monkeypatch.setenv("LLMPORT_PROVIDERS__X__REGIN", "eu")  # close to `region`, which openai does not have
    message = problem()
    assert "LLMPORT_PROVIDERS__X__REGIN: unknown setting" in message and "REGION" not in message
    monkeypatch.setenv("LLMPORT_PROVIDERS__X__KIND", "bedrock")
    assert "LLMPORT_PROVIDERS__X__REGIN: unknown setting; did you mean LLMPORT_PROVIDERS__X__REGION?" in problem()
