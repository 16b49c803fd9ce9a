"""The shared HTTP error mapping, including the rare paths the adapters' end-to-end tests never
reach: statuses outside the table, no status at all, missing or malformed headers, sub-second
``retry-after-ms`` and an HTTP-date ``Retry-After``."""

from __future__ import annotations

import email.utils

import pytest

from llmport.adapters import http_errors
from llmport.adapters.http_errors import (
    error_class_for_status,
    error_for_status,
    is_context_length_message,
    retry_after_seconds,
)
from llmport.domain import (
    AuthenticationFailed,
    ContextLengthExceeded,
    InvalidRequest,
    LLMError,
    ModelNotFound,
    Overloaded,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
    Timeout,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("status", "cls"), [
    (400, InvalidRequest), (401, AuthenticationFailed), (403, PermissionDenied), (404, ModelNotFound),
    (408, Timeout), (409, ProviderUnavailable), (413, InvalidRequest), (422, InvalidRequest), (429, RateLimited),
    (500, ProviderUnavailable), (502, ProviderUnavailable), (503, ProviderUnavailable), (504, Timeout),
    (529, Overloaded),
])
def test_the_status_table(status: int, cls: type[LLMError]) -> None:
    assert error_class_for_status(status) is cls


@pytest.mark.parametrize(("status", "cls"), [
    (None, ProviderUnavailable), (501, ProviderUnavailable), (520, ProviderUnavailable), (599, ProviderUnavailable),
    (499, InvalidRequest), (418, InvalidRequest), (402, InvalidRequest),
])
def test_statuses_outside_the_table(status: int | None, cls: type[LLMError]) -> None:
    assert error_class_for_status(status) is cls


@pytest.mark.parametrize("message", [
    "This model's maximum context length is 8192 tokens", "context_length_exceeded", "exceeds the context window",
    "prompt is too long: 210000 tokens > 200000 maximum", "Too many input tokens", "too many tokens",
    "Input is too long for requested model.", "exceeds the maximum number of tokens", "exceeds the max tokens",
    "The input token count (1200000) exceeds the maximum", "Please reduce the length of the messages.",
    "Token limit reached", "CONTEXT LENGTH",
])
def test_context_length_messages_are_recognised(message: str) -> None:
    assert is_context_length_message(message)


@pytest.mark.parametrize("message", [None, "", "rate limited", "invalid model", "tokens must be positive"])
def test_other_messages_are_not_context_length(message: str | None) -> None:
    assert not is_context_length_message(message)


def test_no_headers_mean_no_retry_after() -> None:
    assert retry_after_seconds(None) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"x-request-id": "r1"}) is None
    assert retry_after_seconds({"retry-after": ""}) is None


def test_retry_after_ms_keeps_sub_second_precision() -> None:
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5  # the precise one wins
    assert retry_after_seconds({"retry-after-ms": "-20"}) == 0.0


def test_a_malformed_or_empty_retry_after_ms_falls_back_to_retry_after() -> None:
    assert retry_after_seconds({"retry-after-ms": "soon", "retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "", "retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "soon"}) is None


def test_retry_after_in_seconds() -> None:
    assert retry_after_seconds({"retry-after": "1.5"}) == 1.5
    assert retry_after_seconds({"retry-after": "0"}) == 0.0
    assert retry_after_seconds({"retry-after": "-3"}) == 0.0


def test_retry_after_as_an_http_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_errors.time, "time", lambda: NOW)
    later = email.utils.formatdate(NOW + 120, usegmt=True)
    earlier = email.utils.formatdate(NOW - 120, usegmt=True)
    assert retry_after_seconds({"retry-after": later}) == pytest.approx(120.0)
    assert retry_after_seconds({"retry-after": earlier}) == 0.0
    assert retry_after_seconds({"retry-after": "in a while"}) is None


def test_error_for_status_carries_every_detail() -> None:
    err = error_for_status(429, "slow down", headers={"retry-after-ms": "750"}, vendor_type="rate_limit_error",
                           vendor_code="rate_limited", request_id="req_1")
    assert type(err) is RateLimited
    assert (err.message, err.status, err.vendor_type, err.vendor_code, err.request_id, err.retry_after) == (
        "slow down", 429, "rate_limit_error", "rate_limited", "req_1", 0.75)


def test_error_for_status_with_no_status_or_headers() -> None:
    err = error_for_status(None, "connection reset")
    assert type(err) is ProviderUnavailable
    assert (err.status, err.retry_after, err.request_id, err.vendor_type, err.vendor_code) == (
        None, None, None, None, None)


def test_409_is_a_conflict_another_provider_may_not_have() -> None:
    err = error_for_status(409, "conflict", headers={"retry-after": "1"})
    assert type(err) is ProviderUnavailable
    assert err.retry_after == 1.0


@pytest.mark.parametrize("status", [400, 413, 422, 499])
def test_invalid_requests_about_context_length_become_context_length_exceeded(status: int) -> None:
    assert type(error_for_status(status, "prompt is too long")) is ContextLengthExceeded
    assert type(error_for_status(status, "bad", vendor_code="context_length_exceeded")) is ContextLengthExceeded
    assert type(error_for_status(status, "bad", vendor_code="other")) is InvalidRequest


@pytest.mark.parametrize("status", [401, 404, 429, 500, 529, None])
def test_only_invalid_requests_become_context_length_exceeded(status: int | None) -> None:
    err = error_for_status(status, "prompt is too long", vendor_code="context_length_exceeded")
    assert type(err) is error_class_for_status(status)


@pytest.mark.parametrize("status", [400, 404, 422, 500, None])
def test_the_model_not_found_code_wins_whatever_the_status(status: int | None) -> None:
    assert type(error_for_status(status, "prompt is too long", vendor_code="model_not_found")) is ModelNotFound


@pytest.mark.parametrize("status", [400, 413, 422])
def test_an_invalid_request_about_the_model_parameter_is_model_not_found(status: int) -> None:
    assert type(error_for_status(status, "prompt is too long", param="model")) is ModelNotFound
    assert type(error_for_status(status, "prompt is too long", param="messages")) is ContextLengthExceeded


@pytest.mark.parametrize("status", [401, 429, 500, None])
def test_the_model_parameter_alone_does_not_turn_other_errors_into_model_not_found(status: int | None) -> None:
    assert type(error_for_status(status, "bad model", param="model")) is error_class_for_status(status)
