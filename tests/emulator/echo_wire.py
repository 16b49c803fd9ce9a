"""A tiny wire protocol for testing the emulator's engine without any vendor's format.

``POST /v1/echo`` with ``{"model": ..., "input": ..., "stream": bool}``; a stream is one SSE
``data:`` frame per text chunk, then ``data: [DONE]``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from llmport.adapters.testing.emulator import Call, Fault, Reply, Route, WireError, WireResponse


class EchoWire:
    vendor: ClassVar[str] = "echo"
    stream_media_type: ClassVar[str] = "text/event-stream"

    def routes(self) -> list[Route]:
        return [Route("POST", "/v1/echo", "echo"), Route("POST", "/v1/models/{model}:count", "count_tokens")]

    def parse(self, route: Route, path_params: Mapping[str, str], query: Mapping[str, str],
              headers: Mapping[str, str], body: bytes) -> Call:
        try:
            data = json.loads(body) if body else {}
        except ValueError as exc:
            raise WireError(f"body is not JSON: {exc}") from exc
        model = path_params.get("model") or data.get("model")
        if not model:
            raise WireError("model is required")
        return Call(self.vendor, route.endpoint, model, bool(data.get("stream")), data, "/v1/echo", query, headers)

    def prompt_text(self, call: Call) -> str:
        return str(call.body.get("input", "")) if isinstance(call.body, dict) else ""

    def reply(self, call: Call, reply: Reply) -> WireResponse:
        usage = {"input": reply.usage.input_tokens, "output": reply.usage.output_tokens}
        return WireResponse(200, json.dumps({"text": reply.text, "usage": usage}).encode())

    def stream_frames(self, call: Call, reply: Reply) -> list[bytes]:
        return [b"data: " + json.dumps({"text": c}).encode() + b"\n\n" for c in reply.text_chunks()] + [
            b"data: [DONE]\n\n"]

    def error(self, call: Call, fault: Fault) -> WireResponse:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        body: dict[str, Any] = {"error": {"type": fault.error_type or "error", "message": fault.message or "failed"}}
        return WireResponse(fault.status, json.dumps(body).encode(), headers)

    def stream_error_frame(self, call: Call, fault: Fault) -> bytes:
        return b"event: error\ndata: " + json.dumps({"type": fault.error_type or "overloaded"}).encode() + b"\n\n"

    def malformed_frame(self, call: Call) -> bytes:
        return b"data: {not json\n\n"
