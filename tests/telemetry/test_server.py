"""``server.address``/``server.port`` from the base URL of each SDK family's client (no network):
host and port only, never the URL's user-info; the scheme's port when the URL names none; the
first adapter of a key ring; nothing for an adapter without a vendor client."""

from __future__ import annotations

import anthropic
import boto3
import openai
from google import genai

from llmport.adapters.anthropic import AnthropicAdapter
from llmport.adapters.bedrock import BedrockConverseAdapter
from llmport.adapters.google_genai import GoogleGenAIAdapter, http_options
from llmport.adapters.keyring import WeightedKey, rotating
from llmport.adapters.openai import OpenAIAdapter
from llmport.adapters.opentelemetry_server import server_attributes
from llmport.adapters.testing.fake import FakeLLM


def test_openai_without_the_urls_credentials() -> None:
    client = openai.AsyncOpenAI(api_key="sk-x", base_url="http://user:s3cret-pass@gateway.internal:8080/v1")
    assert server_attributes(OpenAIAdapter(client)) == {"server.address": "gateway.internal", "server.port": 8080}


def test_default_ports_by_scheme() -> None:
    assert server_attributes(OpenAIAdapter(openai.AsyncOpenAI(api_key="sk-x"))) == {
        "server.address": "api.openai.com", "server.port": 443}
    client = anthropic.AsyncAnthropic(api_key="sk-ant-x", base_url="http://claude.local")
    assert server_attributes(AnthropicAdapter(client)) == {"server.address": "claude.local", "server.port": 80}


def test_google_genai_and_vertex() -> None:
    gemini = genai.Client(api_key="AIza-x", http_options=http_options(base_url="https://gemini.example:9443/",
                                                                      timeout=5))
    assert server_attributes(GoogleGenAIAdapter(gemini)) == {"server.address": "gemini.example", "server.port": 9443}
    vertex = genai.Client(vertexai=True, project="p", location="europe-west4")
    assert server_attributes(GoogleGenAIAdapter(vertex))["server.address"] == "europe-west4-aiplatform.googleapis.com"


def test_bedrock_endpoint() -> None:
    client = boto3.client("bedrock-runtime", region_name="eu-west-1", aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="example-secret")
    assert server_attributes(BedrockConverseAdapter(client)) == {
        "server.address": "bedrock-runtime.eu-west-1.amazonaws.com", "server.port": 443}


def test_a_key_ring_names_its_clients_server() -> None:
    client = openai.AsyncOpenAI(api_key="sk-x", base_url="https://llm.example/v1")
    for keys in (["sk-one-1234567890"], ["sk-one-1234567890", "sk-two-1234567890"]):
        ring = rotating(client, [WeightedKey(k) for k in keys], lambda keyed: OpenAIAdapter(keyed, provider="p"),
                        provider="p")
        assert server_attributes(ring) == {"server.address": "llm.example", "server.port": 443}


def test_nothing_without_a_vendor_client() -> None:
    assert server_attributes(FakeLLM()) == {}


def test_a_url_with_a_bad_port_names_no_server() -> None:
    assert server_attributes(gemini_at("http://gemini.example:99999/")) == {}


def gemini_at(base_url: str) -> GoogleGenAIAdapter:
    return GoogleGenAIAdapter(genai.Client(api_key="AIza-x", http_options=http_options(base_url=base_url, timeout=5)))


def test_a_scheme_without_a_known_port_names_the_host_only() -> None:
    assert server_attributes(gemini_at("grpc+tls://gemini.example/")) == {"server.address": "gemini.example"}


def test_a_url_without_a_host_names_no_server() -> None:
    assert server_attributes(gemini_at("http:///v1/")) == {}
