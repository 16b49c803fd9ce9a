"""Routing by capability: before sending, the routes whose model cannot serve a request are
skipped, each with its reason; when none can, an ``InvalidRequest`` says why for each route.

A route's facts come from its ``ModelInfo`` (the catalog, settings over price data). An unknown
fact (``None``) never skips a route: only what is known to be impossible does.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmport.domain import CompletionRequest, InvalidRequest
from llmport.domain.messages import ImagePart
from llmport.domain.pricing import estimate_input_tokens

from .routing import Route


def skip_reason(route: Route, request: CompletionRequest, input_tokens: int | None = None) -> str | None:
    """Why ``route`` cannot serve ``request`` (None: it can, as far as is known)."""
    info = route.info
    if info is None:
        return None
    if info.supports_images is False and any(isinstance(p, ImagePart) for m in request.messages for p in m.parts):
        return "the request has images; the model takes text only"
    if info.supports_tools is False and request.tools:
        return "the request has tools; the model has no tool calling"
    if request.response_format.kind == "json_schema" and info.supports_json_schema is False:
        return "the request asks for JSON schema output; the model does not support it"
    if info.max_output_tokens is not None and request.max_tokens is not None \
            and request.max_tokens > info.max_output_tokens:
        return f"max_tokens {request.max_tokens} is above the model's output limit {info.max_output_tokens}"
    if info.context_window is not None:
        estimated = estimate_input_tokens(request) if input_tokens is None else input_tokens
        if estimated > info.context_window:
            return f"the estimated input ({estimated} tokens) exceeds the context window {info.context_window}"
    return None


def restricts(route: Route) -> bool:
    """Whether ``route``'s known facts could make ``skip_reason`` refuse some request (False: a
    route without facts, or whose facts are all unknown or permissive, serves every request)."""
    info = route.info
    return info is not None and (info.supports_images is False or info.supports_tools is False
                                 or info.supports_json_schema is False or info.max_output_tokens is not None
                                 or info.context_window is not None)


def servable(routes: Sequence[Route], request: CompletionRequest,
             target: str) -> tuple[tuple[Route, ...], tuple[tuple[Route, str], ...]]:
    """``routes`` split into those that can serve ``request`` and ``(route, reason)`` skips.
    ``InvalidRequest`` (before any network call) when none can, naming each route's reason."""
    estimated: int | None = None  # computed once, and only when a known context window needs it
    kept: list[Route] = []
    skipped: list[tuple[Route, str]] = []
    for route in routes:
        info = route.info
        if info is None:
            kept.append(route)
            continue
        if estimated is None and info.context_window is not None:
            estimated = estimate_input_tokens(request)
        reason = skip_reason(route, request, estimated)
        if reason is None:
            kept.append(route)
        else:
            skipped.append((route, reason))
    if not kept and skipped:
        why = "; ".join(f"{route.name}: {reason}" for route, reason in skipped)
        raise InvalidRequest(f"no route of {target!r} can serve this request ({why})", field="model")
    return tuple(kept), tuple(skipped)
