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
from llmport.adapters.keyring import rotating_ports
from llmport.composition.credentials import find_key, require_key
from llmport.composition.families.google import GoogleSettings, VertexSettings
from llmport.composition.keys import weighted_keys
from llmport.composition.provider_settings import ProviderProblem
from llmport.ports import LLMPort

GoogleFamilySettings = GoogleSettings | VertexSettings


def build_client(name: str, settings: GoogleFamilySettings) -> genai.Client:
    """The SDK client for one configured provider (no I/O); ``ProviderProblem`` when the Gemini
    API has no key anywhere."""
    options = http_options(
        base_url=settings.base_url,
        timeout=settings.timeout,
        connect_timeout=settings.connect_timeout,
        max_connections=settings.max_connections,
        headers=dict(settings.extra_headers) or None,
    )
    if isinstance(settings, GoogleSettings):
        return genai.Client(api_key=require_key(settings, settings.KEY_VARIABLES), http_options=options)
    key = find_key(settings, ())
    if key and not (settings.project or settings.location):
        return genai.Client(vertexai=True, api_key=key, http_options=options)  # Vertex express mode
    if not (settings.project and settings.location):
        tried = f" (the variable {settings.api_key_env} is not set)" if settings.api_key_env else ""
        raise ProviderProblem("project", f"vertex needs a project and a location, or an express-mode key{tried}")
    return genai.Client(vertexai=True, project=settings.project, location=settings.location, http_options=options)


def build_adapter(name: str, client: genai.Client, settings: GoogleFamilySettings) -> LLMPort:
    if isinstance(settings, GoogleSettings) and settings.api_keys:
        return rotating_ports(weighted_keys(settings),
                              lambda key: GoogleGenAIAdapter(client, provider=name, api_key=key), provider=name)
    return GoogleGenAIAdapter(client, provider=name)


async def close_client(client: genai.Client) -> None:
    await client.aio.aclose()
    client.close()
