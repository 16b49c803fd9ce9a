"""Money tests: a deployment of every SDK family on the emulator, built by the container."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dependency_injector import providers

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.composition.container import Container
from llmport.composition.settings import Settings, load_settings

#: provider name -> (kind, model, url suffix, extra settings, genai-prices provider id, api flavor, raw path)
FAMILIES: dict[str, tuple[str, str, str, dict[str, Any], str, str, str]] = {
    "oai": ("openai", "gpt-4o", "/v1", {}, "openai", "chat", "/v1/chat/completions"),
    "oair": ("openai", "o3", "/v1", {"api": "responses"}, "openai", "responses", "/v1/responses"),
    "ant": ("anthropic", "claude-haiku-4-5", "", {}, "anthropic", "default", "/v1/messages"),
    "gem": ("google", "gemini-2.5-pro", "", {}, "google", "default",
            "/v1beta/models/gemini-2.5-pro:generateContent"),
    "brk": ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "",
            {"region": "us-east-1", "aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "secret-example"},
            "aws", "default", "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse"),
}

RAW_BODY: dict[str, dict[str, Any]] = {
    "oai": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    "oair": {"model": "o3", "input": "hi"},
    "ant": {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]},
    "gem": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    "brk": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
}


def provider_settings(emu: VendorEmulator, name: str, **extra: Any) -> dict[str, Any]:
    kind, model, suffix, more, *_ = FAMILIES[name]
    key = {} if kind == "bedrock" else {"api_key": f"test-{name}-key"}
    return {"kind": kind, "base_url": emu.url_for(name) + suffix, "default_model": model, **key, **more, **extra}


def deployment(emu: VendorEmulator, *names: str, **overrides: Any) -> Settings:
    """Settings for providers ``names`` on the emulator (SDK retries are the policy's business)."""
    providers = {n: provider_settings(emu, n) for n in names}
    policy = overrides.pop("policy", {"retry": {"preset": "balanced", "base_delay": 0.0, "max_delay": 0.0}})
    return load_settings(providers=providers, order=list(names), policy=policy,
                         logging={"level": "error"}, **overrides)


@asynccontextmanager
async def stack(settings: Settings, overrides: dict[str, Any] | None = None) -> AsyncIterator[Container]:
    """The container built from ``settings`` and provider ``overrides`` (resources up), closed afterwards."""
    container = Container()
    container.settings.override(providers.Object(settings))
    for name, provider in (overrides or {}).items():
        getattr(container, name).override(provider)
    result = container.init_resources()
    if result is not None:
        await result
    try:
        yield container
    finally:
        result = container.shutdown_resources()
        if result is not None:
            await result
