"""Credentials inside URLs are secrets: masked wherever ``redact_secrets`` runs (every error message,
every log line), and the emulator's journal hides every credential-bearing header."""

from __future__ import annotations

import pytest

from llmport.adapters.http_errors import BASE_URL_HINT, error_for_status
from llmport.adapters.testing.emulator.journal import REDACTED, redact_headers, redact_query
from llmport.domain import ModelNotFound, ProviderUnavailable
from llmport.domain.redaction import mask_url_credentials, redact_secrets, url_secret_values

PASSWORD = "hunter2-very-secret"


@pytest.mark.parametrize("text", [
    f"POST https://user:{PASSWORD}@gateway.example/v1/chat failed",
    f"GET https://generativelanguage.example/v1/models?alt=sse&key={PASSWORD} 400",
    f"see http://h/x?api_key={PASSWORD}&x=1",
    f"see http://h/x?a=1;token={PASSWORD}",
])
def test_url_credentials_are_masked(text: str) -> None:
    masked = redact_secrets(text)
    assert PASSWORD not in masked
    assert REDACTED in masked


def test_plain_urls_and_parameters_stay_readable() -> None:
    text = "https://api.example/v1/chat?alt=sse&model=gpt"
    assert mask_url_credentials(text) == text


def test_an_errors_message_never_carries_url_credentials() -> None:
    exc = ProviderUnavailable(f"cannot reach https://me:{PASSWORD}@proxy.example:8080")
    assert PASSWORD not in str(exc) and PASSWORD not in repr(exc)


def test_url_secret_values_lists_what_to_scrub() -> None:
    values = url_secret_values(f"rediss://default:{PASSWORD}@cache.example:6380/0?token=abcd1234")
    assert PASSWORD in values and "abcd1234" in values
    assert url_secret_values("https://api.example/v1") == []


def test_a_404_without_the_vendors_error_body_names_the_base_url_path() -> None:
    bare = error_for_status(404, "Not Found")
    assert isinstance(bare, ModelNotFound) and BASE_URL_HINT in bare.message
    vendor = error_for_status(404, "The model does not exist", vendor_type="invalid_request_error",
                              vendor_code="model_not_found")
    assert BASE_URL_HINT not in vendor.message


def test_the_emulator_journal_redacts_every_credential_header_and_parameter() -> None:
    shown = redact_headers({"x-gateway-token": PASSWORD, "x-api-secret": PASSWORD, "cookie": PASSWORD,
                            "x-trace": "visible"})
    assert shown == {"x-gateway-token": REDACTED, "x-api-secret": REDACTED, "cookie": REDACTED, "x-trace": "visible"}
    assert redact_query({"access_token": PASSWORD, "alt": "sse"}) == {"access_token": REDACTED, "alt": "sse"}
