"""Prompt and answer content in the GenAI semantic conventions' shapes, for the opt-in event
``gen_ai.client.inference.operation.details`` (``gen_ai.system_instructions``,
``gen_ai.input.messages``, ``gen_ai.output.messages``: JSON strings of the conventions' message
schemas). Used only when content capture is on; URLs lose their credentials."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from llmport.domain import Completion, CompletionRequest, StopReason
from llmport.domain.messages import Part, ReasoningPart, Role, TextPart, ToolCallPart, ToolResultPart
from llmport.domain.redaction import mask_url_credentials

DETAILS_EVENT = "gen_ai.client.inference.operation.details"

# The conventions' finish reasons (stop, length, content_filter, tool_call, error) for llmport's kinds.
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_call",
                  "content_filter": "content_filter"}


def finish_reason(stop: StopReason) -> str:
    """The conventions' name of why generation stopped (the vendor's raw value when none fits)."""
    return FINISH_REASONS.get(stop.kind) or stop.raw or stop.kind


def _part(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "content": part.text}
    if isinstance(part, ToolCallPart):
        return {"type": "tool_call", "id": part.id, "name": part.name, "arguments": dict(part.arguments)}
    if isinstance(part, ToolResultPart):
        return {"type": "tool_call_response", "id": part.call_id, "response": part.content}
    if isinstance(part, ReasoningPart):
        return {"type": "reasoning", "content": "" if part.redacted else part.text}
    if part.url is not None:  # an image
        return {"type": "uri", "modality": "image", "uri": mask_url_credentials(part.url)}
    data = base64.b64encode(part.data or b"").decode("ascii")
    return {"type": "blob", "modality": "image", "mime_type": part.media_type, "content": data}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _parts(parts: Iterable[Part]) -> list[dict[str, Any]]:
    return [_part(p) for p in parts]


def input_attributes(request: CompletionRequest) -> dict[str, str]:
    """``gen_ai.system_instructions`` (when there are any) and ``gen_ai.input.messages``."""
    attrs: dict[str, str] = {}
    system = request.system_text
    if system:
        attrs["gen_ai.system_instructions"] = _json([{"type": "text", "content": system}])
    messages = [{"role": m.role.value, "parts": _parts(m.parts)} for m in request.messages if m.role is not Role.SYSTEM]
    attrs["gen_ai.input.messages"] = _json(messages)
    return attrs


def output_attributes(answer: Completion) -> dict[str, str]:
    """``gen_ai.output.messages``: the answer as one assistant message with its finish reason."""
    message = {"role": "assistant", "parts": _parts(answer.parts), "finish_reason": finish_reason(answer.stop_reason)}
    return {"gen_ai.output.messages": _json([message])}
