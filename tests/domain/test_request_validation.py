from __future__ import annotations

import math

import pytest

from llmport.domain import (
    CompletionRequest,
    ImagePart,
    InvalidRequest,
    Message,
    ResponseFormat,
    Role,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    ToolSpec,
)

USER = [Message.user("hi")]
WEATHER = ToolSpec("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}})


def test_a_valid_request_keeps_its_values_as_tuples() -> None:
    req = CompletionRequest(model="fast", messages=USER, tools=[WEATHER], stop="END", temperature=0.2)
    assert req.messages == tuple(USER)
    assert req.tools == (WEATHER,)
    assert req.stop == ("END",)


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"model": ""}, "model", "model must be a non-empty string"),
        ({"messages": []}, "messages", "messages must not be empty"),
        ({"messages": [Message.system("only")]}, "messages", "only system messages"),
        ({"temperature": 2.5}, "temperature", "temperature must be in [0, 2], got 2.5"),
        ({"temperature": math.nan}, "temperature", "temperature must be in"),
        ({"top_p": 0}, "top_p", "top_p must be in (0, 1]"),
        ({"max_tokens": 0}, "max_tokens", "max_tokens must be an integer in [1, "),
        ({"stop": [""]}, "stop", "stop sequences must be non-empty strings"),
        ({"timeout": -1}, "timeout", "timeout must be a positive number"),
        ({"attempt_timeout": math.inf}, "attempt_timeout", "attempt_timeout must be a positive number"),
        ({"metadata": {"k": object()}}, "metadata", "metadata must be JSON-serialisable"),
        ({"max_tokens": True}, "max_tokens", "max_tokens must be an integer in [1, "),
        ({"seed": False}, "seed", "seed must be an integer"),
        ({"temperature": True}, "temperature", "temperature must be in"),
        ({"deadline": math.inf}, "deadline", "deadline must be a finite"),
        ({"deadline": "soon"}, "deadline", "deadline must be a finite"),
        ({"tool_choice": ToolChoice.REQUIRED}, "tool_choice", "needs at least one tool"),
        ({"tools": [WEATHER], "tool_choice": ToolChoice.tool("nope")}, "tool_choice",
         "unknown tool 'nope'; tools are: get_weather"),
        ({"tools": [WEATHER, WEATHER]}, "tools", "duplicate tool names: get_weather"),
    ],
)
def test_invalid_requests_fail_with_a_precise_message(kwargs: dict[str, object], field: str, fragment: str) -> None:
    base: dict[str, object] = {"model": "m", "messages": USER}
    with pytest.raises(InvalidRequest) as info:
        CompletionRequest(**(base | kwargs))  # type: ignore[arg-type]
    assert info.value.field == field
    assert fragment in str(info.value)


def test_tool_result_needs_an_earlier_matching_call() -> None:
    with pytest.raises(InvalidRequest, match="call id 'c9' has no matching tool call"):
        CompletionRequest(model="m", messages=[Message.user("hi"), Message.tool_result("c9", "42")])
    call = ToolCallPart("c1", "get_weather", {"city": "Oslo"})
    ok = CompletionRequest(
        model="m",
        messages=[Message.user("hi"), Message.assistant(tool_calls=[call]), Message.tool_result("c1", "12°C")],
    )
    assert ok.messages[-1].parts == (ToolResultPart("c1", "12°C"),)


def test_duplicate_tool_call_ids_are_rejected() -> None:
    call = ToolCallPart("c1", "f", {})
    with pytest.raises(InvalidRequest, match="duplicate tool call id 'c1'"):
        CompletionRequest(model="m", messages=[Message.user("x"), Message.assistant(tool_calls=[call, call])])


def test_tool_call_arguments_must_be_json() -> None:
    with pytest.raises(InvalidRequest, match="tool call arguments are not JSON-serialisable"):
        ToolCallPart("c1", "f", {"when": object()})
    with pytest.raises(InvalidRequest, match="must be a JSON object"):
        ToolCallPart("c1", "f", ["not", "an", "object"])  # type: ignore[arg-type]


def test_tool_specs_are_validated() -> None:
    with pytest.raises(InvalidRequest, match="tool name 'bad name'"):
        ToolSpec("bad name")
    with pytest.raises(InvalidRequest, match="must be a JSON schema of type 'object'"):
        ToolSpec("f", parameters={"type": "string"})
    with pytest.raises(InvalidRequest, match="not JSON-serialisable"):
        ToolSpec("f", parameters={"type": "object", "default": {1, 2}})


def test_message_parts_must_fit_the_role() -> None:
    with pytest.raises(InvalidRequest, match="a system message cannot hold ImagePart"):
        Message(Role.SYSTEM, (ImagePart(url="https://x/y.png"),))
    with pytest.raises(InvalidRequest, match="a user message cannot hold ToolCallPart"):
        Message(Role.USER, (ToolCallPart("c", "f", {}),))
    with pytest.raises(InvalidRequest, match="at least one part"):
        Message(Role.USER, ())
    assert Message.user("look", ImagePart(data=b"\x89PNG", media_type="image/png")).text == "look"


def test_images_need_exactly_one_source_and_a_media_type() -> None:
    with pytest.raises(InvalidRequest, match="exactly one of url or data"):
        ImagePart()
    with pytest.raises(InvalidRequest, match="media_type"):
        ImagePart(data=b"abc")
    assert "3 bytes" in repr(ImagePart(data=b"abc", media_type="image/png"))


def test_response_formats() -> None:
    with pytest.raises(InvalidRequest, match="needs a schema"):
        ResponseFormat("json_schema")
    with pytest.raises(InvalidRequest, match="takes no schema"):
        ResponseFormat("json", schema={"type": "object"})
    fmt = ResponseFormat.json_schema({"type": "object", "properties": {}}, name="answer")
    assert fmt.kind == "json_schema" and fmt.name == "answer"


def test_system_text_joins_field_and_messages() -> None:
    req = CompletionRequest(model="m", system="Be brief.", messages=[Message.system("Answer in French."),
                                                                      Message.user("hi")])
    assert req.system_text == "Be brief.\n\nAnswer in French."
    assert CompletionRequest(model="m", messages=USER).system_text is None


def test_assistant_constructor_orders_reasoning_text_and_calls() -> None:
    from llmport.domain import ReasoningPart

    msg = Message.assistant("sure", tool_calls=[ToolCallPart("c", "f", {})], reasoning=[ReasoningPart("think")])
    assert [type(p) for p in msg.parts] == [ReasoningPart, TextPart, ToolCallPart]
