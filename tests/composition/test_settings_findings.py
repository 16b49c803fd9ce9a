"""Every configuration mistake of issue 12 §1 and §2 stops start-up with one ``SettingsError`` naming
the variable or file key the user wrote, never the value."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmport.composition import Settings, SettingsError, load_settings, open_llm
from llmport.composition.settings import validate_settings
from llmport.domain import CompletionRequest, Message

SECRET = "sk-live-9f8e7d6c5b4a39281706abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LLMPORT_") or name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
                                                   "GOOGLE_API_KEY", "GEMINI_API_KEY", "AZURE_OPENAI_API_KEY",
                                                   "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


def env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


async def start_up_problem() -> str:
    """The message start-up fails with (settings, clients, policy: everything but the network)."""
    with pytest.raises(SettingsError) as info:
        async with open_llm():
            pass
    assert info.value.__cause__ is None
    return str(info.value)


def problem() -> str:
    with pytest.raises(SettingsError) as info:
        load_settings()
    return str(info.value)


# --- factory checks, now at start-up with the variable named ------------------------------------

@pytest.mark.parametrize(("values", "named", "absent"), [
    ({"LLMPORT_PROVIDERS__X__KIND": "openai_compatible"}, "LLMPORT_PROVIDERS__X__BASE_URL", None),
    ({"LLMPORT_PROVIDERS__X__KIND": "openai_compatible", "LLMPORT_PROVIDERS__X__PRESET": "grok"},
     "LLMPORT_PROVIDERS__X__PRESET: unknown preset; did you mean 'groq'?", "grok"),
    ({"LLMPORT_PROVIDERS__X__KIND": "openai_compatible", "LLMPORT_PROVIDERS__X__PRESET": SECRET},
     "LLMPORT_PROVIDERS__X__PRESET: unknown preset", SECRET),
    ({"LLMPORT_PROVIDERS__X__KIND": "openai_compatible", "LLMPORT_PROVIDERS__X__API_KEY_ENV": SECRET,
      "LLMPORT_PROVIDERS__X__BASE_URL": "http://127.0.0.1:9/v1"},
     "LLMPORT_PROVIDERS__X__API_KEY_ENV: must be the name of an environment variable", SECRET),
    ({"LLMPORT_PROVIDERS__X__KIND": "azure_openai", "LLMPORT_PROVIDERS__X__API_KEY": SECRET},
     "LLMPORT_PROVIDERS__X__ENDPOINT: azure_openai needs an endpoint", SECRET),
    ({"LLMPORT_PROVIDERS__X__KIND": "vertex", "LLMPORT_PROVIDERS__X__LOCATION": "europe-west1"},
     "LLMPORT_PROVIDERS__X__PROJECT: vertex needs a project", None),
    ({"LLMPORT_PROVIDERS__X__KIND": "vertex", "LLMPORT_PROVIDERS__X__PROJECT": "p"},
     "LLMPORT_PROVIDERS__X__LOCATION: vertex needs a location", None),
    ({"LLMPORT_PROVIDERS__X__KIND": "anthropic_vertex", "LLMPORT_PROVIDERS__X__PROJECT": "p"},
     "LLMPORT_PROVIDERS__X__REGION: anthropic_vertex needs a region", None),
    ({"LLMPORT_PROVIDERS__X__KIND": "bedrock", "LLMPORT_PROVIDERS__X__AWS_ACCESS_KEY_ID": "AKIAABCDEFGHIJKLMNOP"},
     "LLMPORT_PROVIDERS__X__AWS_SECRET_ACCESS_KEY: AWS keys come in pairs", "AKIAABCDEFGHIJKLMNOP"),
])
async def test_provider_settings_are_checked_at_start_up(monkeypatch: pytest.MonkeyPatch, values: dict[str, str],
                                                         named: str, absent: str | None) -> None:
    env(monkeypatch, **values)
    message = await start_up_problem()
    assert named in message
    if absent:
        assert absent not in message


@pytest.mark.parametrize(("kind", "tried"), [
    ("openai", "OPENAI_API_KEY"),
    ("anthropic", "ANTHROPIC_API_KEY"),
    ("google", "GOOGLE_API_KEY, GEMINI_API_KEY"),
])
async def test_a_provider_with_no_credential_source_stops_start_up(monkeypatch: pytest.MonkeyPatch, kind: str,
                                                                   tried: str) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__X__KIND=kind, LLMPORT_PROVIDERS__X__MODELS="m")
    message = await start_up_problem()
    assert f"LLMPORT_PROVIDERS__X__API_KEY: no API key: set it; also tried {tried}" in message


async def test_a_preset_key_variable_that_is_not_set_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    env(monkeypatch, LLMPORT_PROVIDERS__X__KIND="openai_compatible", LLMPORT_PROVIDERS__X__PRESET="groq")
    assert "LLMPORT_PROVIDERS__X__API_KEY: no API key: set it; also tried GROQ_API_KEY" in await start_up_problem()


async def test_the_aws_chain_and_google_adc_count_as_credential_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__AWS__KIND="bedrock", LLMPORT_PROVIDERS__AWS__REGION="eu-west-1",
        LLMPORT_PROVIDERS__AWS__MODELS="m", LLMPORT_PROVIDERS__GCP__KIND="vertex",
        LLMPORT_PROVIDERS__GCP__PROJECT="p", LLMPORT_PROVIDERS__GCP__LOCATION="europe-west1",
        LLMPORT_PROVIDERS__CLAUDE__KIND="anthropic_vertex", LLMPORT_PROVIDERS__CLAUDE__REGION="us-east5",
        LLMPORT_PROVIDERS__CLAUDE__PROJECT="p")
    async with open_llm() as llm:
        assert llm is not None


@pytest.mark.parametrize(("values", "named"), [
    ({"LLMPORT_PROVIDERS__AWS__PROFILE": "no-such-profile"}, "LLMPORT_PROVIDERS__AWS__PROFILE: no AWS profile"),
    ({}, "LLMPORT_PROVIDERS__AWS__REGION: no AWS region"),
    ({"LLMPORT_PROVIDERS__AWS__REGION": "eu west 1"}, "LLMPORT_PROVIDERS__AWS__REGION: not a valid AWS region"),
])
@pytest.mark.parametrize("kind", ["bedrock", "anthropic_bedrock"])
async def test_aws_region_and_profile_problems_name_the_variable(monkeypatch: pytest.MonkeyPatch, kind: str,
                                                                 values: dict[str, str], named: str) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__AWS__KIND=kind, **values)
    message = await start_up_problem()
    assert named in message
    assert "eu west 1" not in message and "no-such-profile" not in message


@pytest.mark.parametrize("url", ["127.0.0.1:4000/v1", "localhost/v1", "ftp://host/v1", "http://[::1/v1",
                                 "http://host:99999/v1", "https:///v1", "http://ho st/v1"])
def test_a_base_url_without_scheme_or_host_is_rejected_at_start(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__X__KIND="openai_compatible", LLMPORT_PROVIDERS__X__BASE_URL=url)
    message = problem()
    assert "LLMPORT_PROVIDERS__X__BASE_URL:" in message
    assert url not in message


# --- references, checked at start-up (not at the first request) ---------------------------------

@pytest.mark.parametrize(("values", "named"), [
    ({"LLMPORT_DEFAULT_MODEL": "fsat"}, "LLMPORT_DEFAULT_MODEL: names a model no provider lists"),
    ({"LLMPORT_ALIASES__FAST": "gw/m,nobody/x"}, "LLMPORT_ALIASES__FAST: names a model no provider lists"),
    ({"LLMPORT_POLICY__ALIASES__SMORT__STRATEGY": "cost"}, "LLMPORT_POLICY__ALIASES__SMORT: no alias named so"),
])
async def test_alias_targets_default_model_and_alias_policies_are_checked_at_start(
        monkeypatch: pytest.MonkeyPatch, values: dict[str, str], named: str) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__GW__KIND="openai_compatible",
        LLMPORT_PROVIDERS__GW__BASE_URL="http://127.0.0.1:9/v1", LLMPORT_PROVIDERS__GW__MODELS="m", **values)
    assert named in await start_up_problem()


async def test_credential_and_alias_problems_are_listed_together(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__C__KIND="anthropic", LLMPORT_PROVIDERS__C__MODELS="m",
        LLMPORT_ALIASES__FAST="nowhere/x", LLMPORT_DEFAULT_MODEL="fsat")
    message = await start_up_problem()
    assert "LLMPORT_PROVIDERS__C__API_KEY: no API key" in message
    assert "LLMPORT_ALIASES__FAST: " in message
    assert "LLMPORT_DEFAULT_MODEL: names a model no provider lists" in message


async def test_no_providers_configured_is_a_settings_error_not_an_invalid_request() -> None:
    assert "no providers are configured" in await start_up_problem()


# --- typos and the names in messages ------------------------------------------------------------

@pytest.mark.parametrize(("variable", "suggestion"), [
    ("LLMPORT_DEFAULT_MODLE", "LLMPORT_DEFAULT_MODEL"),
    ("LLMPORT_ALIASE__FAST", "LLMPORT_ALIASES__FAST"),
    ("LLMPORT_POLCY__RETRY", "LLMPORT_POLICY__RETRY"),
    ("LLMPORT_POLICY__RETRY__MAX_ATTEMPT", "LLMPORT_POLICY__RETRY__MAX_ATTEMPTS"),
    ("LLMPORT_POLICY__BREAKER__COOLDWN", "LLMPORT_POLICY__BREAKER__COOLDOWN"),
    ("LLMPORT_PROVIDERS__X__API_KEYY", "LLMPORT_PROVIDERS__X__API_KEY"),
    ("LLMPORT_LOGING__LEVEL", "LLMPORT_LOGGING__LEVEL"),
])
def test_unknown_variables_are_errors_with_a_suggestion(monkeypatch: pytest.MonkeyPatch, variable: str,
                                                        suggestion: str) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__X__KIND="openai", **{variable: SECRET})
    message = problem()
    assert f"{variable}: unknown setting; did you mean {suggestion}?" in message
    assert SECRET not in message


def test_a_field_of_another_kind_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__X__KIND="bedrock", LLMPORT_PROVIDERS__X__EXTRA_HEADERS='{"a": "b"}',
        LLMPORT_PROVIDERS__Y__KIND="anthropic", LLMPORT_PROVIDERS__Y__REGION="eu-west-1")
    message = problem()
    assert "LLMPORT_PROVIDERS__X__EXTRA_HEADERS: does not apply to kind bedrock" in message
    assert "LLMPORT_PROVIDERS__Y__REGION: does not apply to kind anthropic (a setting of the kinds" in message


@pytest.mark.parametrize(("values", "expected", "not_expected"), [
    ({"LLMPORT_POLICY__RETRY": "agressive"},
     "LLMPORT_POLICY__RETRY: unknown retry preset; did you mean 'aggressive'?", "Literal"),
    ({"LLMPORT_POLICY__RETRY__PRESET": "agressive"}, "LLMPORT_POLICY__RETRY__PRESET: unknown retry preset",
     "RetrySettings"),
    ({"LLMPORT_POLICY__STRATEGY": "waited"}, "LLMPORT_POLICY__STRATEGY: unknown strategy; did you mean 'weighted'",
     "Literal"),
    ({"LLMPORT_ORDER": "x,nope"}, "LLMPORT_ORDER: names providers that are not configured: nope", "LLMPORT_*"),
    ({"LLMPORT_PROVIDERS__X__KIND": "openia"}, "LLMPORT_PROVIDERS__X__KIND: unknown provider kind; did you mean "
                                               "'openai'?", "openia"),
])
def test_messages_name_the_variable_the_user_wrote(monkeypatch: pytest.MonkeyPatch, values: dict[str, str],
                                                   expected: str, not_expected: str) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__X__KIND="openai")
    env(monkeypatch, **values)
    message = problem()
    assert expected in message
    assert not_expected not in message


def test_a_value_from_the_file_is_reported_as_the_file_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "llmport.toml"
    config.write_text('[providers.main]\nkind = "anthropic"\ntimeout = -3\ntimeoutt = 3\n'
                      '[policy.retry]\npreset = "balanced"\nmax_attempt = 2\n', encoding="utf-8")
    env(monkeypatch, LLMPORT_CONFIG=str(config), LLMPORT_PROVIDERS__MAIN__CONNECT_TIMEOUT="0")
    message = problem()
    assert "llmport.toml: providers.main.timeout: Input should be greater than 0" in message
    assert "llmport.toml: providers.main.timeoutt: unknown setting; did you mean providers.main.timeout?" in message
    assert ("llmport.toml: policy.retry.max_attempt: unknown setting; did you mean policy.retry.max_attempts?"
            in message)
    assert "LLMPORT_PROVIDERS__MAIN__CONNECT_TIMEOUT: Input should be greater than 0" in message
    assert "LLMPORT_PROVIDERS__MAIN__TIMEOUT" not in message


# --- lists and numbers --------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["a,b", " a , b ", '["a", "b"]'])
def test_lists_accept_the_comma_form_and_json(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__X__KIND="openai", LLMPORT_PROVIDERS__X__MODELS=value,
        LLMPORT_ORDER=value.replace("a", "x").replace("b", "x"), LLMPORT_ALIASES__FAST=value)
    settings = load_settings()
    assert settings.providers["x"].models == ["a", "b"]
    assert settings.aliases["fast"] == ["a", "b"]


@pytest.mark.parametrize(("variable", "value"), [
    ("LLMPORT_POLICY__RETRY_BUDGET__WINDOW", "1e-320"),
    ("LLMPORT_POLICY__BREAKER__WINDOW", "1e-320"),
    ("LLMPORT_POLICY__RETRY__MAX_DELAY", "1e308"),
    ("LLMPORT_POLICY__RETRY__MAX_RETRY_AFTER", "inf"),
    ("LLMPORT_POLICY__TIMEOUT", "nan"),
    ("LLMPORT_POLICY__HEDGE__DELAY", "1e308"),
    ("LLMPORT_POLICY__BREAKER__COOLDOWN", "1e308"),
    ("LLMPORT_PROVIDERS__X__TIMEOUT", "1e308"),
    ("LLMPORT_PROVIDERS__X__MAX_CONNECTIONS", "100000000000"),
])
def test_numbers_have_sane_ranges(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__X__KIND="openai", **{variable: value})
    message = problem()
    assert variable in message and value not in message


# --- the config file ----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "expected"), [
    ("c.json", b"[1, 2]", "must hold a table (a JSON object) at the top level, not a list"),
    ("c.json", b'"sk-live-9f8e7d6c5b4a39281706abcdef"', "not a str"),
    ("c.toml", b'kind = "\xff\xfe"', "is not UTF-8 text"),
    ("c.json", b"[" * 10_000 + b"]" * 10_000, "nests too deeply"),
    ("c.json", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "nests too deeply"),
    ("c.toml", b"a = " + b"[" * 10_000 + b"]" * 10_000, "nests too deeply"),
    ("c.json", b'{"providers": ' + b'{"a": ' * 200 + b"1" + b"}" * 201, "nests deeper than 32 levels"),
    ("c.toml", b"providers = [", "is not valid TOML"),
])
def test_a_broken_config_file_is_one_settings_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
                                                    content: bytes, expected: str) -> None:
    config = tmp_path / name
    config.write_bytes(content)
    env(monkeypatch, LLMPORT_CONFIG=str(config))
    message = problem()
    assert message.startswith("invalid llmport settings:\n  LLMPORT_CONFIG:")
    assert expected in message
    assert SECRET not in message


def test_every_problem_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__A__KIND="openai", LLMPORT_PROVIDERS__A__TIMEOUT="-1",
        LLMPORT_PROVIDERS__B__KIND="openia", LLMPORT_POLICY__STRATEGY="nope", LLMPORT_DEFAULT_MODLE="x")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert len(info.value.problems) == 4


# --- secrets (§2) -------------------------------------------------------------------------------

URL = "https://gwuser:Pa55w0rd-xyz@gateway.example/v1?api_key=q-secret-42&x=visible"


def test_credentials_inside_urls_are_masked_in_reprs_and_dumps() -> None:
    settings = Settings.model_validate({"providers": {"gw": {"kind": "openai_compatible", "base_url": URL}}})
    assert settings.providers["gw"].base_url == URL  # the client still gets the real URL
    for shown in (repr(settings), str(settings), settings.model_dump_json(), json.dumps(settings.model_dump())):
        assert "Pa55w0rd-xyz" not in shown and "q-secret-42" not in shown and "gwuser" not in shown
        assert "x=visible" in shown
    assert {"Pa55w0rd-xyz", "q-secret-42"} <= set(settings.secret_values())


def test_credentials_inside_urls_are_scrubbed_from_errors() -> None:
    from llmport.composition.adapters_factory import build_adapters, build_clients
    from llmport.domain import ProviderUnavailable

    settings = Settings.model_validate({"providers": {"gw": {"kind": "openai_compatible", "base_url": URL}}})
    adapter = build_adapters(settings, build_clients(settings))["gw"]
    request = CompletionRequest(model="m", messages=[Message.user("hi")])
    error = adapter._attribute(ProviderUnavailable(f"cannot reach {URL}"), request)  # type: ignore[attr-defined]
    assert "Pa55w0rd-xyz" not in str(error) and "q-secret-42" not in str(error)


def test_credentials_inside_urls_are_scrubbed_from_log_events() -> None:
    from llmport.composition.logging import logging_processors
    from llmport.composition.settings import LoggingSettings

    event: object = {"event": "calling", "url": URL, "error": RuntimeError(f"failed: {URL}")}
    for processor in logging_processors(LoggingSettings(), []):
        event = processor(None, "info", event)
    assert isinstance(event, str)
    assert "Pa55w0rd-xyz" not in event and "q-secret-42" not in event


@pytest.mark.parametrize(("key", "where"), [
    (" sk-live-abcdef0123456789", "has leading or trailing whitespace"),
    ("sk-live-abcdef0123456789\n", "has leading or trailing whitespace"),
    ("sk-live-abcdéf0123456789", "has a non-ASCII or control character at position 13"),
    ("sk-live-abc\x01def0123456789", "has a non-ASCII or control character at position 12"),
])
def test_a_key_that_cannot_be_sent_names_the_variable_and_position(monkeypatch: pytest.MonkeyPatch, key: str,
                                                                   where: str) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__X__KIND="openai", LLMPORT_PROVIDERS__X__API_KEY=key)
    message = problem()
    assert f"LLMPORT_PROVIDERS__X__API_KEY: {where}" in message
    assert "abcdef0123456789" not in message and "def0123456789" not in message


def test_a_key_in_the_file_is_named_as_the_file_key() -> None:
    with pytest.raises(SettingsError) as info:
        validate_settings({"providers": {"x": {"kind": "anthropic", "api_key": "sk-ant-\u00e9abcdef0123456789"}}})
    assert "settings: providers.x.api_key: has a non-ASCII or control character at position 8" in str(info.value)
    assert "abcdef0123456789" not in str(info.value)


async def test_a_key_read_from_a_named_variable_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__X__KIND="openai", LLMPORT_PROVIDERS__X__API_KEY_ENV="MY_KEY",
        MY_KEY="sk-live-abcdef0123456789 ")
    message = await start_up_problem()
    assert "LLMPORT_PROVIDERS__X__API_KEY_ENV: the key in MY_KEY has leading or trailing whitespace" in message
    assert "abcdef0123456789" not in message


def test_secret_extra_headers_are_hidden_in_model_dump_json(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, LLMPORT_PROVIDERS__GW__KIND="openai_compatible",
        LLMPORT_PROVIDERS__GW__BASE_URL="http://127.0.0.1:9/v1",
        LLMPORT_PROVIDERS__GW__EXTRA_HEADERS__X_GATEWAY_TOKEN=SECRET,
        LLMPORT_PROVIDERS__GW__EXTRA_HEADERS__X_TRACE="visible")
    settings = load_settings()
    assert settings.providers["gw"].extra_headers["x_gateway_token"] == SECRET  # type: ignore[attr-defined]
    dumped = settings.model_dump_json()
    assert SECRET not in dumped and "visible" in dumped


def test_the_emulator_journal_redacts_every_credential_header() -> None:
    from llmport.adapters.testing.emulator.journal import REDACTED, redact_headers

    shown = redact_headers({"x-gateway-token": SECRET, "x-api-secret": SECRET, "cookie": SECRET,
                            "x-trace": "visible"})
    assert shown == {"x-gateway-token": REDACTED, "x-api-secret": REDACTED, "cookie": REDACTED, "x-trace": "visible"}


async def test_key_files_and_key_rings_are_checked_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from llmport.composition.credentials import find_key
    from llmport.composition.families import provider_settings

    key_file = tmp_path / "openai-key"
    key_file.write_text(f"{SECRET}\n", encoding="utf-8")
    assert find_key(provider_settings(kind="openai", api_key_file=str(key_file)), ()) == SECRET  # type: ignore[arg-type]
    key_file.write_text("\n", encoding="utf-8")
    env(monkeypatch, LLMPORT_PROVIDERS__X__KIND="openai", LLMPORT_PROVIDERS__X__DEFAULT_MODEL="m",
        LLMPORT_PROVIDERS__X__API_KEY_FILE=str(key_file))
    assert "LLMPORT_PROVIDERS__X__API_KEY_FILE: the key file is empty" in await start_up_problem()
    monkeypatch.delenv("LLMPORT_PROVIDERS__X__API_KEY_FILE")
    monkeypatch.delenv("NOPE_KEY", raising=False)
    env(monkeypatch, LLMPORT_PROVIDERS__X__API_KEYS=json.dumps([{"key": SECRET}, {"key_env": "NOPE_KEY"}]))
    message = await start_up_problem()
    assert "LLMPORT_PROVIDERS__X__API_KEYS: entry 1: the API key variable NOPE_KEY is not set" in message
    assert SECRET not in message


async def test_settings_given_as_a_mapping_are_named_as_its_keys_at_start() -> None:
    settings = validate_settings({"providers": {"x": {"kind": "anthropic", "models": ["m"]}}})
    with pytest.raises(SettingsError, match=r"settings: providers\.x\.api_key: no API key"):
        async with open_llm(settings):
            pass
