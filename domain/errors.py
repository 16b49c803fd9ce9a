"""The error taxonomy: every failure an adapter or the policy can raise, with its retry semantics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

from .frozen import valueclass
from .redaction import redact_secrets

if TYPE_CHECKING:
    from .completion import Completion


class LLMError(Exception):
    """Base of every llmport error.

    ``retryable`` says the same provider may be tried again; ``failover`` says another provider may
    succeed where this one failed. The message is scrubbed of anything shaped like a credential.
    """

    retryable: ClassVar[bool] = False
    failover: ClassVar[bool] = False
    #: The USD cost of every attempt the failed request made (set by the metering step; ``None``
    #: when unknown or not metered).
    request_cost: Decimal | None = None

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        vendor_type: str | None = None,
        vendor_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = redact_secrets(message)
        super().__init__(self.message)
        self.provider = provider
        self.model = model
        self.status = status
        self.request_id = request_id
        self.vendor_type = vendor_type
        self.vendor_code = vendor_code
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        details = [f"status={self.status}" if self.status is not None else "", where]
        if self.retry_after is not None:
            details.append(f"retry_after={self.retry_after:g}s")
        extra = ", ".join(d for d in details if d)
        return f"{self.message} ({extra})" if extra else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InvalidRequest(LLMError, ValueError):
    """The request is malformed or unsupported; no provider will accept it as is."""

    def __init__(self, message: str, *, field: str | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.field = field


class AuthenticationFailed(LLMError):
    """The provider rejected the credentials (HTTP 401)."""

    failover = True


class PermissionDenied(LLMError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""

    failover = True


class ModelNotFound(LLMError):
    """The provider does not know the model or deployment (HTTP 404)."""

    failover = True


class ContextLengthExceeded(LLMError):
    """The prompt does not fit the model's context window; only a larger window can help."""

    failover = True


class ContentFiltered(LLMError):
    """The provider refused or filtered the content."""


class RateLimited(LLMError):
    """The provider throttled the caller (HTTP 429); ``retry_after`` says when to come back."""

    retryable = True
    failover = True


class Overloaded(LLMError):
    """The provider is temporarily over capacity (e.g. Anthropic 529)."""

    retryable = True
    failover = True


class ProviderUnavailable(LLMError):
    """The provider failed on its side (5xx) or could not be reached."""

    retryable = True
    failover = True


class ConnectionFailed(ProviderUnavailable):
    """The connection could not be made or was lost before any answer."""


class Timeout(LLMError):
    """No answer within the time allowed."""

    retryable = True
    failover = True


class StreamInterrupted(LLMError):
    """A stream failed after output reached the caller; ``partial`` holds what arrived."""

    def __init__(self, message: str, *, partial: Completion, cause: LLMError | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.partial = partial
        self.cause = cause


class BudgetExceeded(LLMError):
    """A configured spending or token budget does not allow this request; raised before any
    network call. ``spent`` and ``limit`` are USD (``unit="usd"``) or tokens (``unit="tokens"``)."""

    def __init__(self, message: str, *, budget: str = "", spent: Decimal = Decimal(0), limit: Decimal = Decimal(0),
                 unit: str = "usd", resets_at: datetime | None = None, scope_key: str = "", **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.budget = budget
        self.spent = spent
        self.limit = limit
        self.unit = unit
        self.resets_at = resets_at
        self.scope_key = scope_key


@valueclass
class Attempt:
    """One try of one route, as recorded by the failover policy."""

    route: str
    error: str | None
    status: int | None
    duration: float
    attempt: int = 1
    message: str = ""


class AllProvidersFailed(LLMError):
    """Every route was tried (or skipped) and none succeeded; ``attempts`` lists them all.

    What the attempts had in common, for a host's answer: ``status`` (one representative HTTP
    status), ``retry_after`` (seconds until a route can serve, when every attempt was throttled or
    overloaded) and ``retryable`` (retrying later may succeed)."""

    def __init__(self, message: str, *, attempts: Sequence[Attempt], retryable: bool = False, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.attempts = tuple(attempts)
        # Per instance, unlike other errors: whether a later try may succeed depends on the attempts.
        vars(self)["retryable"] = retryable

    def __str__(self) -> str:
        lines = [self.message]
        for a in self.attempts:
            status = f" status={a.status}" if a.status is not None else ""
            lines.append(f"  - {a.route} #{a.attempt}: {a.error or 'ok'}{status} in {a.duration * 1000:.0f} ms")
        return "\n".join(lines)


class StructuredOutputInvalid(LLMError):
    """The model's answer never matched the requested output type, repairs included.

    ``errors`` are the last attempt's validation errors (one line each), ``raw_text`` its raw answer,
    ``attempts`` how many answers were asked for (each one billed: ``request_cost`` is their sum)."""

    def __init__(self, message: str, *, errors: Sequence[str], raw_text: str, attempts: int, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.errors = tuple(errors)
        self.raw_text = raw_text
        self.attempts = attempts
