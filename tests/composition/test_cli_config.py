"""``llmport config`` and ``llmport config --check``: exit 0 when start-up would succeed, 2 listing
every problem otherwise (a deployment pipeline gates on it); secrets never printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from llmport.composition.cli import main

KEY = "sk-live-0f1e2d3c4b5a69788796a5b4"
URL = "https://gwuser:Pa55w0rd-xyz@127.0.0.1:9/v1?token=t0ken-secret"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LLMPORT_") or name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
            monkeypatch.delenv(name)


def good(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__KIND", "openai_compatible")
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__BASE_URL", URL)
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__API_KEY", KEY)
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__MODELS", "m1,m2")
    monkeypatch.setenv("LLMPORT_ALIASES__FAST", "gw/m1")


def test_config_prints_the_configuration_without_secrets_and_exits_0(monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    good(monkeypatch)
    assert main(["config"]) == 0
    captured = capsys.readouterr()
    shown = json.loads(captured.out)
    assert shown["providers"]["gw"]["models"] == ["m1", "m2"] and shown["aliases"] == {"fast": ["gw/m1"]}
    for secret in (KEY, "Pa55w0rd-xyz", "t0ken-secret"):
        assert secret not in captured.out + captured.err
    assert "configuration OK" in captured.err


def test_check_is_quiet_and_exits_0_when_start_up_would_succeed(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    good(monkeypatch)
    assert main(["config", "--check"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("args", [["config"], ["config", "--check"]])
def test_every_settings_problem_is_listed_with_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    good(monkeypatch)
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__TIMEOUT", "-1")
    monkeypatch.setenv("LLMPORT_DEFAULT_MODLE", KEY)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "LLMPORT_PROVIDERS__GW__TIMEOUT" in err and "LLMPORT_DEFAULT_MODLE" in err
    assert KEY not in err


def test_start_up_problems_beyond_the_settings_are_listed_too(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LLMPORT_PROVIDERS__A__KIND", "anthropic")
    monkeypatch.setenv("LLMPORT_PROVIDERS__B__KIND", "openai")
    assert main(["config", "--check"]) == 2
    err = capsys.readouterr().err
    assert "LLMPORT_PROVIDERS__A__API_KEY: no API key" in err and "LLMPORT_PROVIDERS__B__API_KEY: no API key" in err


def test_the_installed_command_exits_2_on_a_broken_configuration() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPORT_")}
    env["LLMPORT_POLICY__RETRY"] = "reckless"
    done = subprocess.run([sys.executable, "-m", "llmport.composition.cli", "config", "--check"], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "LLMPORT_POLICY__RETRY: unknown retry preset" in done.stderr
    assert "Traceback" not in done.stderr
