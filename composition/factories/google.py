"""Clients and adapters for the Google family: ``google`` (Gemini API, API key) and ``vertex``
(Gemini on Vertex AI: project and location, credentials from the environment's application default
credentials, or a Vertex API key for express mode).

Every client has the SDK's retries off, the httpx2 transport chosen explicitly (aiohttp is never
picked up behind our back), timeouts and connection limits from the settings, and the response hook
that lets the adapter close an abandoned stream's connection at once. Building a client does no I/O:
Vertex credentials are resolved on the first request. Keys are never logged.
"""

from __future__ import annotations

from google import genai

from llmport.adapters.google_genai import GoogleGenAIAdapter, http_options
from llmport.composition.settings import ProviderSettings
from llmport.ports import LLMPort


def build_client(name: str, settings: ProviderSettings) -> genai.Client:
    """The SDK client for one configured provider (no I/O)."""
    options = http_options(
        base_url=settings.base_url,
        timeout=settings.timeout,
        connect_timeout=settings.connect_timeout,
        max_connections=settings.max_connections,
        headers=dict(settings.extra_headers) or None,
    )
    key = settings.resolved_api_key()
    if settings.kind == "google":
        if not key:
            raise ValueError(f"provider {name!r}: kind 'google' needs an api_key (or api_key_env)")
        return genai.Client(api_key=key, http_options=options)
    if settings.kind == "vertex":
        if key and not (settings.project or settings.location):
            return genai.Client(vertexai=True, api_key=key, http_options=options)  # Vertex express mode
        if not settings.project or not settings.location:
            raise ValueError(f"provider {name!r}: kind 'vertex' needs a project and a location "
                             "(or an api_key for Vertex AI express mode)")
        return genai.Client(vertexai=True, project=settings.project, location=settings.location,
                            http_options=options)
    raise ValueError(f"provider {name!r}: kind {settings.kind!r} is not a Google kind")


def build_adapter(name: str, client: genai.Client, settings: ProviderSettings) -> LLMPort:
    return GoogleGenAIAdapter(client, provider=name)


async def close_client(client: genai.Client) -> None:
    await client.aio.aclose()
    client.close()
