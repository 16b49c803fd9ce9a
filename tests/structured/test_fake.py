"""Structured output over FakeLLM and the real policy: validation, repairs, partial streams, typed failures."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from llmport.adapters.pydantic_output import PydanticOutput, structured
from llmport.adapters.testing.fake import FakeLLM, FakeReply
from llmport.domain import (
    Completion,
    CompletionRequest,
    InvalidRequest,
    Message,
    Role,
    StopReason,
    StructuredOutputInvalid,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from llmport.ports import OutputInvalid, StructuredLLM, StructuredUpdate

from .models import Person, Tags

ALICE = {"name": "Alice", "age": 33, "addresses": [{"city": "Paris", "zip": None}]}


def ask(text: str = "Who is Alice?") -> CompletionRequest:
    return CompletionRequest(model="m", messages=[Message.user(text)])


def priced(text: str, cost: str | None, tokens: int = 10) -> Completion:
    completion = Completion((TextPart(text),), StopReason("end_turn", "end_turn"), Usage(tokens, tokens),
                            provider="fake", model="m")
    return completion.with_cost(Decimal(cost) if cost is not None else None, None)


async def collect(s: StructuredLLM[Any], request: CompletionRequest) -> list[StructuredUpdate[Any]]:
    async with s.stream(request) as updates:
        return [u async for u in updates]


async def test_a_valid_answer_is_a_validated_instance_sent_as_native_json_schema() -> None:
    fake = FakeLLM(json.dumps(ALICE))
    result = await structured(fake, Person).complete(ask())
    assert result.value == Person.model_validate(ALICE) and isinstance(result.value, Person)
    assert result.attempts == (result.completion,) and result.completion.text == json.dumps(ALICE)
    fmt = fake.requests[0].response_format
    assert (fmt.kind, fmt.name, fmt.strict) == ("json_schema", "Person", True)
    assert fmt.schema == Person.model_json_schema() and not fake.requests[0].tools


async def test_an_invalid_answer_is_repaired_with_its_validation_errors() -> None:
    fake = FakeLLM(priced('{"name": "Alice", "age": -1}', "0.01", 10), priced(json.dumps(ALICE), "0.02", 25))
    result = await structured(fake, Person).complete(ask())
    assert result.value.age == 33 and len(result.attempts) == 2
    assert result.usage == Usage(35, 35) and result.cost == Decimal("0.03")
    repair = fake.requests[1].messages
    assert repair[:1] == fake.requests[0].messages
    assert repair[1] == Message.assistant('{"name": "Alice", "age": -1}')
    assert repair[2].role is Role.USER and "age: Input should be greater than or equal to 0" in repair[2].text
    assert "-1" not in repair[2].text.split("\n", 1)[1]  # errors name the path, never echo the input value


async def test_no_valid_answer_within_the_repairs_is_a_typed_error_with_the_last_raw_text() -> None:
    fake = FakeLLM(priced("not json", "0.01"), priced('{"name": 3}', "0.01"), priced('{"age": 2}', "0.01"))
    with pytest.raises(StructuredOutputInvalid) as caught:
        await structured(fake, Person).complete(ask())  # two repairs by default
    error = caught.value
    assert not isinstance(error, ValidationError) and error.__cause__ is None and error.__context__ is None
    assert error.attempts == 3 and len(fake.requests) == 3
    assert error.raw_text == '{"age": 2}' and error.errors == ("name: Field required",)
    assert error.request_cost == Decimal("0.03") and not error.retryable and not error.failover
    assert "'Person' after 3 attempt(s): name: Field required" in str(error)


async def test_the_cost_counts_every_attempt_of_each_answer_where_known() -> None:
    failed_over = priced('{"name": "x"}', "0.01").with_cost(Decimal("0.01"), Decimal("0.05"))
    result = await structured(FakeLLM(failed_over, priced(json.dumps(ALICE), "0.02")), Person).complete(ask())
    assert result.cost == Decimal("0.07")  # 0.05 for the first request (a failover included), 0.02 for the repair


async def test_max_repairs_zero_asks_once_and_an_unknown_cost_stays_unknown() -> None:
    fake = FakeLLM(priced("{}", None), json.dumps(ALICE))
    with pytest.raises(StructuredOutputInvalid) as caught:
        await structured(fake, Person, max_repairs=0).complete(ask())
    assert caught.value.attempts == 1 and len(fake.requests) == 1 and caught.value.request_cost is None


async def test_a_truncated_answer_says_it_was_cut() -> None:
    cut = Completion((TextPart('{"name": "Al'),), StopReason("max_tokens", "length"))
    with pytest.raises(StructuredOutputInvalid) as caught:
        await structured(FakeLLM(cut), Person, max_repairs=0).complete(ask())
    assert caught.value.errors[-1] == "the answer was cut at max_tokens"


async def test_a_fenced_json_answer_is_accepted() -> None:
    result = await structured(FakeLLM("```json\n" + json.dumps(ALICE) + "\n```"), Person).complete(ask())
    assert result.value.name == "Alice"


async def test_tool_mode_forces_a_tool_call_and_repairs_through_a_tool_result() -> None:
    bad = Completion((ToolCallPart("c1", "Person", {"name": "Al"}),), StopReason("tool_use", "tool_use"))
    good = Completion((ToolCallPart("c2", "Person", ALICE),), StopReason("tool_use", "tool_use"))
    fake = FakeLLM(bad, good)
    result = await structured(fake, Person, mode="tool").complete(ask())
    assert result.value == Person.model_validate(ALICE)
    first = fake.requests[0]
    assert first.response_format.kind == "text" and first.tool_choice is not None
    assert (first.tool_choice.mode, first.tool_choice.name) == ("tool", "Person")
    assert [t.name for t in first.tools] == ["Person"] and first.tools[0].parameters["title"] == "Person"
    call_turn, result_turn = fake.requests[1].messages[1:]
    assert call_turn.parts == (bad.parts[0],)
    part = result_turn.parts[0]
    assert isinstance(part, ToolResultPart) and part.call_id == "c1" and part.is_error
    assert "age: Field required" in part.content


async def test_tool_mode_without_the_call_is_a_validation_failure() -> None:
    with pytest.raises(StructuredOutputInvalid) as caught:
        await structured(FakeLLM("I would rather talk"), Person, mode="tool", max_repairs=0).complete(ask())
    assert caught.value.errors == ("the answer did not call the tool 'Person'",)
    assert caught.value.raw_text == "I would rather talk"


async def test_a_stream_yields_partial_objects_then_the_validated_one() -> None:
    answer = json.dumps({"title": "Fruit", "tags": ["apple", "banana", "cherry"]})
    fake = FakeLLM(FakeReply(answer, chunk_size=4))
    updates = await collect(structured(fake, Tags), ask())
    partial = [u for u in updates if not u.done]
    assert len(partial) >= 4 and all(isinstance(u.value, Tags) and u.attempt == 1 for u in updates)
    assert [len(u.value.tags) for u in partial] == sorted(len(u.value.tags) for u in partial)  # grows
    assert Tags(title="F") in [u.value for u in partial]  # unfinished strings show
    assert len({u.value.model_dump_json() for u in partial}) == len(partial)  # only changes are yielded
    final = updates[-1]
    assert final.done and final.value == Tags(title="Fruit", tags=["apple", "banana", "cherry"])
    assert final.result is not None and final.result.completion.text == answer and fake.open_streams == 0


async def test_a_stream_repairs_and_starts_the_next_attempt_over() -> None:
    fake = FakeLLM(FakeReply('{"name": "Bob", "age": -5}', chunk_size=6), FakeReply(json.dumps(ALICE), chunk_size=6))
    updates = await collect(structured(fake, Person), ask())
    assert {u.attempt for u in updates if not u.done} <= {1, 2} and updates[-1].attempt == 2
    assert updates[-1].done and updates[-1].value.name == "Alice"
    assert updates[-1].result is not None and len(updates[-1].result.attempts) == 2
    assert "age: Input should be greater than or equal to 0" in fake.requests[1].messages[-1].text


async def test_a_stream_in_tool_mode_parses_the_call_arguments() -> None:
    call = Completion((TextPart("thinking aloud "), ToolCallPart("c1", "Tags", {"title": "x", "tags": ["a", "b"]})),
                      StopReason("tool_use", "tool_use"))
    updates = await collect(structured(FakeLLM(FakeReply(call, chunk_size=3)), Tags, mode="tool"), ask())
    assert updates[-1].done and updates[-1].value == Tags(title="x", tags=["a", "b"])
    assert len([u for u in updates if not u.done]) >= 2


async def test_a_stream_that_never_validates_raises_the_typed_error() -> None:
    fake = FakeLLM(FakeReply("[1, 2"), FakeReply("nope"))
    with pytest.raises(StructuredOutputInvalid) as caught:
        await collect(structured(fake, Person, max_repairs=1), ask())
    assert caught.value.attempts == 2 and caught.value.raw_text == "nope"


async def test_leaving_a_stream_early_closes_the_upstream_stream() -> None:
    fake = FakeLLM(FakeReply(json.dumps({"title": "long", "tags": ["x"] * 50}), chunk_size=4))
    async with structured(fake, Tags).stream(ask()) as updates:
        async for _ in updates:
            assert fake.open_streams == 1
            break
    assert fake.open_streams == 0 and len(fake.requests) == 1


async def test_behind_the_real_policy() -> None:
    fake = FakeLLM('{"name": "x"}', json.dumps(ALICE))
    result = await structured(fake.as_policy(), Person).complete(ask())
    assert result.value.name == "Alice" and len(fake.requests) == 2


async def test_types_that_are_not_objects_are_wrapped_and_unwrapped() -> None:
    output = PydanticOutput(list[int])
    assert output.schema["type"] == "object" and output.schema["required"] == ["result"]
    fake = FakeLLM('{"result": ["x"]}', '{"result": [1, 2, 3]}')
    result = await structured(fake, output).complete(ask())
    assert result.value == [1, 2, 3]
    assert "- 0: Input should be a valid integer" in fake.requests[1].messages[-1].text  # no "result." prefix
    assert output.validate_partial('{"result": [4, 5') == [4, 5] and output.validate_partial("  ") is None


class Scores:
    """A validator without pydantic: any JSON schema + a validating function."""

    name = "scores"
    schema: Mapping[str, Any] = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

    def validate(self, text: str) -> int:
        try:
            data = json.loads(text)
        except ValueError:
            raise OutputInvalid(["not JSON"]) from None
        if not isinstance(data, dict) or not isinstance(data.get("n"), int):
            raise OutputInvalid(["n: an integer is required"])
        return int(data["n"])

    def validate_partial(self, text: str) -> int | None:
        return None


async def test_any_validator_works_without_pydantic() -> None:
    fake = FakeLLM('{"n": "x"}', '{"n": 7}')
    result = await StructuredLLM(fake, Scores()).complete(ask())
    assert result.value == 7 and "- n: an integer is required" in fake.requests[1].messages[-1].text
    assert fake.requests[0].response_format.schema == Scores.schema
    assert (await structured(FakeLLM('{"n": 1}'), Scores()).complete(ask())).value == 1


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"mode": "json"}, "unknown structured output mode"),
    ({"max_repairs": -1}, "max_repairs"),
    ({"max_repairs": True}, "max_repairs"),
    ({"max_repairs": 11}, "max_repairs"),
])
def test_bad_options_are_invalid_requests(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidRequest, match=says):
        structured(FakeLLM(), Person, **kwargs)


async def test_what_cannot_be_asked_is_an_invalid_request_before_any_call() -> None:
    class NotAType:
        pass

    with pytest.raises(InvalidRequest, match="no JSON schema can be made"):
        PydanticOutput(NotAType)
    fake = FakeLLM()
    clash = CompletionRequest(model="m", messages=[Message.user("hi")],
                              tools=[__import__("llmport.domain", fromlist=["ToolSpec"]).ToolSpec("Person")])
    with pytest.raises(InvalidRequest, match="already has a tool named 'Person'"):
        await structured(fake, Person, mode="tool").complete(clash)

    class Rootless(Scores):
        schema: Mapping[str, Any] = {"type": "array"}

    with pytest.raises(InvalidRequest, match="object at its root"):
        await StructuredLLM(fake, Rootless()).complete(ask())
    assert fake.requests == []


def test_names_are_made_safe_for_every_vendor() -> None:
    assert PydanticOutput(dict[str, int]).name == "dict"
    assert PydanticOutput(Person, name="a person!").name == "a_person_"
    assert PydanticOutput(Person, name="x" * 80).name == "x" * 64
    assert repr(PydanticOutput(Person)) == "PydanticOutput(Person)"


async def test_the_errors_sent_back_and_raised_are_bounded() -> None:
    class Many(BaseModel):
        values: list[int]

    bad = json.dumps({"values": [f"x{i}" for i in range(25)]})
    fake = FakeLLM(bad, bad)
    with pytest.raises(StructuredOutputInvalid) as caught:
        await structured(fake, Many, max_repairs=1).complete(ask())
    feedback = fake.requests[1].messages[-1].text
    assert [line for line in feedback.splitlines() if line.startswith("- values.")] == [
        f"- values.{i}: Input should be a valid integer, unable to parse string as an integer" for i in range(20)]
    assert "- ... and 5 more" in feedback and len(caught.value.errors) == 25
    assert str(caught.value).count("values.") == 3 and "; ...  (fake/m)" not in str(caught.value)
    assert "values.2: Input should be a valid integer, unable to parse string as an integer; ..." in str(caught.value)
    twenty = json.dumps({"values": [f"x{i}" for i in range(20)]})
    fake = FakeLLM(twenty, json.dumps({"values": [1]}))
    await structured(fake, Many).complete(ask())
    assert "more" not in fake.requests[1].messages[-1].text


async def test_four_errors_are_cut_after_three() -> None:
    class Four(BaseModel):
        a: int
        b: int
        c: int
        d: int

    with pytest.raises(StructuredOutputInvalid) as caught:
        await structured(FakeLLM("{}"), Four, max_repairs=0).complete(ask())
    assert str(caught.value).endswith("c: Field required; ... (fake/m)") and "d: Field" not in str(caught.value)


def test_a_validator_class_is_not_a_validator_instance() -> None:
    with pytest.raises(InvalidRequest, match="no JSON schema can be made"):
        structured(FakeLLM(), Scores)  # the class, not an instance: taken as an output type pydantic refuses


def test_a_fenced_answer_that_does_not_validate_reports_its_errors() -> None:
    with pytest.raises(OutputInvalid) as caught:
        PydanticOutput(Person).validate('```json\n{"name": "Al"}\n```')
    assert caught.value.errors == ("age: Field required",)


async def test_three_errors_are_shown_whole() -> None:
    class Three(BaseModel):
        a: int
        b: int
        c: int

    with pytest.raises(StructuredOutputInvalid) as caught:
        await structured(FakeLLM("{}"), Three, max_repairs=0).complete(ask())
    assert str(caught.value).endswith("a: Field required; b: Field required; c: Field required (fake/m)")


def test_output_invalid_reads_as_its_errors() -> None:
    assert str(OutputInvalid(["a: bad", "b: worse"])) == "a: bad; b: worse"
    assert OutputInvalid([]).errors == ("the answer does not validate",)


async def test_defaults_of_the_core_helper() -> None:
    fake = FakeLLM('{"n": 1}')
    plain = StructuredLLM(fake, Scores(), mode="tool")
    with pytest.raises(StructuredOutputInvalid) as caught:  # text, not the tool's call
        await plain.complete(ask())
    assert caught.value.attempts == 3 and (plain.max_repairs, plain.strict) == (2, True)
    assert fake.requests[0].tools[0].description == "Respond with the answer as this tool's input."
    custom = StructuredLLM(FakeLLM(), Scores(), mode="tool", max_repairs=10, strict=False, description="Fill it.")
    assert custom.max_repairs == 10 and custom.description == "Fill it."
    await StructuredLLM(fake.add('{"n": 2}'), Scores()).complete(ask())
    assert fake.requests[-1].response_format.strict is True
