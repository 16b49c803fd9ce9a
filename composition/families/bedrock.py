"""Settings of the Bedrock family: ``bedrock`` (the Converse API through boto3)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from llmport.composition.provider_settings import JsonObject, ProviderBase, Secret, field_error


class BedrockSettings(ProviderBase):
    """Bedrock Converse: ``region``; explicit AWS keys, else the named ``profile``, else the default
    AWS credential chain (environment, shared files, instance or container role)."""

    kind: Literal["bedrock"]
    region: str | None = Field(default=None, min_length=1)
    profile: str | None = Field(default=None, min_length=1)
    aws_access_key_id: Secret = None
    aws_secret_access_key: Secret = None
    aws_session_token: Secret = None
    max_workers: int = Field(default=16, ge=1, le=1024)  # worker threads (and connection pool)
    default_max_tokens: int = Field(default=4096, ge=1, le=10_000_000)
    additional_model_request_fields: JsonObject = Field(default_factory=dict)  # passthrough

    @model_validator(mode="after")
    def _pair(self) -> BedrockSettings:
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            missing = "aws_secret_access_key" if self.aws_secret_access_key is None else "aws_access_key_id"
            raise field_error(missing, "AWS keys come in pairs: set aws_access_key_id and aws_secret_access_key")
        return self


#: The family's settings models, in the registry's kind order.
SETTINGS = (BedrockSettings,)
