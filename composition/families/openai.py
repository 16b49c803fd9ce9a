"""Settings of the OpenAI family: ``openai``, ``azure_openai`` (resource endpoint, API version,
deployment as the model) and ``openai_compatible`` (a named preset or any base URL)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import field_validator, model_validator

from llmport.composition.openai_presets import PRESETS, CompatPreset, preset
from llmport.composition.provider_settings import (
    EnvName,
    HttpFields,
    KeyFields,
    KeyRingFields,
    ProviderBase,
    Url,
    field_error,
)


class _OpenAIFields(ProviderBase, KeyFields, HttpFields):
    api: Literal["chat", "responses"] = "chat"  # Chat Completions or the Responses API
    store: bool = False  # let the vendor store responses (off unless the deployment opts in)


class OpenAISettings(_OpenAIFields, KeyRingFields):
    """OpenAI's own API. The key: ``api_key``, the variable named by ``api_key_env``, or ``OPENAI_API_KEY``."""

    kind: Literal["openai"]
    KEY_VARIABLES: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)


class AzureOpenAISettings(_OpenAIFields, KeyRingFields):
    """Azure OpenAI: ``endpoint`` (https://<resource>.openai.azure.com) or ``base_url``, a key (or
    several, ``api_keys``: e.g. the resource's KEY1 and KEY2 while one is regenerated)."""

    kind: Literal["azure_openai"]
    URL_FIELDS: ClassVar[tuple[str, ...]] = ("base_url", "endpoint")
    KEY_VARIABLES: ClassVar[tuple[str, ...]] = ("AZURE_OPENAI_API_KEY",)
    endpoint: Url = None
    api_version: str | None = None

    @model_validator(mode="after")
    def _needs_endpoint(self) -> AzureOpenAISettings:
        if not self.endpoint and not self.base_url:
            raise field_error("endpoint", "azure_openai needs an endpoint (https://<resource>.openai.azure.com)")
        return self


class OpenAICompatibleSettings(_OpenAIFields, KeyRingFields):
    """Any OpenAI-compatible endpoint: a ``preset`` (groq, deepseek, ..., ollama) or a ``base_url``."""

    kind: Literal["openai_compatible"]
    preset: str | None = None
    api_key_env: EnvName = None

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in PRESETS:
            from llmport.composition.settings_sources import close_matches  # (difflib: on a mistake only)

            close = close_matches(value.lower(), PRESETS)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown preset{hint} (known: {', '.join(sorted(PRESETS))})")
        return value.lower() if value is not None else None

    @model_validator(mode="after")
    def _needs_url(self) -> OpenAICompatibleSettings:
        if not self.base_url and self.preset is None:
            raise field_error("base_url", "openai_compatible needs a base_url (or a preset)")
        return self

    @property
    def found_preset(self) -> CompatPreset:
        return preset(self.preset)

    @property
    def key_variable(self) -> str | None:
        """The variable the key is read from (``api_key_env``, else the preset's), None if keyless."""
        return self.api_key_env or self.found_preset.key_env


#: The family's settings models, in the registry's kind order.
SETTINGS = (OpenAISettings, AzureOpenAISettings, OpenAICompatibleSettings)
