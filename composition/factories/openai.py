"""Clients and adapters for the OpenAI family: ``openai``, ``azure_openai`` (resource endpoint, API
version, deployment as the model) and ``openai_compatible`` (a named preset or any base URL).

Every client has the SDK's retries off (the failover policy owns retries) and timeouts and
connection limits from the settings. Keys go straight into the client; they are never logged.
"""

from __future__ import annotations

from typing import Any

import httpx2
import openai

from llmport.adapters.keyring import rotating
from llmport.adapters.openai import OpenAIAdapter, OpenAIOptions
from llmport.adapters.openai_quirks import quirks_for
from llmport.composition.credentials import require_key
from llmport.composition.families.openai import AzureOpenAISettings, OpenAICompatibleSettings, OpenAISettings
from llmport.composition.keys import weighted_keys
from llmport.ports import LLMPort

OpenAIFamilySettings = OpenAISettings | AzureOpenAISettings | OpenAICompatibleSettings

DEFAULT_AZURE_API_VERSION = "2024-10-21"
_NO_KEY = "no-key"  # the SDK insists on a key; local servers ignore it


def build_client(name: str, settings: OpenAIFamilySettings) -> openai.AsyncOpenAI:
    """The SDK client for one configured provider (no I/O); ``ProviderProblem`` when a credential
    cannot be found anywhere."""
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
    if isinstance(settings, OpenAISettings):
        key = require_key(settings, settings.KEY_VARIABLES)
        return openai.AsyncOpenAI(api_key=key, base_url=settings.base_url, **common)
    if isinstance(settings, AzureOpenAISettings):
        key = require_key(settings, settings.KEY_VARIABLES)
        where: dict[str, Any] = (
            {"azure_endpoint": settings.endpoint} if settings.endpoint else {"base_url": settings.base_url})
        return openai.AsyncAzureOpenAI(api_key=key, api_version=settings.api_version or DEFAULT_AZURE_API_VERSION,
                                       **where, **common)
    base_url = settings.base_url or settings.found_preset.base_url
    preset_env = () if settings.api_key_env or not settings.found_preset.key_env else (settings.found_preset.key_env,)
    if settings.api_key is None and (settings.api_key_env or preset_env) and not settings.api_key_file \
            and not settings.api_keys:
        compat_key: str | None = require_key(settings, preset_env)
    else:
        compat_key = require_key(settings, ()) if settings.api_key_file or settings.api_keys \
            else settings.resolved_api_key()
    return openai.AsyncOpenAI(api_key=compat_key or _NO_KEY, base_url=base_url, **common)


def adapter_options(settings: OpenAIFamilySettings) -> OpenAIOptions:
    """The adapter's provider quirks for these settings."""
    if isinstance(settings, OpenAISettings):
        return OpenAIOptions(api=settings.api, store=settings.store, end_user_param="safety_identifier",
                             max_tokens_param="max_completion_tokens", count_tokens_endpoint=True)
    if isinstance(settings, AzureOpenAISettings):
        return OpenAIOptions(api=settings.api, store=settings.store, end_user_param="user")
    found = settings.found_preset
    return OpenAIOptions(
        api=settings.api,
        store=True if settings.store else None,  # compatible services store nothing and may reject the field
        end_user_param=found.end_user_param,
        max_tokens_param=found.max_tokens_param,
        reasoning_effort=found.reasoning_effort,
        stream_usage=found.stream_usage,
        quirks=quirks_for(settings.preset),
    )


def build_adapter(name: str, client: openai.AsyncOpenAI, settings: OpenAIFamilySettings) -> LLMPort:
    options = adapter_options(settings)
    if settings.api_keys:
        return rotating(client, weighted_keys(settings),
                        lambda keyed: OpenAIAdapter(keyed, provider=name, options=options), provider=name)
    return OpenAIAdapter(client, provider=name, options=options)


async def close_client(client: openai.AsyncOpenAI) -> None:
    await client.close()
