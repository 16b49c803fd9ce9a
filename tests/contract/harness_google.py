"""The Google GenAI adapter in the contract suite: the Gemini API (API key) and Vertex AI (project,
location, a ready OAuth token so no credentials are looked up), both through the real
``google-genai`` SDK against the emulator."""

from __future__ import annotations

from google import genai
from google.oauth2.credentials import Credentials

from llmport.adapters.google_genai import GoogleGenAIAdapter, http_options
from llmport.ports import LLMPort

from .harness import Harness


def _gemini(url: str) -> LLMPort:
    client = genai.Client(api_key="AIza-test-key-for-the-emulator", http_options=http_options(base_url=url, timeout=10))
    return GoogleGenAIAdapter(client, provider="google")


def _vertex(url: str) -> LLMPort:
    client = genai.Client(vertexai=True, project="test-project", location="us-central1",
                          credentials=Credentials(token="ya29.test-token"),  # type: ignore[no-untyped-call]
                          http_options=http_options(base_url=url, timeout=10))
    return GoogleGenAIAdapter(client, provider="google-vertex")


# Gemini reports a stop sequence as STOP, has no cache-write usage, and signals overload as a 503
# "model is overloaded". Its thought signatures are bytes (base64 on the wire), so the scripted
# plain-text signature of the shared reasoning scenario cannot appear verbatim in the request; the
# round trip is tested in tests/adapters/test_google_genai.py instead.
_FLAGS = {"reasoning_signature": False, "stop_sequence": False, "cache_write_usage": False,
          "overloaded_status": 503, "lead_frames": 0}

HARNESSES = [
    Harness("google", "google", "gemini-test", _gemini, **_FLAGS),  # type: ignore[arg-type]
    Harness("google-vertex", "google", "gemini-test", _vertex, **_FLAGS),  # type: ignore[arg-type]
]
