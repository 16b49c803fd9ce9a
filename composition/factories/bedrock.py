"""Bedrock (provider kind ``bedrock``): a boto3 ``bedrock-runtime`` client and the Converse adapter.

Credentials come from the settings' explicit keys, else the named ``profile``, else the default
AWS chain (environment, shared files, instance/container role). Keys never reach logs or reprs.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from pydantic import SecretStr

from llmport.adapters.bedrock import BedrockConverseAdapter
from llmport.composition.settings import ProviderSettings
from llmport.ports import LLMPort


def client_config(settings: ProviderSettings) -> Config:
    """Retries off, set explicitly (so ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE`` cannot turn them
    back on), timeouts from the settings, and a connection pool as large as the worker pool."""
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        read_timeout=settings.timeout,
        connect_timeout=settings.connect_timeout,
        max_pool_connections=settings.max_workers,
        user_agent_extra="llmport",
    )


def build_client(name: str, settings: ProviderSettings) -> Any:
    def reveal(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    explicit = settings.aws_access_key_id is not None
    session = boto3.session.Session(
        aws_access_key_id=reveal(settings.aws_access_key_id),
        aws_secret_access_key=reveal(settings.aws_secret_access_key),
        aws_session_token=reveal(settings.aws_session_token),
        region_name=settings.region,
        profile_name=None if explicit else settings.profile,
    )
    return session.client("bedrock-runtime", endpoint_url=settings.base_url, config=client_config(settings))


def build_adapter(name: str, client: Any, settings: ProviderSettings) -> LLMPort:
    return BedrockConverseAdapter(
        client,
        provider=name,
        max_workers=settings.max_workers,
        additional_model_request_fields=settings.additional_model_request_fields,
        default_max_tokens=settings.default_max_tokens,
    )


async def close_client(client: Any) -> None:
    client.close()
