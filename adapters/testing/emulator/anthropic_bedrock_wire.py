"""Claude on Bedrock through the ``anthropic`` SDK: ``POST /model/{modelId}/invoke`` (the Messages
body without ``model`` and ``stream``, plus ``anthropic_version``) and
``/invoke-with-response-stream`` (binary event stream of ``chunk`` events, each carrying one
Anthropic SSE event's JSON as base64 ``bytes``).

Answers are the Anthropic wire's; the framing, headers and errors (``x-amzn-ErrorType``,
``{"message": ...}`` bodies, in-stream exception messages) are Bedrock's. Routes end in
``/invoke*``, so they never meet the Converse wire's ``/converse*`` routes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from . import eventstream
from .anthropic_wire import PROTOCOL as ANTHROPIC
from .bedrock_wire import PROTOCOL as BEDROCK
from .script import Fault, Reply
from .wire import Call, Route, WireError, WireResponse

_MALFORMED_INPUT = "Malformed input request: {}, please reformat your input and try again."


def _chunk(data: Mapping[str, Any]) -> bytes:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return eventstream.event("chunk", {"bytes": base64.b64encode(raw).decode("ascii")})


class AnthropicBedrockWire:
    """Bedrock Runtime's InvokeModel / InvokeModelWithResponseStream for Anthropic models."""

    vendor: ClassVar[str] = "anthropic_bedrock"
    stream_media_type: ClassVar[str] = "application/vnd.amazon.eventstream"

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/model/{model_id:path}/invoke", "invoke"),
            Route("POST", "/model/{model_id:path}/invoke-with-response-stream", "invoke_stream"),
        ]

    # -- request -------------------------------------------------------------------------------

    def parse(self, route: Route, path_params: Mapping[str, str], query: Mapping[str, str],
              headers: Mapping[str, str], body: bytes) -> Call:
        model = path_params.get("model_id", "")
        try:
            data: Any = json.loads(body) if body else None
        except ValueError:
            data = None
        call = Call(self.vendor, route.endpoint, model, route.endpoint == "invoke_stream", data,
                    route.path.replace("{model_id:path}", model), dict(query), dict(headers))
        if not headers.get("authorization"):
            raise WireError("Missing Authentication Token", 403)
        if not isinstance(data, dict):
            raise WireError(_MALFORMED_INPUT.format("expected a JSON object"))
        for key in ("model", "stream"):
            if key in data:
                raise WireError(_MALFORMED_INPUT.format(f"#: extraneous key [{key}] is not permitted"))
        if "anthropic_version" not in data:
            raise WireError(_MALFORMED_INPUT.format("#: required key [anthropic_version] not found"))
        ANTHROPIC._validate(data, "messages", True)
        return call

    def prompt_text(self, call: Call) -> str:
        return ANTHROPIC.prompt_text(call)

    def structured_reply(self, call: Call) -> Reply | None:
        return ANTHROPIC.structured_reply(call)

    # -- responses -----------------------------------------------------------------------------

    def stream_headers(self, call: Call) -> dict[str, str]:
        return BEDROCK.stream_headers(call)

    def reply(self, call: Call, reply: Reply) -> WireResponse:
        u = reply.usage
        headers = {
            **BEDROCK.stream_headers(call),
            "X-Amzn-Bedrock-Input-Token-Count": str(u.input_tokens or 0),
            "X-Amzn-Bedrock-Output-Token-Count": str(u.output_tokens or 0),
            "X-Amzn-Bedrock-Invocation-Latency": str(int(reply.latency * 1000) + 1),
        }
        return WireResponse(200, ANTHROPIC.reply(call, reply).body, headers)

    def stream_frames(self, call: Call, reply: Reply) -> list[bytes]:
        u = reply.usage
        metrics = {"inputTokenCount": u.input_tokens or 0, "outputTokenCount": u.output_tokens or 0,
                   "invocationLatency": int(reply.latency * 1000) + 1, "firstByteLatency": 1}
        frames: list[bytes] = []
        for frame in ANTHROPIC.stream_events(call, reply):
            parts: list[bytes] = []
            for name, data in frame:
                if name == "ping":  # Bedrock does not relay pings
                    continue
                if name == "message_stop":
                    data = {**data, "amazon-bedrock-invocationMetrics": metrics}
                parts.append(_chunk(data))
            frames.append(b"".join(parts))
        return frames

    def error(self, call: Call, fault: Fault) -> WireResponse:
        return BEDROCK.error(call, fault)

    def stream_error_frame(self, call: Call, fault: Fault) -> bytes:
        return BEDROCK.stream_error_frame(call, fault)

    def malformed_frame(self, call: Call) -> bytes:
        # A well-framed chunk whose bytes are not JSON: the SDK fails decoding it.
        broken = b'{"type": "content_block_delta", "index": 0, "delta": {'
        return eventstream.event("chunk", {"bytes": base64.b64encode(broken).decode("ascii")})


PROTOCOL = AnthropicBedrockWire()
