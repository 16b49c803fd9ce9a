"""``server.address`` and ``server.port`` of an adapter: from the base URL of the vendor SDK client
it was built with (OpenAI, Anthropic and their cloud variants, google-genai, boto3), without the
URL's credentials (only host and port are kept)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}


def _base_url(client: Any) -> str | None:
    url = getattr(client, "base_url", None)  # openai, anthropic (httpx.URL)
    if url is None:
        meta = getattr(client, "meta", None)  # boto3
        url = getattr(meta, "endpoint_url", None)
    if url is None:
        options = getattr(getattr(client, "_api_client", None), "_http_options", None)  # google-genai
        url = getattr(options, "base_url", None)
    return str(url) if url else None


def _client(adapter: object) -> Any:
    """The SDK client of an adapter, or of a key ring's first adapter (every key, one endpoint)."""
    client = getattr(adapter, "_client", None)
    if client is None:
        ports = getattr(adapter, "ports", ())
        if ports:
            client = getattr(ports[0], "_client", None)
    return client


def server_attributes(adapter: object) -> dict[str, str | int]:
    """``server.address`` (host name or IP) and ``server.port`` of ``adapter``'s vendor endpoint;
    empty when the adapter has no SDK client with a known base URL."""
    url = _base_url(_client(adapter))
    if url is None:
        return {}
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a malformed URL (a bad port): no attribute rather than a guess
        return {}
    if not host:
        return {}
    attrs: dict[str, str | int] = {"server.address": host}
    port = port or _DEFAULT_PORTS.get(parts.scheme)
    if port:
        attrs["server.port"] = port
    return attrs
