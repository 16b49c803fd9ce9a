"""The emulator enforces the vendors' schema rules (so the contract suite catches a wrong conversion),
answers schema-shaped JSON, and serves the OpenAI wire with and without ``/v1``."""

from __future__ import annotations

import json
from typing import Any, Literal

import anthropic
import httpx2
import openai
import pytest
from pydantic import BaseModel

from llmport.adapters.pydantic_output import PydanticOutput
from llmport.adapters.strict_schema import to_closed_objects, to_openai_strict
from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.schemas import sample

from .models import Person, Tags

RAW = Person.model_json_schema()  # pydantic's schema as is: neither closed nor all-required


@pytest.mark.parametrize("suffix", ["", "/v1"])
async def test_the_openai_sdk_works_at_both_base_urls(emu: VendorEmulator, suffix: str) -> None:
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=emu.url + suffix, max_retries=0)
    try:
        chat = await client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
        response = await client.responses.create(model="gpt-test", input="hi")
        count = await client.responses.input_tokens.count(model="gpt-test", input="hi")
    finally:
        await client.close()
    assert "You said: hi" in (chat.choices[0].message.content or "") and "You said: hi" in response.output_text
    assert count.input_tokens > 0
    assert [e.path for e in emu.journal.entries()] == [f"{suffix}/chat/completions", f"{suffix}/responses",
                                                       f"{suffix}/responses/input_tokens"]


async def test_openai_strict_mode_rejects_what_its_rules_reject(emu: VendorEmulator) -> None:
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=emu.url, max_retries=0)

    async def chat(schema: dict[str, Any], strict: bool = True) -> str:
        fmt: Any = {"type": "json_schema", "json_schema": {"name": "Person", "schema": schema, "strict": strict}}
        reply = await client.chat.completions.create(model="gpt-test", response_format=fmt,
                                                     messages=[{"role": "user", "content": "hi"}])
        return reply.choices[0].message.content or ""

    async def responses(schema: dict[str, Any]) -> str:
        fmt: Any = {"format": {"type": "json_schema", "name": "Person", "schema": schema, "strict": True}}
        return (await client.responses.create(model="gpt-test", input="hi", text=fmt)).output_text

    try:
        for send in (chat, responses):
            with pytest.raises(openai.BadRequestError, match="'additionalProperties' is required to be supplied"):
                await send(RAW)
            half = {**RAW, "additionalProperties": False, "$defs": to_openai_strict(RAW)["$defs"]}
            with pytest.raises(openai.BadRequestError, match=r"In context=\(\), 'required' .* Missing 'addresses'"):
                await send(half)
            with pytest.raises(openai.BadRequestError, match="'allOf' is not permitted"):
                await send({**to_openai_strict(RAW), "allOf": []})
            with pytest.raises(openai.BadRequestError, match="type: \"object\""):
                await send({"type": "array", "items": {"type": "string"}})
            answer = json.loads(await send(to_openai_strict(RAW)))
            assert Person.model_validate(answer)  # schema-shaped, and it validates
        assert Person.model_validate_json(await chat(RAW, strict=False))  # not strict: taken as is
        tool: Any = {"type": "function", "function": {"name": "f", "parameters": {"properties": {}}}}
        with pytest.raises(openai.BadRequestError, match="input schema must have \"type\": \"object\""):
            await client.chat.completions.create(model="gpt-test", tools=[tool],
                                                 messages=[{"role": "user", "content": "hi"}])
    finally:
        await client.close()


async def test_anthropic_structured_outputs_and_tools_rules(emu: VendorEmulator) -> None:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=emu.url, max_retries=0)
    message: Any = [{"role": "user", "content": "hi"}]

    async def output(schema: dict[str, Any]) -> str:
        reply = await client.messages.create(model="claude-test", max_tokens=100, messages=message,
                                             output_config={"format": {"type": "json_schema", "schema": schema}})
        return "".join(b.text for b in reply.content if b.type == "text")

    try:
        with pytest.raises(anthropic.BadRequestError, match="additionalProperties to false"):
            await output(RAW)
        with pytest.raises(anthropic.BadRequestError, match="'minimum' is not supported"):
            await output(to_closed_objects(RAW, "test"))  # closed, but `age >= 0` is not a supported keyword
        with pytest.raises(anthropic.BadRequestError, match="minItems values other than 0 or 1"):
            await output({"type": "array", "minItems": 2, "items": {"type": "string"}})
        assert Person.model_validate_json(await output(anthropic.transform_schema(RAW)))  # the SDK's conversion
        with pytest.raises(anthropic.BadRequestError, match=r"tools\.0\.custom\.input_schema"):
            await client.messages.create(model="claude-test", max_tokens=100, messages=message,
                                         tools=[{"name": "f", "input_schema": {"properties": {}}}])  # type: ignore[typeddict-item]
        forced = await client.messages.create(model="claude-test", max_tokens=100, messages=message,
                                              tools=[{"name": "Person", "input_schema": RAW}],  # type: ignore[typeddict-item]
                                              tool_choice={"type": "tool", "name": "Person"})
    finally:
        await client.close()
    block = forced.content[0]
    assert block.type == "tool_use" and Person.model_validate(block.input)


