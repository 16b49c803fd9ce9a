"""The cache codec's edges and the pipeline step base: what a cached answer keeps and refuses, and
what ``LLMStep``/``stream_after`` pass along."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import Completion, CompletionRequest, Message, StopReason, TextDelta, TextPart
from llmport.ports.cache_codec import CacheDataError, as_cached, decode, encode
from llmport.ports.pipeline import LLMStep, evolve, stream_after


def answer(**values: object) -> Completion:
    return Completion((TextPart("hi"),), StopReason("end_turn"), **values)  # type: ignore[arg-type]


def test_a_decoded_answer_costs_exactly_nothing() -> None:
    got = decode("k", encode("k", answer(cost=Decimal("0.25"), request_cost=Decimal("0.5"))))
    assert got.cached and got.cost == Decimal(0) and got.request_cost == Decimal(0)


def test_extras_survive_the_round_trip_and_bad_extras_are_a_miss() -> None:
    extras = {"search_results": [{"url": "https://example.com", "title": "t"}]}
    assert decode("k", encode("k", answer(extras=extras))).extras == extras
    assert "x" not in json.loads(encode("k", answer()))  # no extras, no field
    doc = json.loads(encode("k", answer(extras=extras)))
    doc["x"] = ["not", "a", "mapping"]
    with pytest.raises(CacheDataError, match="bad extras"):
        decode("k", json.dumps(doc).encode())


@pytest.mark.parametrize("part", [
    ["c", "only-two"],  # a text part's length with a tool call's tag
    ["r", "id", "name", {"a": 1}, None],  # a tool call's shape with a reasoning tag
    ["t", "a", "b"],
])
def test_a_part_of_the_wrong_shape_is_a_miss(part: list[object]) -> None:
    doc = json.loads(encode("k", answer()))
    doc["p"] = [part]
    with pytest.raises(CacheDataError):
        decode("k", json.dumps(doc).encode())


def test_as_cached_marks_and_zeroes_only_what_is_not_already_so() -> None:
    served = answer(cached=True, cost=Decimal(0), request_cost=Decimal(0))
    assert as_cached(served) is served  # nothing to change: no copy
    for values in ({"cached": False, "cost": Decimal(0), "request_cost": Decimal(0)},
                   {"cached": True, "cost": Decimal(3), "request_cost": Decimal(0)},
                   {"cached": True, "cost": Decimal(0), "request_cost": Decimal(3)}):
        got = as_cached(answer(**values))
        assert (got.cached, got.cost, got.request_cost) == (True, Decimal(0), Decimal(0)), values


def test_a_step_without_its_inner_port_has_no_attributes_instead_of_recursing() -> None:
    half_built = LLMStep.__new__(LLMStep)
    assert not hasattr(half_built, "inner")
    assert not hasattr(half_built, "budget_status")


async def test_a_step_delegates_attributes_and_closing() -> None:
    inner = FakeLLM("ok")
    step = LLMStep(inner)
    assert step.requests is inner.requests  # the next port's own attributes
    await step.aclose()
    assert inner.closed


async def test_stream_after_streams_the_prepared_request() -> None:
    inner = FakeLLM("streamed answer")
    request = CompletionRequest(model="m", messages=[Message.user("hi")])

    async def prepare() -> CompletionRequest:
        return evolve(request, system="prepared")

    async with stream_after(prepare, inner) as events:
        texts = [e.text async for e in _texts(events)]
    assert "".join(texts) == "streamed answer"
    assert [r.system for r in inner.requests] == ["prepared"]


async def _texts(events: AsyncIterator[object]) -> AsyncIterator[TextDelta]:
    async for event in events:
        if isinstance(event, TextDelta):
            yield event
