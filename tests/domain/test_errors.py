from __future__ import annotations

import pytest

from llmport.domain import (
    AllProvidersFailed,
    Attempt,
    AuthenticationFailed,
    BudgetExceeded,
    Completion,
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InvalidRequest,
    LLMError,
    ModelNotFound,
    Overloaded,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
    StopReason,
    StreamInterrupted,
    Timeout,
)

FLAGS = {
    InvalidRequest: (False, False),
    AuthenticationFailed: (False, True),
    PermissionDenied: (False, True),
    ModelNotFound: (False, True),
    ContextLengthExceeded: (False, True),
    ContentFiltered: (False, False),
    RateLimited: (True, True),
    Overloaded: (True, True),
    ProviderUnavailable: (True, True),
    ConnectionFailed: (True, True),
    Timeout: (True, True),
    BudgetExceeded: (False, False),
}


@pytest.mark.parametrize(("cls", "flags"), FLAGS.items(), ids=lambda v: getattr(v, "__name__", ""))
def test_each_class_says_whether_to_retry_and_whether_to_fail_over(
    cls: type[LLMError], flags: tuple[bool, bool]
) -> None:
    err = cls("boom")
    assert (err.retryable, err.failover) == flags
    assert isinstance(err, LLMError)


def test_errors_carry_vendor_context_and_print_it() -> None:
    err = RateLimited("slow down", provider="openai", model="gpt-4o", status=429, request_id="req_1",
                      vendor_type="rate_limit_error", vendor_code="rate_limit", retry_after=1.5)
    assert (err.provider, err.model, err.status, err.request_id, err.retry_after) == ("openai", "gpt-4o", 429,
                                                                                      "req_1", 1.5)
    assert str(err) == "slow down (status=429, openai/gpt-4o, retry_after=1.5s)"
    assert repr(err).startswith("RateLimited(")


@pytest.mark.parametrize("secret", [
    "sk-proj-abcdefghijklmnopqrstuvwx", "sk-ant-api03-abcdefghijklmnop", "AIzaSyA1234567890abcdefghijklmnop",
    "AKIAABCDEFGHIJKLMNOP", "Bearer abcdefghijklmnopqrstu",
])
def test_no_message_ever_contains_a_credential(secret: str) -> None:
    err = AuthenticationFailed(f"Incorrect API key provided: {secret}. Check it.", status=401)
    for text in (str(err), repr(err), err.message, str(err.args)):
        assert secret not in text
        assert "[REDACTED]" in text


def test_stream_interrupted_carries_the_partial() -> None:
    from llmport.domain import TextPart

    partial = Completion((TextPart("Hel"),), StopReason("other", "interrupted"))
    cause = ProviderUnavailable("connection lost")
    err = StreamInterrupted("cut", partial=partial, cause=cause)
    assert err.partial.text == "Hel" and err.cause is cause
    assert not err.retryable and not err.failover


def test_all_providers_failed_lists_every_attempt() -> None:
    attempts = [Attempt("openai/gpt", "ProviderUnavailable", 503, 0.012, 1),
                Attempt("anthropic/claude", "RateLimited", 429, 0.004, 1)]
    err = AllProvidersFailed("all routes failed", attempts=attempts)
    assert err.attempts == tuple(attempts)
    text = str(err)
    assert "openai/gpt #1: ProviderUnavailable status=503 in 12 ms" in text
    assert "anthropic/claude #1: RateLimited status=429" in text
