"""Bedrock (provider kind ``bedrock``): a boto3 ``bedrock-runtime`` client and the Converse adapter.

Credentials come from the settings' explicit keys, else the named ``profile``, else the default
AWS chain (environment, shared files, instance/container role). Keys never reach logs or reprs. The
region and profile are checked when the client is built (no network): botocore's
``ProfileNotFound`` / ``NoRegionError`` / ``InvalidRegionError`` become a ``ProviderProblem``.
"""

from __future__ import annotations

import re
from typing import Any

import boto3
import botocore.exceptions
import botocore.session
from botocore.config import Config
from pydantic import SecretStr

from llmport.adapters.bedrock import BedrockConverseAdapter
from llmport.composition.families.bedrock import BedrockSettings
from llmport.composition.provider_settings import ProviderProblem
from llmport.ports import LLMPort

# botocore's own rule for a region name (it raises InvalidRegionError otherwise).
_REGION = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")


def check_aws(region: str | None, profile: str | None, *, explicit: bool) -> str:
    """The region to use (the setting, else the profile's or the environment's), checked; the
    profile must exist in the shared files. ``ProviderProblem`` naming the setting otherwise."""
    try:
        session = botocore.session.Session(profile=None if explicit else profile)
        found = region or session.get_config_variable("region")
    except botocore.exceptions.ProfileNotFound:
        raise ProviderProblem("profile", "no AWS profile by that name in the shared config and credentials "
                                         "files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)") from None
    if not found:
        raise ProviderProblem("region", "no AWS region: set it, or AWS_REGION / AWS_DEFAULT_REGION, "
                                        "or a region in the AWS profile")
    if not _REGION.match(found):
        where = "region" if region else "AWS_REGION / AWS_DEFAULT_REGION or the profile's region"
        raise ProviderProblem("region", f"not a valid AWS region name (from {where}), e.g. us-east-1")
    return str(found)


def client_config(settings: BedrockSettings) -> Config:
    """Retries off, set explicitly (so ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE`` cannot turn them
    back on), timeouts from the settings, and a connection pool as large as the worker pool."""
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        read_timeout=settings.timeout,
        connect_timeout=settings.connect_timeout,
        max_pool_connections=settings.max_workers,
        user_agent_extra="llmport",
    )


def build_client(name: str, settings: BedrockSettings) -> Any:
    def reveal(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    explicit = settings.aws_access_key_id is not None
    region = check_aws(settings.region, settings.profile, explicit=explicit)
    try:
        session = boto3.session.Session(
            aws_access_key_id=reveal(settings.aws_access_key_id),
            aws_secret_access_key=reveal(settings.aws_secret_access_key),
            aws_session_token=reveal(settings.aws_session_token),
            region_name=region,
            profile_name=None if explicit else settings.profile,
        )
        return session.client("bedrock-runtime", endpoint_url=settings.base_url, config=client_config(settings))
    except botocore.exceptions.ProfileNotFound:
        raise ProviderProblem("profile", "no AWS profile by that name") from None
    except (botocore.exceptions.NoRegionError, botocore.exceptions.InvalidRegionError):
        raise ProviderProblem("region", "not a usable AWS region") from None
    except ValueError:  # botocore rejects a malformed endpoint URL
        raise ProviderProblem("base_url", "not a usable endpoint URL") from None


def build_adapter(name: str, client: Any, settings: BedrockSettings) -> LLMPort:
    return BedrockConverseAdapter(
        client,
        provider=name,
        max_workers=settings.max_workers,
        additional_model_request_fields=settings.additional_model_request_fields,
        default_max_tokens=settings.default_max_tokens,
    )


async def close_client(client: Any) -> None:
    client.close()
