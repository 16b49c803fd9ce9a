"""Providers detected from each conventional source, with environment variables set per test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from llmport.composition.detect import detect, fingerprint, ollama_address
from llmport.composition.settings import SettingsError, load_settings

KEY = "sk-test-0123456789abcdWXYZ"


def test_nothing_found_in_a_clean_environment(clean_env: Path) -> None:
    detection = detect()
    assert detection.found == ()
    assert [s.source.startswith("Ollama at http://127.0.0.1:") for s in detection.skipped] == [True]
    assert "not reachable" in detection.skipped[0].reason


def test_openai_key_and_base_url(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    (found,) = detect().found
    assert (found.name, found.source, found.fingerprint) == ("openai", "OPENAI_API_KEY", "...WXYZ")
    assert found.settings == {"kind": "openai", "api_key_env": "OPENAI_API_KEY", "base_url": "http://127.0.0.1:9/v1",
                              "default_model": "gpt-4o-mini"}
    assert KEY not in json.dumps(found.settings)


def test_azure_needs_its_endpoint(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    detection = detect()
    assert detection.found == ()
    assert ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT is not set") in [(s.source, s.reason)
                                                                             for s in detection.skipped]
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "my-gpt")
    (found,) = detect().found
    assert found.settings == {"kind": "azure_openai", "api_key_env": "AZURE_OPENAI_API_KEY",
                              "endpoint": "https://r.openai.azure.com", "api_version": "2024-10-21",
                              "default_model": "my-gpt"}


def test_anthropic_and_gemini(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-aaaaaaaaaaaa1111")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GOOGLE_API_KEY", "AIzaaaaaaaaaaaaaa2222")
    found = {f.name: f for f in detect().found}
    assert found["anthropic"].settings["base_url"] == "http://127.0.0.1:9"
    assert found["anthropic"].fingerprint == "...1111"
    assert found["gemini"].settings["kind"] == "google"
    assert found["gemini"].source == "GOOGLE_API_KEY"
    monkeypatch.setenv("GEMINI_API_KEY", "AIzbbbbbbbbbbbbbb3333")  # GEMINI_API_KEY wins over GOOGLE_API_KEY
    assert {f.name: f for f in detect().found}["gemini"].source == "GEMINI_API_KEY"


def test_aws_needs_a_region(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAAAAAAAAAAAA4444")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-secret-secret")
    detection = detect()
    assert detection.found == ()
    assert any("no region" in s.reason for s in detection.skipped)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    (found,) = detect().found
    assert found.settings["kind"] == "bedrock"
    assert found.settings["region"] == "eu-west-1"
    assert found.fingerprint == "...4444"
    assert "secret-secret" not in repr(found)


def test_aws_shared_credentials_file_and_profile(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    aws = clean_env / "home" / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text("[default]\naws_access_key_id = x\naws_secret_access_key = y\n")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    (found,) = detect().found
    assert found.source.startswith("file ") and found.source.endswith("region us-east-2")
    monkeypatch.setenv("AWS_PROFILE", "work")
    (found,) = detect().found
    assert found.settings["profile"] == "work"


def test_vertex_from_application_default_credentials(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adc = clean_env / "home" / ".config" / "gcloud"
    adc.mkdir(parents=True)
    (adc / "application_default_credentials.json").write_text(json.dumps({"type": "authorized_user"}))
    detection = detect()
    assert detection.found == ()
    assert any("no project" in s.reason for s in detection.skipped)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-proj")
    (found,) = detect().found
    assert found.settings == {"kind": "vertex", "project": "my-proj", "location": "us-central1",
                              "default_model": "gemini-2.0-flash"}


def test_vertex_project_from_the_credentials_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = clean_env / "sa.json"
    file.write_text(json.dumps({"type": "service_account", "project_id": "from-file"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(file))
    (found,) = detect().found
    assert found.settings["project"] == "from-file"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(clean_env / "missing.json"))
    assert any(s.reason == "the credentials file cannot be read" for s in detect().skipped)


def test_each_preset_key_variable(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_aaaaaaaaaaaa5555")
    monkeypatch.setenv("MISTRAL_API_KEY", "mistralaaaaaaa6666")
    found = {f.name: f for f in detect().found}
    assert set(found) == {"groq", "mistral"}
    assert found["groq"].settings == {"kind": "openai_compatible", "api_key_env": "GROQ_API_KEY", "preset": "groq"}
    assert found["mistral"].fingerprint == "...6666"


def test_a_key_from_the_secrets_directory(clean_env: Path) -> None:
    (clean_env / "secrets" / "anthropic_api_key").write_text("sk-ant-fromfile-7777\n")
    (found,) = detect().found
    file = str(clean_env / "secrets" / "anthropic_api_key")
    assert found.settings["api_key_file"] == file
    assert found.source == f"file {file}"
    assert found.fingerprint == "...7777"
    settings = load_settings()
    assert settings.providers["anthropic"].resolved_api_key() == "sk-ant-fromfile-7777"
    assert "sk-ant-fromfile-7777" in settings.secret_values()
    assert "fromfile" not in repr(settings)


def test_api_key_file_setting(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = clean_env / "key.txt"
    key_file.write_text("sk-mounted-8888\n")
    monkeypatch.setenv("LLMPORT_PROVIDERS__MAIN__KIND", "openai")
    monkeypatch.setenv("LLMPORT_PROVIDERS__MAIN__API_KEY_FILE", str(key_file))
    assert load_settings().providers["main"].resolved_api_key() == "sk-mounted-8888"
    monkeypatch.setenv("LLMPORT_PROVIDERS__MAIN__API_KEY_FILE", str(clean_env / "nope"))
    with pytest.raises(SettingsError, match="LLMPORT_PROVIDERS__MAIN__API_KEY_FILE: cannot read the key file"):
        load_settings()


def test_fingerprint_never_shows_a_short_key() -> None:
    assert fingerprint("abcdefghijkl") == "...ijkl"
    assert fingerprint("abcdefghijk") == "...(short key)"


class _Tags(BaseHTTPRequestHandler):
    models: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        body = json.dumps({"models": [{"name": m} for m in self.models]}).encode() if self.path == "/api/tags" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_ollama(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> Iterator[type[_Tags]]:
    handler = type("Tags", (_Tags,), {"models": ["llama3.2:latest", "qwen2.5:7b"]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{server.server_address[1]}")
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_local_ollama_and_its_models(fake_ollama: type[_Tags]) -> None:
    detection = detect()
    (found,) = detection.found
    assert found.name == "ollama"
    assert found.settings["models"] == ["llama3.2:latest", "qwen2.5:7b"]
    assert found.settings["default_model"] == "llama3.2:latest"
    assert found.settings["base_url"].endswith("/v1")
    assert found.fingerprint is None
    assert detection.skipped == ()


def test_an_ollama_without_models_is_skipped(fake_ollama: type[_Tags]) -> None:
    fake_ollama.models = []
    detection = detect()
    assert detection.found == ()
    assert "no models" in detection.skipped[0].reason


def test_ollama_address_forms() -> None:
    assert ollama_address({}) == "http://localhost:11434"
    assert ollama_address({"OLLAMA_HOST": "0.0.0.0"}) == "http://localhost:11434"
    assert ollama_address({"OLLAMA_HOST": "http://box:9000/"}) == "http://box:9000"
