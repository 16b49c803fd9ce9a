"""The provider settings' field kinds: list and JSON forms from variables, secrets collected for
scrubbing and masked in reprs, key files, credential headers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmport.composition import SettingsError, load_settings
from llmport.composition.families import provider_settings
from llmport.composition.provider_settings import ProviderProblem, read_key_file

SECRET = "sk-live-4b3c2d1e0f9a8b7c6d5e"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LLMPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LLMPORT_DETECT", "false")
    monkeypatch.setenv("LLMPORT_PROVIDERS__X__KIND", "openai_compatible")
    monkeypatch.setenv("LLMPORT_PROVIDERS__X__BASE_URL", "http://127.0.0.1:9/v1")


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("LLMPORT_PROVIDERS__X__MODELS", '["a", ', "is neither a comma-separated list nor a JSON list"),
    ("LLMPORT_PROVIDERS__X__API_KEYS", "[{oops", "must be a JSON list"),
    ("LLMPORT_PROVIDERS__X__EXTRA_HEADERS", "{not json", "must be a JSON object"),
    ("LLMPORT_PROVIDERS__X__EXTRA_HEADERS", '{"X-Api-Key": " padded"}', "header X-Api-Key: has leading or trailing"),
])
def test_malformed_values_from_variables_are_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                                   message: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert f"{variable}: {message}" in str(info.value)
    assert "padded" not in str(info.value)


def test_every_secret_field_is_collected_for_scrubbing_and_hidden_in_reprs() -> None:
    p = provider_settings(kind="openai", api_key=SECRET, extra_headers={"X-Gateway-Token": "gw-token-123456",
                                                                        "X-Team": "blue"})
    assert {SECRET, "gw-token-123456"} <= set(p.secret_values())
    assert "blue" not in p.secret_values()
    shown = repr(p)
    assert SECRET not in shown and "gw-token-123456" not in shown and "extra_headers" not in shown
    aws = provider_settings(kind="bedrock", region="eu-west-1", aws_access_key_id="AKIAEXAMPLE0000",
                            aws_secret_access_key="aws-secret-99999")
    assert {"AKIAEXAMPLE0000", "aws-secret-99999"} <= set(aws.secret_values())


def test_key_file_problems_say_why_never_what(tmp_path: Path) -> None:
    with pytest.raises(ProviderProblem, match=r"cannot read the key file \(No such file or directory\)"):
        read_key_file(str(tmp_path / "missing"))
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe" + SECRET.encode())
    with pytest.raises(ProviderProblem, match=r"cannot read the key file \(not UTF-8 text\)") as info:
        read_key_file(str(binary))
    assert SECRET not in str(info.value)


def test_a_provider_problem_reads_as_its_message() -> None:
    problem = ProviderProblem("api_key", "no API key")
    assert (problem.field, problem.message, str(problem)) == ("api_key", "no API key", "no API key")


def test_a_key_file_is_read_stripped_and_its_key_scrubbed(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"  {SECRET}\n", encoding="utf-8")
    assert read_key_file(str(key_file)) == SECRET
    p = provider_settings(kind="anthropic", api_key_file=str(key_file))
    assert SECRET in p.secret_values()
    key_file.write_text("\n", encoding="utf-8")
    assert read_key_file(str(key_file)) is None
    assert provider_settings(kind="anthropic", api_key_file=str(key_file)).secret_values() == []