def post(emu: VendorEmulator, path: str, body: dict[str, Any], **headers: str) -> httpx2.Response:
    return httpx2.post(emu.url + path, json=body, headers=headers, timeout=10)


GEMINI = "/v1beta/models/gemini-test:generateContent"
VERTEX = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-test:generateContent"


def gemini_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"responseMimeType": "application/json", "responseSchema": schema}}


@pytest.mark.parametrize(("schema", "says"), [
    (RAW, 'Unknown name "$defs"'),
    ({"type": "OBJECT", "properties": {"a": {"$ref": "#/$defs/A"}}}, 'Unknown name "$ref"'),
    ({"type": "OBJECT", "properties": {"a": {"type": "STRING", "const": "x"}}}, 'Unknown name "const"'),
    ({"type": ["STRING", "NULL"]}, "the type must be one of"),
    ({"type": "NULL"}, "the type must be one of"),
    ({"type": "OBJECT", "additionalProperties": False}, "additionalProperties is not supported"),
])
def test_gemini_response_schema_is_the_openapi_subset(emu: VendorEmulator, schema: dict[str, Any],
                                                     says: str) -> None:
    response = post(emu, GEMINI, gemini_body(schema), **{"x-goog-api-key": "k"})
    assert response.status_code == 400 and says in response.json()["error"]["message"]


def test_gemini_takes_snake_case_fields_and_vertex_takes_additional_properties(emu: VendorEmulator) -> None:
    schema = {"type": "OBJECT", "properties": {"title": {"type": "STRING"}, "tags": {"type": "ARRAY", "items": {
        "type": "STRING"}, "min_items": 1}}, "property_ordering": ["title", "tags"]}
    ok = post(emu, GEMINI, gemini_body(schema), **{"x-goog-api-key": "k"})
    assert ok.status_code == 200
    text = ok.json()["candidates"][0]["content"]["parts"][0]["text"]
    assert Tags.model_validate_json(text) == Tags(title="text", tags=["text"])
    closed = {**schema, "additionalProperties": False}
    assert post(emu, VERTEX, gemini_body(closed), authorization="Bearer t").status_code == 200
    both = gemini_body(schema)
    both["generationConfig"]["responseJsonSchema"] = RAW
    assert "cannot both be set" in post(emu, GEMINI, both, **{"x-goog-api-key": "k"}).json()["error"]["message"]


def converse(schema: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "outputConfig": {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
                "name": "Person", "schema": schema if isinstance(schema, str) else json.dumps(schema)}}}}}


def test_bedrock_structured_output_wants_closed_objects(emu: VendorEmulator) -> None:
    path = "/model/anthropic.claude-test/converse"
    auth = {"authorization": "AWS4-HMAC-SHA256 Credential=x"}
    assert "additionalProperties to false" in post(emu, path, converse(RAW), **auth).json()["message"]
    assert "must be a JSON schema as a string" in post(emu, path, converse("{not json"), **auth).json()["message"]
    ok = post(emu, path, converse(to_closed_objects(RAW, "Bedrock")), **auth)
    assert ok.status_code == 200
    assert Person.model_validate_json(ok.json()["output"]["message"]["content"][0]["text"])
    tools = {"messages": [{"role": "user", "content": [{"text": "hi"}]}],
             "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"properties": {}}}}}]}}
    assert "toolConfig.tools.0.toolSpec.inputSchema" in post(emu, path, tools, **auth).json()["message"]


class Kind(BaseModel):
    kind: Literal["a", "b"]
    when: str
    score: float | None = None


@pytest.mark.parametrize("output_type", [Person, Tags, Kind, list[Person], dict[str, int], tuple[int, str]])
def test_sampled_answers_validate(output_type: Any) -> None:
    output = PydanticOutput(output_type)
    assert output.validate(json.dumps(sample(output.schema))) is not None  # the raw pydantic schema
    if output_type != dict[str, int]:  # no strict form: a free-form mapping
        assert output.validate(json.dumps(sample(to_openai_strict(output.schema)))) is not None
