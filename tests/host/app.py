"""A host backend as a user writes one: one module-level container, started in the app's lifespan,
llmport errors mapped to HTTP statuses. The tests drive it with Starlette's ``TestClient``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from llmport.composition import Container, start, stop
from llmport.domain import (
    AllProvidersFailed,
    CompletionRequest,
    InvalidRequest,
    LLMError,
    Message,
    RateLimited,
    Timeout,
)

log = logging.getLogger("host.app")
container = Container()


def http_status(error: LLMError) -> int:
    """How this host maps llmport's errors (the README's table)."""
    if isinstance(error, InvalidRequest):
        return 400
    if isinstance(error, RateLimited):
        return 429
    if isinstance(error, Timeout):
        return 504
    if isinstance(error, AllProvidersFailed):
        return 503
    return 502


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await start(container)
    log.info("host started")
    try:
        yield
    finally:
        await stop(container)


async def chat(request: Request) -> JSONResponse:
    body = await request.json()
    llm = container.llm()
    try:
        answer = await llm.complete(CompletionRequest(model=body.get("model", "default"),
                                                      messages=[Message.user(body["prompt"])]))
    except LLMError as exc:
        return JSONResponse({"error": type(exc).__name__}, status_code=http_status(exc))
    return JSONResponse({"text": answer.text, "provider": answer.provider})


app = Starlette(routes=[Route("/chat", chat, methods=["POST"])], lifespan=lifespan)
