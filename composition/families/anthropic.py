"""Settings of the Anthropic family: ``anthropic`` (first-party API), ``anthropic_bedrock`` (Claude
on AWS Bedrock) and ``anthropic_vertex`` (Claude on Vertex AI)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from llmport.composition.provider_settings import (
    HttpFields,
    KeyFields,
    KeyRingFields,
    ProviderBase,
    Secret,
    field_error,
)


class _AnthropicFields(ProviderBase, KeyFields, HttpFields):
    default_max_tokens: int = Field(default=4096, ge=1, le=10_000_000)  # Anthropic requires max_tokens


class AnthropicSettings(_AnthropicFields, KeyRingFields):
    """Anthropic's API. The key: ``api_key``, ``api_key_env``, or ``ANTHROPIC_API_KEY``."""

    kind: Literal["anthropic"]
    KEY_VARIABLES: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


class AnthropicBedrockSettings(_AnthropicFields):
    """Claude on Bedrock: ``region``; explicit AWS keys, a ``profile``, the AWS credential chain, or a
    Bedrock API key (``api_key``)."""

    kind: Literal["anthropic_bedrock"]
    region: str | None = Field(default=None, min_length=1)
    profile: str | None = Field(default=None, min_length=1)
    aws_access_key_id: Secret = None
    aws_secret_access_key: Secret = None
    aws_session_token: Secret = None

    @model_validator(mode="after")
    def _pair(self) -> AnthropicBedrockSettings:
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            missing = "aws_secret_access_key" if self.aws_secret_access_key is None else "aws_access_key_id"
            raise field_error(missing, "AWS keys come in pairs: set aws_access_key_id and aws_secret_access_key")
        return self


class AnthropicVertexSettings(_AnthropicFields):
    """Claude on Vertex AI: ``region`` (or ``location``), ``project``; Google application default
    credentials, or a ready OAuth access token as ``api_key``."""

    kind: Literal["anthropic_vertex"]
    region: str | None = Field(default=None, min_length=1)
    location: str | None = Field(default=None, min_length=1)
    project: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _needs_region(self) -> AnthropicVertexSettings:
        if not (self.region or self.location):
            raise field_error("region", "anthropic_vertex needs a region (or location), e.g. us-east5")
        return self


#: The family's settings models, in the registry's kind order.
SETTINGS = (AnthropicSettings, AnthropicBedrockSettings, AnthropicVertexSettings)
