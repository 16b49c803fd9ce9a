"""The configuration examples in the README load as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmport.composition import load_settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
TOML_BLOCKS = re.findall(r"```toml\n(.*?)```", README, re.DOTALL)


def test_the_readme_has_a_full_example_and_a_policy_example() -> None:
    assert len(TOML_BLOCKS) == 2


def test_the_readme_configuration_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "llmport.toml"
    config.write_text("\n".join(TOML_BLOCKS))
    monkeypatch.setenv("LLMPORT_CONFIG", str(config))
    settings = load_settings()
    assert list(settings.ordered_providers)[:3] == ["groq", "claude", "gemini"]
    assert settings.aliases["fast"][0] == "groq/llama-3.3-70b-versatile"
    policy = settings.policy
    assert policy.strategy == "priority"
    assert policy.aliases["smart"].hedge is not None
