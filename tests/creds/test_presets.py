"""The OpenAI-compatible presets added as data: each one's wire request as the emulator saw it
(through the composition factory and the real ``openai`` SDK)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmport.adapters.testing.emulator import Reply, VendorEmulator
from llmport.composition.detect import detect
from llmport.composition.factories import openai as factory
from llmport.composition.families import provider_settings
from llmport.composition.openai_presets import PRESETS
from llmport.domain import CompletionRequest, Message

NEW = {  # preset -> (key variable, where it lives)
    "sambanova": ("SAMBANOVA_API_KEY", "https://api.sambanova.ai/v1"),
    "huggingface": ("HF_TOKEN", "https://router.huggingface.co/v1"),
    "cohere": ("COHERE_API_KEY", "https://api.cohere.ai/compatibility/v1"),
    "gemini_openai": ("GEMINI_API_KEY", "https://generativelanguage.googleapis.com/v1beta/openai"),
    "bedrock_openai": ("AWS_BEARER_TOKEN_BEDROCK", "https://bedrock-runtime.us-east-1.amazonaws.com/openai/v1"),
}
MODELS = {"huggingface": "openai/gpt-oss-120b:novita"}


@pytest.mark.parametrize("name", sorted(NEW))
def test_preset_data(name: str) -> None:
    assert (PRESETS[name].key_env, PRESETS[name].base_url) == NEW[name]


@pytest.mark.parametrize("name", sorted(NEW))
async def test_wire_request(name: str, emu: VendorEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    key_env = NEW[name][0]
    monkeypatch.setenv(key_env, f"key-for-{name}-0000")
    settings = provider_settings(kind="openai_compatible", preset=name, base_url=f"{emu.url_for(name)}/v1")
    adapter = factory.build_adapter(name, factory.build_client(name, settings), settings)
    emu.script(Reply(text="hi there"), vendor="openai")
    model = MODELS.get(name, "some-model")
    try:
        answer = await adapter.complete(CompletionRequest(model=model, messages=[Message.user("hello")],
                                                          max_tokens=50, tenant_id="tenant-1"))
    finally:
        await adapter.aclose()
    assert answer.text == "hi there"
    (entry,) = emu.journal.entries(tag=name)
    assert entry.path == "/v1/chat/completions"
    assert entry.body["model"] == model  # a Hugging Face ':provider' suffix goes over as written
    assert entry.body["max_tokens"] == 50
    assert "user" not in entry.body  # none of these takes an end-user parameter
    assert f"key-for-{name}" not in str(entry.headers)  # the journal redacts credentials


def test_detected_by_their_key_variables(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key_env, _ in NEW.values():
        monkeypatch.setenv(key_env, f"{key_env}-abcdefgh1234")
    found = {f.name: f.settings for f in detect(probe_ollama=False).found}
    assert found["gemini"]["kind"] == "google"  # GEMINI_API_KEY: the native API, not the compat preset too
    assert "gemini_openai" not in found
    for name in ("sambanova", "huggingface", "cohere", "bedrock_openai"):
        assert found[name] == {"kind": "openai_compatible", "api_key_env": NEW[name][0], "preset": name}
