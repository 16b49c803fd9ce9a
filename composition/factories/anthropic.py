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
from pydantic import SecretStr

from llmport.adapters.anthropic import AnthropicAdapter, AnyAnthropicClient
from llmport.adapters.keyring import rotating
from llmport.composition.credentials import find_key, require_key
from llmport.composition.factories.bedrock import check_aws
from llmport.composition.families.anthropic import (
    AnthropicBedrockSettings,
    AnthropicSettings,
    AnthropicVertexSettings,
)
from llmport.composition.keys import weighted_keys
from llmport.ports import LLMPort

AnthropicFamilySettings = AnthropicSettings | AnthropicBedrockSettings | AnthropicVertexSettings


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_client(name: str, settings: AnthropicFamilySettings) -> AnyAnthropicClient:
    """The SDK client for one configured provider (no I/O); ``ProviderProblem`` when a credential
    cannot be found anywhere or the AWS region/profile is unusable."""
    timeout = httpx2.Timeout(settings.timeout, connect=settings.connect_timeout)
    common: dict[str, Any] = {
        "base_url": settings.base_url,
        "timeout": timeout,
        "max_retries": 0,
        "default_headers": dict(settings.extra_headers) or None,
    }

    def http_client() -> Any:
        return anthropic.DefaultAsyncHttpxClient(
            timeout=timeout,
            limits=httpx2.Limits(max_connections=settings.max_connections,
                                 max_keepalive_connections=settings.max_connections),
        )

    if isinstance(settings, AnthropicSettings):
        key = require_key(settings, settings.KEY_VARIABLES)
        return anthropic.AsyncAnthropic(api_key=key, http_client=http_client(), **common)
    if isinstance(settings, AnthropicBedrockSettings):
        region = check_aws(settings.region, settings.profile, explicit=settings.aws_access_key_id is not None)
        return anthropic.AsyncAnthropicBedrock(
            aws_region=region,
            aws_access_key=_secret(settings.aws_access_key_id),
            aws_secret_key=_secret(settings.aws_secret_access_key),
            aws_session_token=_secret(settings.aws_session_token),
            aws_profile=settings.profile,
            api_key=find_key(settings, ()),  # a Bedrock API key, instead of AWS credentials
            http_client=http_client(),
            **common,
        )
    return anthropic.AsyncAnthropicVertex(
        region=settings.region or settings.location or "",
        project_id=settings.project or anthropic.NOT_GIVEN,
        access_token=find_key(settings, ()),  # a ready OAuth token; else Google default credentials
        http_client=http_client(),
        **common,
    )


def build_adapter(name: str, client: AnyAnthropicClient, settings: AnthropicFamilySettings) -> LLMPort:
    if isinstance(settings, AnthropicSettings) and settings.api_keys:
        return rotating(client, weighted_keys(settings), lambda keyed: AnthropicAdapter(
            keyed, provider=name, default_max_tokens=settings.default_max_tokens), provider=name)
    return AnthropicAdapter(client, provider=name, default_max_tokens=settings.default_max_tokens)


async def close_client(client: AnyAnthropicClient) -> None:
    await client.close()
