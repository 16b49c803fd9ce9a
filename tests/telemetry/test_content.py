"""Captured content in the GenAI conventions' message shapes: every part type, system instructions
apart from the messages, the conventions' finish reasons, and no credential from an image URL."""

from __future__ import annotations

import base64
import json

import pytest

from llmport.adapters.opentelemetry_content import finish_reason, input_attributes, output_attributes
from llmport.domain import Completion, CompletionRequest, Message, StopReason, TextPart
from llmport.domain.messages import ImagePart, ReasoningPart, ToolCallPart


def test_every_input_part_in_the_conventions_shape() -> None:
    png = b"\x89PNG\r\n\x1a\n-image-bytes"
    request = CompletionRequest(model="m", system="be brief", messages=[
        Message.system("and kind"),
        Message.user("look", ImagePart(url="https://user:hunter2@img.example/cat.png?sig=abcdef123")),
        Message.user(ImagePart(data=png, media_type="image/png")),
        Message.assistant("let me check", tool_calls=[ToolCallPart("call-1", "lookup", {"q": "cats"})],
                          reasoning=[ReasoningPart("thinking hard"), ReasoningPart("", redacted=True,
                                                                                    signature="opaque")]),
        Message.tool_result("call-1", "three cats"),
    ])
    attrs = input_attributes(request)
    assert json.loads(attrs["gen_ai.system_instructions"]) == [{"type": "text", "content": "be brief\n\nand kind"}]
    messages = json.loads(attrs["gen_ai.input.messages"])
    assert [m["role"] for m in messages] == ["user", "user", "assistant", "tool"]  # system messages: instructions
    assert messages[0]["parts"][0] == {"type": "text", "content": "look"}
    image = messages[0]["parts"][1]
    assert image["type"] == "uri" and image["modality"] == "image" and "img.example/cat.png" in image["uri"]
    assert "hunter2" not in image["uri"] and "abcdef123" not in image["uri"]
    assert messages[1]["parts"] == [{"type": "blob", "modality": "image", "mime_type": "image/png",
                                     "content": base64.b64encode(png).decode()}]
    assert messages[2]["parts"] == [
        {"type": "reasoning", "content": "thinking hard"}, {"type": "reasoning", "content": ""},
        {"type": "text", "content": "let me check"},
        {"type": "tool_call", "id": "call-1", "name": "lookup", "arguments": {"q": "cats"}}]
    assert messages[3]["parts"] == [{"type": "tool_call_response", "id": "call-1", "response": "three cats"}]


def test_no_system_instructions_attribute_without_any() -> None:
    attrs = input_attributes(CompletionRequest(model="m", messages=[Message.user("hi")]))
    assert set(attrs) == {"gen_ai.input.messages"}


def test_output_message_with_tool_calls_and_finish_reason() -> None:
    answer = Completion((TextPart("calling"), ToolCallPart("c1", "f", {"x": 1})), StopReason("tool_use", "tool_calls"))
    (message,) = json.loads(output_attributes(answer)["gen_ai.output.messages"])
    assert message == {"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "text", "content": "calling"}, {"type": "tool_call", "id": "c1", "name": "f", "arguments": {"x": 1}}]}


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    ("end_turn", None, "stop"), ("stop_sequence", "stop", "stop"), ("max_tokens", "length", "length"),
    ("tool_use", None, "tool_call"), ("content_filter", "SAFETY", "content_filter"),
    ("other", "RECITATION", "RECITATION"), ("other", None, "other"),
])
def test_finish_reasons_in_the_conventions_names(kind: str, raw: str | None, expected: str) -> None:
    assert finish_reason(StopReason(kind, raw)) == expected  # type: ignore[arg-type]


def test_non_ascii_text_stays_readable() -> None:
    attrs = input_attributes(CompletionRequest(model="m", messages=[Message.user("héllo wörld ✓")]))
    assert "héllo wörld ✓" in attrs["gen_ai.input.messages"]
