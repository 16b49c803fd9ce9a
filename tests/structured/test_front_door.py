"""Structured output from the front door: a host imports it from ``llmport.composition`` only."""

from __future__ import annotations

import json

import llmport.composition as front
from llmport.composition import CompletionRequest, FakeLLM, Message, structured

from .models import Person


def test_the_names_are_the_layers_own() -> None:
    from llmport.adapters import pydantic_output
    from llmport.domain import StructuredOutputInvalid
    from llmport.ports import structured as core

    assert front.structured is pydantic_output.structured and front.PydanticOutput is pydantic_output.PydanticOutput
    assert front.StructuredLLM is core.StructuredLLM and front.Structured is core.Structured
    assert front.StructuredUpdate is core.StructuredUpdate and front.OutputValidator is core.OutputValidator
    assert front.OutputInvalid is core.OutputInvalid and front.StructuredOutputInvalid is StructuredOutputInvalid


async def test_a_host_gets_a_validated_object() -> None:
    people = structured(FakeLLM(json.dumps({"name": "Ada", "age": 36})), Person)
    result = await people.complete(CompletionRequest(model="fast", messages=[Message.user("Who was Ada?")]))
    assert result.value == Person(name="Ada", age=36)
