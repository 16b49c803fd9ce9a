"""Property: arbitrary arguments to every public domain constructor either construct or raise
``InvalidRequest`` (never a raw TypeError, OverflowError, RecursionError...). And what constructs
is sendable: its strings encode, its numbers are finite, its JSON serialises."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmport.domain import (
    CachePolicy,
    CompletionRequest,
    ImagePart,
    InvalidRequest,
    Message,
    ModelRef,
    ReasoningConfig,
    ReasoningPart,
    ResponseFormat,
    Role,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    ToolSpec,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "object"}
    for _ in range(depth):
        value = {"type": "object", "properties": {"x": value}}
    return value


# Any code point, lone surrogates included (hypothesis leaves them out of st.text() by default).
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None), max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.just(10**400), st.floats(), any_text,
                    st.binary(max_size=8))
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.one_of(any_text, st.integers()), inner, max_size=3), max_leaves=12)
schemas = st.one_of(
    json_like,
    st.fixed_dictionaries({"type": st.sampled_from(["object", "string", "bogus", 5])},
                          optional={"properties": json_like, "required": json_like, "items": json_like,
                                    "anyOf": json_like, "enum": json_like}),
    st.integers(0, 300).map(_nested),
    st.just(_nested(2000)),
)
awkward = st.one_of(scalars, json_like, st.builds(object), st.tuples(any_text))

USER = Message.user("hi")
CALL = ToolCallPart("c1", "f", {})
TOOL = ToolSpec("f", "d")
parts = st.one_of(st.builds(TextPart, st.text(min_size=1)), st.just(ImagePart(url="https://x.test/a.png")),
                  st.just(CALL), st.just(ToolResultPart("c1", "r")), st.just(ReasoningPart("t")), awkward)

# constructor -> strategies of its arguments (the plausible values mixed with awkward ones)
ARGS: dict[str, tuple[Callable[..., Any], dict[str, st.SearchStrategy[Any]]]] = {
    "TextPart": (TextPart, {"text": st.one_of(any_text, awkward)}),
    "ImagePart": (ImagePart, {
        "url": st.one_of(st.none(), st.sampled_from(["https://x.test/a.png", "http://x", "file:///etc/passwd",
                                                     "data:image/png;base64,iVBORw0KGgo=", "data:text/html,<b>",
                                                     "data:image/png;base64,", "gs://b/o.png", "s3://b/o.jpg",
                                                     "https://x.test/a b.png"]), any_text, awkward),
        "data": st.one_of(st.none(), st.binary(max_size=4), awkward),
        "media_type": st.one_of(st.none(), st.sampled_from(["image/png", "text/html", "image/", "image"]), awkward),
    }),
    "ToolCallPart": (ToolCallPart, {"id": st.one_of(any_text, awkward), "name": st.one_of(any_text, awkward),
                                    "arguments": st.one_of(json_like, awkward),
                                    "raw_arguments": st.one_of(st.none(), any_text, awkward)}),
    "ToolResultPart": (ToolResultPart, {"call_id": st.one_of(any_text, awkward),
                                        "content": st.one_of(any_text, awkward),
                                        "is_error": st.one_of(st.booleans(), awkward)}),
    "ReasoningPart": (ReasoningPart, {"text": st.one_of(any_text, awkward),
                                      "signature": st.one_of(st.none(), any_text, awkward),
                                      "provider": st.one_of(st.none(), any_text, awkward),
                                      "redacted": st.one_of(st.booleans(), awkward)}),
    "Message": (Message, {"role": st.one_of(st.sampled_from([*Role, "bogus", "user"]), awkward),
                          "parts": st.one_of(st.lists(parts, max_size=3), awkward),
                          "cache_breakpoint": st.one_of(st.booleans(), awkward)}),
    "Message.user": (lambda content: Message.user(content), {"content": st.one_of(any_text, parts)}),
    "Message.system": (lambda text: Message.system(text), {"text": st.one_of(any_text, awkward)}),
    "Message.tool_result": (lambda call_id, content: Message.tool_result(call_id, content),
                            {"call_id": st.one_of(any_text, awkward), "content": st.one_of(any_text, awkward)}),
    "Message.assistant": (lambda text, calls: Message.assistant(text, tool_calls=calls),
                          {"text": st.one_of(st.none(), any_text, awkward),
                           "calls": st.one_of(st.lists(st.just(CALL), max_size=2), st.lists(awkward, max_size=2))}),
    "ToolSpec": (ToolSpec, {"name": st.one_of(st.from_regex(r"\A[a-z_]{1,8}\Z"), any_text, awkward),
                            "description": st.one_of(any_text, awkward), "parameters": schemas}),
    "ToolChoice": (ToolChoice, {"mode": st.one_of(st.sampled_from(["auto", "none", "required", "tool"]), awkward),
                                "name": st.one_of(st.none(), st.just("f"), any_text, awkward)}),
    "ResponseFormat": (ResponseFormat, {"kind": st.one_of(st.sampled_from(["text", "json", "json_schema"]), awkward),
                                        "schema": st.one_of(st.none(), schemas),
                                        "name": st.one_of(st.just("r"), any_text, awkward),
                                        "strict": st.one_of(st.booleans(), awkward)}),
    "ReasoningConfig": (ReasoningConfig, {"effort": st.one_of(st.sampled_from([None, "low", "high"]), awkward),
                                          "budget_tokens": st.one_of(st.none(), st.integers(), st.just("100"),
                                                                     awkward),
                                          "include_text": st.one_of(st.booleans(), awkward)}),
    "CachePolicy": (CachePolicy, {"prompt_cache": st.one_of(st.sampled_from(["off", "auto"]), awkward),
                                  "response_ttl": st.one_of(st.none(), st.floats(), awkward),
                                  "refresh": st.one_of(st.booleans(), awkward),
                                  "store": st.one_of(st.booleans(), awkward)}),
    "ModelRef.parse": (lambda text: ModelRef.parse(text), {"text": st.one_of(any_text, awkward)}),
    "CompletionRequest": (CompletionRequest, {
        "model": st.one_of(st.just("m"), any_text, awkward),
        "messages": st.one_of(st.just([USER]), st.lists(st.one_of(st.just(USER), awkward), max_size=2), awkward),
        "system": st.one_of(st.none(), any_text, awkward),
        "tools": st.one_of(st.just([TOOL]), st.lists(awkward, max_size=2), awkward),
        "tool_choice": st.one_of(st.none(), st.just(ToolChoice.AUTO), st.sampled_from(["auto", "required"]),
                                 awkward),
        "temperature": st.one_of(st.none(), st.floats(), st.integers(), awkward),
        "top_p": st.one_of(st.none(), st.floats(), awkward),
        "max_tokens": st.one_of(st.none(), st.integers(), awkward),
        "stop": st.one_of(st.just(()), st.lists(any_text, max_size=2), any_text, awkward),
        "response_format": st.one_of(st.just(ResponseFormat.JSON), awkward),
        "seed": st.one_of(st.none(), st.integers(), awkward),
        "reasoning": st.one_of(st.none(), st.just(ReasoningConfig("high")), st.just({"effort": "high"}), awkward),
        "tenant_id": st.one_of(st.none(), any_text, awkward),
        "metadata": st.one_of(st.just({}), st.dictionaries(any_text, any_text, max_size=2), json_like, awkward),
        "timeout": st.one_of(st.none(), st.floats(), st.integers(), awkward),
        "attempt_timeout": st.one_of(st.none(), st.floats(), awkward),
        "deadline": st.one_of(st.none(), st.floats(), awkward),
        "cache": st.one_of(st.just(CachePolicy()), st.just("auto"), awkward),
    }),
}


def _sendable(value: Any) -> None:
    """A constructed value's strings encode and its JSON-ish fields serialise."""
    if isinstance(value, CompletionRequest):
        for message in value.messages:
            _sendable(message)
        for tool in value.tools:
            json.dumps(dict(tool.parameters), allow_nan=False)
        for text in (value.model, value.system or "", value.tenant_id or "", *value.stop):
            text.encode("utf-8")
        for number in (value.temperature, value.top_p, value.timeout, value.attempt_timeout):
            assert number is None or math.isfinite(number)
    elif isinstance(value, Message):
        for part in value.parts:
            if isinstance(part, TextPart):
                part.text.encode("utf-8")
    elif isinstance(value, ToolSpec | ResponseFormat):
        schema = value.parameters if isinstance(value, ToolSpec) else value.schema
        if schema is not None:
            json.dumps(dict(schema), allow_nan=False)


