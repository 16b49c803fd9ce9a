"""Clients and adapters for the OpenAI family: ``openai``, ``azure_openai`` (resource endpoint, API
version, deployment as the model) and ``openai_compatible`` (a named preset or any base URL).

Every client has the SDK's retries off (the failover policy owns retries) and timeouts and
connection limits from the settings. Keys go straight into the client; they are never logged.
"""

from __future__ import annotations

import os
from typing import Any

import httpx2
import openai

from llmport.adapters.keyring import rotating
from llmport.adapters.openai import OpenAIAdapter, OpenAIOptions
from llmport.composition.keys import weighted_keys
from llmport.composition.openai_presets import preset
from llmport.composition.settings import ProviderSettings
from llmport.ports import LLMPort

DEFAULT_AZURE_API_VERSION = "2024-10-21"
_NO_KEY = "no-key"  # the SDK insists on a key; local servers ignore it


def build_client(name: str, settings: ProviderSettings) -> openai.AsyncOpenAI:
    """The SDK client for one configured provider (no I/O)."""
    timeout = httpx2.Timeout(settings.timeout, connect=settings.connect_timeout)
    common: dict[str, Any] = {
        "timeout": timeout,
        "max_retries": 0,
        "http_client": openai.DefaultAsyncHttpxClient(
            timeout=timeout,
            limits=httpx2.Limits(max_connections=settings.max_connections,
                                 max_keepalive_connections=settings.max_connections),
        ),
        "default_headers": dict(settings.extra_headers) or None,
    }
    key = settings.resolved_api_key()
    if settings.kind == "openai":
        if not key and not os.environ.get("OPENAI_API_KEY"):
            raise ValueError(f"provider {name!r}: no API key (set api_key, api_key_env or OPENAI_API_KEY)")
        return openai.AsyncOpenAI(api_key=key, base_url=settings.base_url, **common)
    if settings.kind == "azure_openai":
        if not settings.endpoint and not settings.base_url:
            raise ValueError(f"provider {name!r}: azure_openai needs endpoint (https://<resource>.openai.azure.com)")
        if not key:
            raise ValueError(f"provider {name!r}: azure_openai needs an API key (api_key or api_key_env)")
        where: dict[str, Any] = (
            {"azure_endpoint": settings.endpoint} if settings.endpoint else {"base_url": settings.base_url})
        return openai.AsyncAzureOpenAI(api_key=key, api_version=settings.api_version or DEFAULT_AZURE_API_VERSION,
                                       **where, **common)
    if settings.kind == "openai_compatible":
        found = preset(settings.preset)
        base_url = settings.base_url or found.base_url
        if not base_url:
            raise ValueError(f"provider {name!r}: openai_compatible needs a preset or a base_url")
        key_env = settings.api_key_env or found.key_env
        if settings.api_key is None and settings.api_key_file is None and not settings.api_keys and key_env:
            key = os.environ.get(key_env)
            if not key:
                raise ValueError(f"provider {name!r}: the API key variable {key_env} is not set")
        return openai.AsyncOpenAI(api_key=key or _NO_KEY, base_url=base_url, **common)
    raise ValueError(f"provider {name!r}: kind {settings.kind!r} is not an OpenAI kind")


def adapter_options(settings: ProviderSettings) -> OpenAIOptions:
    """The adapter's provider quirks for these settings."""
    if settings.kind == "openai":
        return OpenAIOptions(api=settings.api, store=settings.store, end_user_param="safety_identifier",
                             max_tokens_param="max_completion_tokens", count_tokens_endpoint=True)
    if settings.kind == "azure_openai":
        return OpenAIOptions(api=settings.api, store=settings.store, end_user_param="user")
    found = preset(settings.preset)
    return OpenAIOptions(
        api=settings.api,
        store=True if settings.store else None,  # compatible services store nothing and may reject the field
        end_user_param=found.end_user_param,
        max_tokens_param=found.max_tokens_param,
        reasoning_effort=found.reasoning_effort,
        stream_usage=found.stream_usage,
    )


def build_adapter(name: str, client: openai.AsyncOpenAI, settings: ProviderSettings) -> LLMPort:
    options = adapter_options(settings)
    if settings.api_keys:
        return rotating(client, weighted_keys(name, settings),
                        lambda keyed: OpenAIAdapter(keyed, provider=name, options=options), provider=name)
    return OpenAIAdapter(client, provider=name, options=options)


async def close_client(client: openai.AsyncOpenAI) -> None:
    await client.close()
