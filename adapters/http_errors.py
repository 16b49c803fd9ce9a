"""Shared pieces of error mapping: HTTP status to taxonomy class, Retry-After parsing, and
recognising context-length failures from vendor messages."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping

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

# The exceptions to the rule in ``error_class_for_status`` (other 4xx invalid, other 5xx unavailable).
_BY_STATUS: dict[int, type[LLMError]] = {
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: ModelNotFound,
    408: Timeout,
    409: ProviderUnavailable,
    429: RateLimited,
    504: Timeout,
    529: Overloaded,
}

_CONTEXT_LENGTH = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|too many (input )?tokens"
    r"|input is too long|exceeds the (maximum|max) (number of )?tokens|input token count.*exceeds"
    r"|reduce the length of the messages|token limit",
    re.IGNORECASE,
)


def error_class_for_status(status: int | None) -> type[LLMError]:
    """The taxonomy class for an HTTP status; unknown 5xx are unavailability, other 4xx invalid."""
    if status is None:
        return ProviderUnavailable
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    return ProviderUnavailable if status >= 500 else InvalidRequest


def is_context_length_message(message: str | None) -> bool:
    return bool(message) and _CONTEXT_LENGTH.search(message or "") is not None


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


#: Added to a 404 whose body is not the vendor's error shape: the request reached a server, but not
#: the API (a base URL with a wrong or missing path, such as ``/v1``), which is a configuration mistake.
BASE_URL_HINT = ("the endpoint answered 404 without the vendor's error body: the provider's base URL path is "
                 "the likely cause, e.g. a missing or extra /v1")


def error_for_status(
    status: int | None,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    vendor_type: str | None = None,
    vendor_code: str | None = None,
    request_id: str | None = None,
    param: str | None = None,
) -> LLMError:
    """Build the taxonomy error for an HTTP failure, spotting context-length errors by message.

    A 404 without the vendor's error shape (no ``vendor_type``/``vendor_code``) says that the base
    URL's path is the likely cause. An unknown model is ``ModelNotFound`` whatever the status,
    decided from structured fields: the error code ``model_not_found`` (the Responses API answers
    it with 400), or a 400-class error naming ``param: "model"`` (gateways answering for a model
    they do not serve).
    """
    cls = error_class_for_status(status)
    if status == 404 and vendor_type is None and vendor_code is None:
        message = f"{message} ({BASE_URL_HINT})"
    if vendor_code == "model_not_found" or (cls is InvalidRequest and param == "model"):
        cls = ModelNotFound
    elif cls is InvalidRequest and (
        is_context_length_message(message) or vendor_code == "context_length_exceeded"
    ):
        cls = ContextLengthExceeded
    return cls(
        message,
        status=status,
        request_id=request_id,
        vendor_type=vendor_type,
        vendor_code=vendor_code,
        retry_after=retry_after_seconds(headers),
    )
