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
    try:
        return _POOL.pop()
    except IndexError:
        pass
    # One system call for the next 64 ids instead of one per request.
    raw = os.urandom(8 * _BATCH).hex()
    _POOL.extend(raw[i:i + 16] for i in range(0, len(raw), 16))
    return _POOL.pop()


_BATCH = 64
_POOL: list[str] = []  # random ids not handed out yet (list.pop and extend are atomic: thread-safe)
# A forked child must not hand out the ids its parent will.
os.register_at_fork(after_in_child=_POOL.clear)


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
