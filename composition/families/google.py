"""Settings of the Google family: ``google`` (Gemini API, an API key) and ``vertex`` (Gemini on
Vertex AI: project and location with application default credentials, or an express-mode key)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from llmport.composition.provider_settings import HttpFields, KeyFields, KeyRingFields, ProviderBase, field_error


class GoogleSettings(ProviderBase, KeyFields, HttpFields, KeyRingFields):
    """The Gemini API. The key: ``api_key``, ``api_key_env``, ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY``;
    or several (``api_keys``), each request sending one over the one client."""

    kind: Literal["google"]
    KEY_VARIABLES: ClassVar[tuple[str, ...]] = ("GOOGLE_API_KEY", "GEMINI_API_KEY")


class VertexSettings(ProviderBase, KeyFields, HttpFields):
    """Gemini on Vertex AI: ``project`` and ``location`` (application default credentials), or an
    ``api_key`` alone for Vertex AI express mode."""

    kind: Literal["vertex"]
    project: str | None = Field(default=None, min_length=1)
    location: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _needs_place(self) -> VertexSettings:
        if self.api_key is not None or self.api_key_env:
            return self
        if not self.project:
            raise field_error("project", "vertex needs a project and a location (or an api_key for express mode)")
        if not self.location:
            raise field_error("location", "vertex needs a location, e.g. europe-west1 (or an api_key for express mode)")
        return self


#: The family's settings models, in the registry's kind order.
SETTINGS = (GoogleSettings, VertexSettings)
