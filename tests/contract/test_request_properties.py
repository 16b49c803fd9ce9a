"""Property: every request that constructs, sent through every contract harness (real SDK, real
HTTP, the emulator), ends in a completion or an ``LLMError`` — whole or streamed. Nothing else ever
leaves an adapter (issue 11)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.domain import (
    CachePolicy,
    Completion,
    CompletionRequest,
    ImagePart,
    InvalidRequest,
    LLMError,
    Message,
    ReasoningConfig,
    ReasoningPart,
    ResponseFormat,
    ToolCallPart,
    ToolChoice,
    ToolSpec,
    accumulate,
)

from .harness import Harness

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
# Any code point, lone surrogates included: those must be refused at construction.
texts = st.text(st.characters(min_codepoint=1, max_codepoint=0x10FFFF, categories=None), min_size=1, max_size=20)
names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_\-]{0,10}\Z")
leaf_schema = st.fixed_dictionaries({"type": st.sampled_from(["string", "number", "integer", "boolean", "null"])},
                                    optional={"description": texts, "enum": st.lists(texts, max_size=2)})
schemas = st.recursive(
    leaf_schema,
    lambda inner: st.one_of(
        st.fixed_dictionaries({"type": st.just("object"), "properties": st.dictionaries(names, inner, max_size=3)},
                              optional={"required": st.lists(names, max_size=2),
                                        "additionalProperties": st.booleans()}),
        st.fixed_dictionaries({"type": st.just("array"), "items": inner}),
        st.fixed_dictionaries({"anyOf": st.lists(inner, min_size=1, max_size=2)}),
    ),
    max_leaves=6,
)
object_schemas = st.fixed_dictionaries({"type": st.just("object"),
                                        "properties": st.dictionaries(names, schemas, max_size=3)})
def _maybe(build: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return build(*args, **kwargs)
    except InvalidRequest:
        return None


def _safe(build: Any) -> Any:
    """``build`` returning None where it refuses its arguments (drawn values may be invalid)."""
    return lambda *args, **kwargs: _maybe(build, *args, **kwargs)


images = st.one_of(
    st.just(ImagePart(data=PNG, media_type="image/png")),
    st.builds(_safe(ImagePart), url=st.sampled_from(["https://example.com/cat.png", "http://example.com/a.jpg",
                                              "data:image/png;base64,iVBORw0KGgo=", "gs://bucket/cat.png",
                                              "s3://bucket/cat.jpeg", "https://example.com/no-extension"])),
    st.builds(_safe(ImagePart), url=texts),
    st.builds(_safe(ImagePart), data=st.binary(min_size=1, max_size=16),
              media_type=st.sampled_from(["image/png", "image/jpeg", "image/webp", "image/x-unknown"])),
)


@st.composite
def requests(draw: st.DrawFn) -> CompletionRequest | None:
    user = [p for p in draw(st.lists(st.one_of(texts, images), min_size=1, max_size=3)) if p is not None]
    messages: list[Any] = [_maybe(Message.user, *user, cache_breakpoint=draw(st.booleans()))]
    drawn = draw(st.lists(st.builds(_safe(ToolSpec), names, st.one_of(st.just(""), texts), object_schemas),
                          max_size=2))
    tools = [t for t in drawn if t is not None]
    if tools and draw(st.booleans()):
        call = _maybe(ToolCallPart, draw(names), tools[0].name, draw(st.dictionaries(names, texts, max_size=2)))
        reasoning = draw(st.lists(st.builds(ReasoningPart, texts, st.one_of(st.none(), texts),
                                            st.sampled_from([None, "openai", "anthropic", "google", "bedrock"])),
                                  max_size=1))
        if call is not None:
            messages += [_maybe(Message.assistant, draw(st.one_of(st.none(), texts)), tool_calls=[call],
                                reasoning=reasoning), _maybe(Message.tool_result, call.id, draw(texts))]
    choice = draw(st.one_of(st.none(), st.sampled_from([ToolChoice.AUTO, ToolChoice.NONE, ToolChoice.REQUIRED]),
                            st.just(ToolChoice.tool(tools[0].name)) if tools else st.none()))
    fmt = draw(st.one_of(st.just(ResponseFormat.TEXT), st.just(ResponseFormat.JSON),
                         st.builds(_safe(ResponseFormat.json_schema), object_schemas, name=names)))
    kwargs: dict[str, Any] = {
        "system": draw(st.one_of(st.none(), texts)), "tools": tools, "tool_choice": choice, "response_format": fmt,
        "temperature": draw(st.one_of(st.none(), st.floats(0, 2))),
        "top_p": draw(st.one_of(st.none(), st.floats(0, 1, exclude_min=True))),
        "max_tokens": draw(st.one_of(st.none(), st.integers(1, 2**31 - 1))),
        "stop": draw(st.lists(texts, max_size=2)), "seed": draw(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))),
        "reasoning": draw(st.one_of(st.none(), st.builds(ReasoningConfig, st.sampled_from([None, "low", "high"]),
                                                         st.one_of(st.none(), st.integers(1, 100_000))))),
        "tenant_id": draw(st.one_of(st.none(), texts)), "metadata": draw(st.dictionaries(names, texts, max_size=2)),
        "cache": CachePolicy(draw(st.sampled_from(["off", "auto"]))),
    }
    if None in messages or fmt is None:
        return None
    return _maybe(CompletionRequest, "model", messages, **kwargs)


async def _send(llm: Any, request: CompletionRequest, stream: bool) -> Completion | LLMError:
    try:
        if stream:
            async with llm.stream(request) as events:
                return accumulate([e async for e in events])
        return await llm.complete(request)
    except LLMError as exc:
        error = exc
    assert error.__cause__ is None and error.__context__ is None  # no SDK exception rides along
    return error


def test_constructed_requests_end_in_a_completion_or_an_llm_error(harness: Harness, emulator: VendorEmulator) -> None:
    emulator.reset()
    loop = asyncio.new_event_loop()  # one loop (and one adapter) for every example: SDK clients bind to it
    llm = harness.build(emulator.url)

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(requests(), st.booleans())
    def check(request: CompletionRequest | None, stream: bool) -> None:
        assume(request is not None)
        assert request is not None
        outcome = loop.run_until_complete(_send(llm, dataclasses.replace(request, model=harness.model), stream))
        assert isinstance(outcome, Completion | LLMError)

    try:
        check()
    finally:
        loop.run_until_complete(llm.aclose())
        loop.close()