# A valid value of every argument: most examples vary one argument, so that checks late in a
# constructor are reached (with every argument varied, an early one almost always fails first).
VALID: dict[str, Any] = {
    "text": "hello", "url": "https://x.test/a.png", "data": None, "media_type": None, "id": "c1", "name": "f",
    "arguments": {}, "raw_arguments": None, "call_id": "c1", "content": "r", "is_error": False, "signature": None,
    "provider": None, "redacted": False, "role": Role.USER, "parts": [TextPart("x")], "cache_breakpoint": False,
    "calls": [], "description": "", "parameters": {"type": "object"}, "mode": "auto", "kind": "text",
    "schema": None, "strict": True, "effort": "low", "budget_tokens": None, "include_text": True,
    "prompt_cache": "off", "response_ttl": None, "refresh": False, "store": True, "model": "m",
    "messages": [USER], "system": None, "tools": [TOOL], "tool_choice": None, "temperature": None, "top_p": None,
    "max_tokens": None, "stop": (), "response_format": ResponseFormat.TEXT, "seed": None, "reasoning": None,
    "tenant_id": None, "metadata": {}, "timeout": None, "attempt_timeout": None, "deadline": None,
    "cache": CachePolicy(),
}
VALID_FOR = {"ToolChoice": {"name": None}, "Message.user": {"content": "hi"}, "Message.assistant": {"text": "ok"}}


