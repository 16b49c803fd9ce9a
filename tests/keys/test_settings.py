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


KINDS = {  # kind -> (where the emulator is, the model)
    "openai": ({"base_url": "{url}/v1"}, "gpt-test"),
    "anthropic": ({"base_url": "{url}"}, "claude-test"),
    "azure_openai": ({"endpoint": "{url}", "api_version": "2024-10-21"}, "my-deployment"),
    "google": ({"base_url": "{url}"}, "gemini-test"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_the_container_rotates_the_configured_keys(emu: VendorEmulator, monkeypatch: pytest.MonkeyPatch,
                                                         kind: str) -> None:
    monkeypatch.setenv("KEYS_TEST_SECOND", KEY_TWO)
    where, model = KINDS[kind]
    settings = load_settings(
        providers={"main": {"kind": kind, "default_model": model,
                            **{k: v.format(url=emu.url_for("cfg")) for k, v in where.items()},
                            "api_keys": [{"key": KEY_ONE, "weight": 1}, {"key_env": "KEYS_TEST_SECOND", "weight": 1}]}},
        order=["main"], logging={"level": "error"},
        policy={"retry": {"preset": "balanced", "base_delay": 0.0, "max_delay": 0.0}},
    )
    assert KEY_ONE not in repr(settings) and KEY_TWO not in repr(settings)
    emu.script(Fault.http(401), key=fingerprint(KEY_ONE), then=Fault.http(401))
    async with open_llm(settings) as llm:
        for _ in range(40):  # the draw is random: 40 make sure (1 - 2**-40) key one is tried
            assert (await llm.complete(ask(f"main/{model}"))).text
        async with llm.stream(ask(f"main/{model}")) as events:
            assert [e async for e in events]
    entries = emu.journal.entries(tag="cfg")
    counts = Counter((e.key, e.status) for e in entries)
    assert counts[(fingerprint(KEY_ONE), 401)] == 1
    assert counts[(fingerprint(KEY_TWO), 200)] == 41
    assert len({e.client for e in entries}) == 1  # every key over the one connection
    assert all(KEY_ONE not in str(e.headers) and KEY_TWO not in str(e.headers) for e in entries)


def test_an_api_keys_entry_needs_exactly_one_source() -> None:
    with pytest.raises(SettingsError, match=r"providers\.main\.api_keys: an api_keys entry needs exactly one of"):
        load_settings(providers={"main": {"kind": "openai", "api_keys": [{"weight": 2}]}}, order=["main"])


@pytest.mark.parametrize("kind", ["bedrock", "vertex"])
def test_api_keys_is_refused_on_kinds_that_cannot_rotate(kind: str) -> None:
    with pytest.raises(SettingsError, match=rf"api_keys: does not apply to kind {kind} \(a setting of the kinds "):
        load_settings(providers={"main": {"kind": kind, "api_keys": [{"key": "k-123456"}]}}, order=["main"])


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


async def test_replicas_built_by_the_container_share_key_state_through_redis(
        emu: VendorEmulator, redis_url: str) -> None:
    settings = load_settings(
        providers={"main": {"kind": "openai", "base_url": f"{emu.url_for('cfg')}/v1", "default_model": "gpt-test",
                            "api_keys": [{"key": KEY_ONE}, {"key": KEY_TWO}]}},
        order=["main"], logging={"level": "error"}, state={"url": redis_url, "namespace": "keys", "timeout": 5.0},
        policy={"retry": {"preset": "balanced", "base_delay": 0.0, "max_delay": 0.0}},
    )
    emu.script(Fault.http(401), key=fingerprint(KEY_ONE), then=Fault.http(401))
    async with open_llm(settings) as one:
        for _ in range(40):  # until key one has been drawn (and taken out of rotation)
            await one.complete(ask("main/gpt-test"))
    # replica one flushed its key state at shutdown; a replica starting learns it before serving
    async with open_llm(settings) as two:
        before = len(emu.journal.entries(tag="cfg"))
        for _ in range(10):
            assert (await two.complete(ask("main/gpt-test"))).text
        assert {e.key for e in emu.journal.entries(tag="cfg")[before:]} == {fingerprint(KEY_TWO)}
    assert [(e.key, e.status) for e in emu.journal.entries(tag="cfg")].count((fingerprint(KEY_ONE), 401)) == 1


async def test_a_preset_with_quirks_gets_them_from_the_container(emu: VendorEmulator,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-key-0000")
    settings = load_settings(
        providers={"mistral": {"kind": "openai_compatible", "preset": "mistral",
                               "base_url": f"{emu.url_for('cfg')}/v1", "default_model": "mistral-small-latest"}},
        order=["mistral"], logging={"level": "error"},
    )
    async with open_llm(settings) as llm:
        request = CompletionRequest(model="mistral/mistral-small-latest", messages=[Message.user("hi")],
                                    temperature=1.9, seed=5)
        await llm.complete(request)
    (entry,) = emu.journal.entries(tag="cfg")
    assert entry.body["temperature"] == 1.0
    assert entry.body["random_seed"] == 5 and "seed" not in entry.body
