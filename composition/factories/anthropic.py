"""Clients and adapters for the Anthropic family: ``anthropic`` (first-party API),
``anthropic_bedrock`` (Claude on AWS Bedrock: region, AWS credentials chain or a Bedrock API key) and
``anthropic_vertex`` (Claude on Vertex AI: project, region, Google application default credentials).

Every client has the SDK's retries off (the failover policy owns retries) and timeouts and
connection limits from the settings. Keys go straight into the client; they are never logged.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2

from llmport.adapters.anthropic import AnthropicAdapter, AnyAnthropicClient
from llmport.adapters.keyring import rotating
from llmport.composition.keys import weighted_keys
from llmport.composition.settings import ProviderSettings
from llmport.ports import LLMPort


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_client(name: str, settings: ProviderSettings) -> AnyAnthropicClient:
    """The SDK client for one configured provider (no I/O)."""
    timeout = httpx2.Timeout(settings.timeout, connect=settings.connect_timeout)
    http_client = anthropic.DefaultAsyncHttpxClient(
        timeout=timeout,
        limits=httpx2.Limits(max_connections=settings.max_connections,
                             max_keepalive_connections=settings.max_connections),
    )
    common: dict[str, Any] = {
        "base_url": settings.base_url,
        "timeout": timeout,
        "max_retries": 0,
        "http_client": http_client,
        "default_headers": dict(settings.extra_headers) or None,
    }
    if settings.kind == "anthropic":
        return anthropic.AsyncAnthropic(api_key=settings.resolved_api_key(), **common)
    if settings.kind == "anthropic_bedrock":
        return anthropic.AsyncAnthropicBedrock(
            aws_region=settings.region,
            aws_access_key=_secret(settings.aws_access_key_id),
            aws_secret_key=_secret(settings.aws_secret_access_key),
            aws_session_token=_secret(settings.aws_session_token),
            aws_profile=settings.profile,
            api_key=settings.resolved_api_key(),  # a Bedrock API key, instead of AWS credentials
            **common,
        )
    if settings.kind == "anthropic_vertex":
        region = settings.region or settings.location
        if not region:
            raise ValueError(f"provider {name!r}: anthropic_vertex needs a region (or location)")
        return anthropic.AsyncAnthropicVertex(
            region=region,
            project_id=settings.project or anthropic.NOT_GIVEN,
            access_token=settings.resolved_api_key(),  # a ready OAuth token; else Google default credentials
            **common,
        )
    raise ValueError(f"provider {name!r}: kind {settings.kind!r} is not an Anthropic kind")


def build_adapter(name: str, client: AnyAnthropicClient, settings: ProviderSettings) -> LLMPort:
    if settings.api_keys:
        return rotating(client, weighted_keys(name, settings), lambda keyed: AnthropicAdapter(
            keyed, provider=name, default_max_tokens=settings.default_max_tokens), provider=name)
    return AnthropicAdapter(client, provider=name, default_max_tokens=settings.default_max_tokens)


async def close_client(client: AnyAnthropicClient) -> None:
    await client.close()