def _arguments(name: str) -> st.SearchStrategy[dict[str, Any]]:
    strategies = ARGS[name][1]
    valid = {arg: VALID_FOR.get(name, {}).get(arg, VALID.get(arg)) for arg in strategies}
    one = st.sampled_from(sorted(strategies)).flatmap(
        lambda arg: strategies[arg].map(lambda value: {**valid, arg: value}))
    return st.one_of(one, one, one, st.fixed_dictionaries(strategies))


@pytest.mark.parametrize("name", list(ARGS))
def test_constructors_construct_or_raise_invalid_request(name: str) -> None:
    ctor = ARGS[name][0]

    @SETTINGS
    @given(_arguments(name))
    def check(kwargs: dict[str, Any]) -> None:
        try:
            value = ctor(**kwargs)
        except InvalidRequest as exc:
            refused: InvalidRequest | None = exc
        else:
            refused = None
        if refused is not None:
            assert refused.field, f"{name}: InvalidRequest without a field: {refused}"
            return
        if isinstance(value, CompletionRequest):
            _sendable(value)

    check()


@pytest.mark.parametrize("kwargs", [
    {"messages": None}, {"tools": [{"name": "f", "parameters": {}}]}, {"tool_choice": "auto"},
    {"temperature": 10**400}, {"system": 123}, {"response_format": "json"}, {"reasoning": "high"},
    {"cache": {"prompt_cache": "auto"}}, {"tenant_id": object()}, {"messages": [Message.user("a\ud800b")]},
    {"metadata": {"k": 1}}, {"max_tokens": 10**400}, {"seed": 2**70},
], ids=lambda kw: next(iter(kw)))
def test_issue_findings_are_invalid_requests(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as info:
        CompletionRequest(**({"model": "m", "messages": [USER]} | kwargs))
    assert info.value.field


@pytest.mark.parametrize(("build", "field"), [
    (lambda: Message("bogus", (TextPart("x"),)), "messages"),  # type: ignore[arg-type]
    (lambda: ToolSpec(None), "tools"),  # type: ignore[arg-type]
    (lambda: ToolSpec("f", parameters={"type": "object", "properties": "notadict"}), "tools"),
    (lambda: ToolSpec("f", parameters={"type": "object", "required": 5}), "tools"),
    (lambda: ToolSpec("f", parameters=_nested(2000)), "tools"),
    (lambda: ResponseFormat.json_schema(_nested(100)), "response_format"),
    (lambda: ReasoningConfig(budget_tokens="100"), "reasoning"),  # type: ignore[arg-type]
    (lambda: ImagePart(url="file:///etc/passwd"), "image"),
    (lambda: ImagePart(url=b"https://x"), "image"),  # type: ignore[arg-type]
    (lambda: ImagePart(data=b"", media_type="image/png"), "image"),
    (lambda: ImagePart(data="abc", media_type="image/png"), "image"),  # type: ignore[arg-type]
    (lambda: ImagePart(data=b"abc", media_type="text/html"), "image"),
    (lambda: ImagePart(url="data:text/html;base64,PGI+"), "image"),
    (lambda: Message.user(""), "messages"),
    (lambda: Message.system(""), "messages"),
    (lambda: ToolChoice("tool", 5), "tool_choice"),  # type: ignore[arg-type]
    (lambda: CachePolicy(response_ttl=math.inf), "cache"),
    (lambda: ModelRef.parse(None), "model"),  # type: ignore[arg-type]
])
def test_each_finding_names_its_field(build: Callable[[], Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        build()
    assert info.value.field == field


def test_sendable_values_still_construct() -> None:
    image = ImagePart(url="data:image/png;base64,iVBORw0KGgo=")
    request = CompletionRequest(
        model="m", messages=[Message.user("look", image), Message.assistant("ok")], system="",
        tools=[ToolSpec("f", parameters={"type": "object", "properties": {"a": {"anyOf": [{"type": "string"},
                                                                                      {"type": "null"}]}},
                                         "required": ["a"], "additionalProperties": False})],
        response_format=ResponseFormat.json_schema(_nested(30)), seed=-1, max_tokens=2**31 - 1,
        metadata={"trace": "t"}, cache=CachePolicy("auto", 60, refresh=True))
    assert request.messages[0].parts[1] is image
    assert ImagePart(url="gs://bucket/cat.png").url and ImagePart(url="s3://bucket/cat.jpg").url
