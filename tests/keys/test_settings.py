"""``api_keys`` in the settings: the container builds one key ring over the provider's one client."""

from __future__ import annotations

from collections import Counter

import pytest

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Fault
from llmport.composition.container import open_llm
from llmport.composition.settings import SettingsError, load_settings
from llmport.domain import CompletionRequest, Message
from llmport.ports.keyring import fingerprint

KEY_ONE, KEY_TWO = "sk-settings-key-0001", "sk-settings-key-0002"


def ask(model: str) -> CompletionRequest:
    return CompletionRequest(model=model, messages=[Message.user("hi")])


@pytest.mark.parametrize(("kind", "base", "model"), [("openai", "/v1", "gpt-test"), ("anthropic", "", "claude-test")])
async def test_the_container_rotates_the_configured_keys(emu: VendorEmulator, monkeypatch: pytest.MonkeyPatch,
                                                         kind: str, base: str, model: str) -> None:
    monkeypatch.setenv("KEYS_TEST_SECOND", KEY_TWO)
    settings = load_settings(
        providers={"main": {"kind": kind, "base_url": f"{emu.url_for('cfg')}{base}", "default_model": model,
                            "api_keys": [{"key": KEY_ONE, "weight": 1}, {"key_env": "KEYS_TEST_SECOND", "weight": 1}]}},
        order=["main"], logging={"level": "error"},
        policy={"retry": {"preset": "balanced", "base_delay": 0.0, "max_delay": 0.0}},
    )
    assert KEY_ONE not in repr(settings) and KEY_TWO not in repr(settings)
    emu.script(Fault.http(401), key=fingerprint(KEY_ONE), then=Fault.http(401))
    async with open_llm(settings) as llm:
        for _ in range(40):  # the draw is random: 40 make sure (1 - 2**-40) key one is tried
            assert (await llm.complete(ask(f"main/{model}"))).text
    counts = Counter((e.key, e.status) for e in emu.journal.entries(tag="cfg"))
    assert counts[(fingerprint(KEY_ONE), 401)] == 1
    assert counts[(fingerprint(KEY_TWO), 200)] == 40


def test_an_api_keys_entry_needs_exactly_one_source() -> None:
    with pytest.raises(SettingsError, match=r"providers\.main\.api_keys: an api_keys entry needs exactly one of"):
        load_settings(providers={"main": {"kind": "openai", "api_keys": [{"weight": 2}]}}, order=["main"])


def test_api_keys_is_refused_on_kinds_that_cannot_rotate() -> None:
    with pytest.raises(SettingsError, match=r"api_keys: does not apply to kind google \(a setting of the kinds openai"):
        load_settings(providers={"main": {"kind": "google", "api_keys": [{"key": "k-123456"}]}}, order=["main"])


async def test_a_preset_with_api_keys_needs_no_preset_variable(emu: VendorEmulator,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    settings = load_settings(
        providers={"groq": {"kind": "openai_compatible", "preset": "groq", "base_url": f"{emu.url_for('cfg')}/v1",
                            "default_model": "llama-test", "api_keys": [{"key": KEY_ONE}, {"key": KEY_TWO}]}},
        order=["groq"], logging={"level": "error"},
    )
    async with open_llm(settings) as llm:
        for _ in range(6):
            assert (await llm.complete(ask("groq/llama-test"))).text
    assert {e.key for e in emu.journal.entries(tag="cfg")} == {fingerprint(KEY_ONE), fingerprint(KEY_TWO)}
