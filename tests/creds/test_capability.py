"""Routing by capability: routes that cannot serve a request are skipped before any call, each
skip reported with its reason; none left is an InvalidRequest naming every reason."""

from __future__ import annotations

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import CompletionRequest, InvalidRequest, Message, StreamEnd
from llmport.domain.catalog import ModelInfo
from llmport.domain.messages import ImagePart
from llmport.domain.request import ResponseFormat
from llmport.domain.tools import ToolSpec
from llmport.ports import FailoverPolicy, RecordingObserver
from llmport.ports.capability import servable, skip_reason
from llmport.ports.routing import Route

IMAGE = ImagePart(url="https://example.test/cat.png")


def route(name: str, **facts: object) -> tuple[Route, FakeLLM]:
    fake = FakeLLM(f"from {name}", name=name)
    return Route(name, "m", fake, info=ModelInfo(name, "m", **facts)), fake  # type: ignore[arg-type]


def request(*parts: str | ImagePart, **fields: object) -> CompletionRequest:
    return CompletionRequest(model="smart", messages=[Message.user(*(parts or ("hi",)))], **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("facts", "req", "reason"), [
    ({"supports_images": False}, request("look", IMAGE), "the request has images; the model takes text only"),
    ({"supports_tools": False}, request(tools=[ToolSpec("lookup")]),
     "the request has tools; the model has no tool calling"),
    ({"supports_json_schema": False},
     request(response_format=ResponseFormat("json_schema", {"type": "object"})),
     "the request asks for JSON schema output; the model does not support it"),
    ({"max_output_tokens": 100}, request(max_tokens=101),
     "max_tokens 101 is above the model's output limit 100"),
    ({"context_window": 10}, request("x" * 44), "the estimated input (11 tokens) exceeds the context window 10"),
])
def test_each_reason(facts: dict[str, object], req: CompletionRequest, reason: str) -> None:
    assert skip_reason(route("r", **facts)[0], req) == reason


@pytest.mark.parametrize(("facts", "req"), [
    ({"supports_images": True, "supports_tools": True}, request("look", IMAGE, tools=[ToolSpec("t")])),
    ({}, request("look", IMAGE, tools=[ToolSpec("t")], max_tokens=10**6)),  # unknown facts never skip
    ({"supports_images": False, "supports_tools": False, "supports_json_schema": False}, request("text only")),
    ({"max_output_tokens": 100}, request(max_tokens=100)),
    ({"max_output_tokens": 100}, request()),
    ({"context_window": 11}, request("x" * 44)),
])
def test_servable_requests_are_not_skipped(facts: dict[str, object], req: CompletionRequest) -> None:
    assert skip_reason(route("r", **facts)[0], req) is None


def test_a_route_without_facts_is_kept() -> None:
    bare = Route("p", "m", FakeLLM())
    assert servable([bare], request("look", IMAGE), "smart") == ((bare,), ())


async def test_the_policy_skips_and_reports_before_calling() -> None:
    text_only, text_fake = route("text", supports_images=False)
    vision, vision_fake = route("vision", supports_images=True)
    observer = RecordingObserver()
    policy = FailoverPolicy.of(text_only, vision, aliases={"smart": [text_only, vision]}, observer=observer)
    answer = await policy.complete(request("what is this", IMAGE))
    assert answer.text == "from vision"
    assert text_fake.requests == []
    assert len(vision_fake.requests) == 1
    skipped = [e for e in observer.attempts if e.outcome == "skipped"]
    assert [(e.route, e.detail, e.target) for e in skipped] == [
        ("text/m", "the request has images; the model takes text only", "smart")]
    # a request the text-only route can serve goes to it first, nothing skipped
    observer.attempts.clear()
    assert (await policy.complete(request("plain"))).text == "from text"
    assert [e for e in observer.attempts if e.outcome == "skipped"] == []


async def test_no_route_can_serve_is_an_invalid_request_naming_each_reason() -> None:
    small, small_fake = route("small", max_output_tokens=100)
    blind, blind_fake = route("blind", supports_images=False)
    policy = FailoverPolicy.of(small, blind, aliases={"smart": [small, blind]})
    req = request("look", IMAGE, max_tokens=500)
    with pytest.raises(InvalidRequest) as caught:
        await policy.complete(req)
    assert str(caught.value) == (
        "no route of 'smart' can serve this request (small/m: max_tokens 500 is above the model's output "
        "limit 100; blind/m: the request has images; the model takes text only)")
    assert caught.value.field == "model"
    with pytest.raises(InvalidRequest, match="no route of 'smart'"):
        async with policy.stream(req) as events:
            async for _ in events:
                pass
    assert small_fake.requests == [] and blind_fake.requests == []


async def test_streams_skip_too() -> None:
    text_only, _ = route("text", supports_tools=False)
    tools, _ = route("tools", supports_tools=True)
    policy = FailoverPolicy.of(text_only, tools, aliases={"smart": [text_only, tools]})
    async with policy.stream(request(tools=[ToolSpec("lookup")])) as events:
        ends = [e async for e in events if isinstance(e, StreamEnd)]
    assert ends[0].provider == "tools"
