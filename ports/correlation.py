"""Request correlation: one id per request, shared by every step and attempt event of that request.

A host gives its own id in ``CompletionRequest.metadata["request_id"]``; otherwise the first step that
needs one generates it and binds it for the rest of the call (a context variable, so hedged attempts
running as child tasks see it too).
"""

from __future__ import annotations

import os
from contextvars import ContextVar, Token

from llmport.domain import CompletionRequest

REQUEST_ID_KEY = "request_id"
"""The metadata key under which a host passes its own request id."""

_CURRENT: ContextVar[str | None] = ContextVar("llmport_request_id", default=None)


def new_request_id() -> str:
    """A fresh random request id (16 hex digits)."""
    return os.urandom(8).hex()


def request_id_of(request: CompletionRequest) -> str:
    """The request's id: the host's, else the one bound for this call, else a new one."""
    given = request.metadata.get(REQUEST_ID_KEY)
    if given:
        return given
    return _CURRENT.get() or new_request_id()


def bind(request_id: str) -> Token[str | None]:
    """Make ``request_id`` the current request's id until ``unbind``."""
    return _CURRENT.set(request_id)


def unbind(token: Token[str | None]) -> None:
    _CURRENT.reset(token)
