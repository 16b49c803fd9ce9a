"""The Anthropic Messages API on the emulator's wire: ``POST /v1/messages`` (JSON or SSE),
``POST /v1/messages/count_tokens``, and the same calls under Vertex AI's ``rawPredict`` paths.

Every SSE frame carries an ``event:`` and a ``data:`` line, as the real service sends them (the SDK
drops frames without an ``event:`` line). One element of ``stream_frames`` holds exactly one content
delta (plus the block/message events around it), so a fault's ``after_chunks`` counts content chunks
the way it does for the other vendors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from .schemas import anthropic_output_problem, sample, tool_input_problem
from .script import Fault, Reply, ScriptedToolCall
from .wire import Call, Route, WireError, WireResponse

_STOP = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "content_filter": "refusal",
}

# Error ``type`` per HTTP status, from the API's error reference.
_ERROR_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_DEFAULT_MESSAGE = {
    "invalid_request_error": "Invalid request.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "The requested resource could not be found.",
    "timeout_error": "Request timed out.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit.",
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
}

_CONTEXT_MESSAGE = "prompt is too long: 208310 tokens > 200000 maximum"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


class AnthropicWire:
    """Anthropic's wire format (first-party API and Vertex AI ``rawPredict`` paths)."""

    vendor: ClassVar[str] = "anthropic"
    stream_media_type: ClassVar[str] = "text/event-stream"

    def routes(self) -> list[Route]:
        vertex = "/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{spec}"
        return [
            Route("POST", "/v1/messages", "messages"),
            Route("POST", "/v1/messages/count_tokens", "count_tokens"),
            Route("POST", vertex, "vertex"),
        ]

    # -- request -------------------------------------------------------------------------------

    def parse(self, route: Route, path_params: Mapping[str, str], query: Mapping[str, str],
              headers: Mapping[str, str], body: bytes) -> Call:
        path = route.path
        endpoint = route.endpoint
        model: Any = None
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        if route.endpoint == "vertex":
            spec = path_params.get("spec", "")
            name, _, method = spec.rpartition(":")
            if method not in ("rawPredict", "streamRawPredict"):
                raise WireError(f"unknown Vertex method {method!r}", 404)
            path = path.format(**path_params)
            if name == "count-tokens":
                endpoint = "count_tokens"
            else:
                endpoint = "messages"
                model = name
        if isinstance(data, dict) and model is None:
            model = data.get("model")
        call = Call(
            vendor=self.vendor,
            endpoint=endpoint,
            model=model if isinstance(model, str) else "",
            stream=bool(isinstance(data, dict) and data.get("stream") and endpoint == "messages"),
            body=data,
            path=path,
            query=dict(query),
            headers=dict(headers),
        )
        if not headers.get("x-api-key") and not headers.get("authorization", "").startswith("Bearer "):
            raise WireError("x-api-key header is required", 401)
        if not isinstance(data, dict):
            raise WireError("request body must be a JSON object")
        self._validate(data, endpoint, route.endpoint == "vertex")
        return call

    @staticmethod
    def _validate(body: dict[str, Any], endpoint: str, vertex: bool) -> None:
        required = ["messages"] if vertex else ["model", "messages"]
        if endpoint == "messages":
            required.append("max_tokens")
        for name in required:
            if name not in body:
                raise WireError(f"{name}: Field required")
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            raise WireError("messages: at least one message is required")
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
                raise WireError(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if endpoint == "messages":
            max_tokens = body["max_tokens"]
            if not isinstance(max_tokens, int) or max_tokens < 1:
                raise WireError("max_tokens: Input should be greater than or equal to 1")
        for i, tool in enumerate(body.get("tools") or ()):
            if isinstance(tool, dict) and "input_schema" in tool:
                problem = tool_input_problem(tool["input_schema"], f"tools.{i}.custom.input_schema")
                if problem is not None:
                    raise WireError(problem)
        fmt = (body.get("output_config") or {}).get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            problem = anthropic_output_problem(fmt.get("schema"))
            if problem is not None:
                raise WireError(problem)

    def structured_reply(self, call: Call) -> Reply | None:
        """A schema-shaped answer when the request asks for one (a forced tool or output_config.format)."""
        body = call.body if isinstance(call.body, dict) else {}
        if call.endpoint == "count_tokens":
            return None
        choice = body.get("tool_choice") or {}
        if isinstance(choice, dict) and choice.get("type") == "tool":
            for tool in body.get("tools") or ():
                if isinstance(tool, dict) and tool.get("name") == choice.get("name"):
                    return Reply(tool_calls=(ScriptedToolCall(tool["name"], sample(tool.get("input_schema"))),))
        fmt = (body.get("output_config") or {}).get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            return Reply(text=json.dumps(sample(fmt.get("schema"))))
        return None

    def prompt_text(self, call: Call) -> str:
        body = call.body if isinstance(call.body, dict) else {}
        texts: list[str] = []
        system = body.get("system")
        if isinstance(system, str):
            texts.append(system)
        elif isinstance(system, list):
            texts.extend(b.get("text", "") for b in system if isinstance(b, dict))
        for msg in body.get("messages") or ():
            if isinstance(msg, dict):
                texts.extend(_content_texts(msg.get("content")))
        return "\n".join(t for t in texts if t)

    # -- responses -----------------------------------------------------------------------------

    def reply(self, call: Call, reply: Reply) -> WireResponse:
        usage = _usage(reply)
        if call.endpoint == "count_tokens":
            body: dict[str, Any] = {"input_tokens": usage["input_tokens"] + usage["cache_read_input_tokens"]
                                    + usage["cache_creation_input_tokens"]}
        else:
            body = {
                "id": _message_id(call),
                "type": "message",
                "role": "assistant",
                "model": call.model,
                "content": [self._block(call, reply, kind, i) for i, kind in enumerate(_blocks(reply))],
                "stop_reason": _STOP[reply.stop_kind],
                "stop_sequence": None,
                "usage": usage,
            }
        return WireResponse(200, json.dumps(body).encode(), _headers(call))

    def stream_frames(self, call: Call, reply: Reply) -> list[bytes]:
        return [b"".join(_sse(name, data) for name, data in frame) for frame in self.stream_events(call, reply)]

    def stream_events(self, call: Call, reply: Reply) -> list[list[tuple[str, dict[str, Any]]]]:
        """The stream as (event name, data) pairs, grouped per frame (one content delta each)."""
        usage = _usage(reply)
        start_usage = {**usage, "output_tokens": min(1, usage["output_tokens"])}
        start_usage.pop("output_tokens_details", None)
        message: dict[str, Any] = {"id": _message_id(call), "type": "message", "role": "assistant", "model": call.model,
                   "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
        pending: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": message}), ("ping", {"type": "ping"})]
        frames: list[list[tuple[str, dict[str, Any]]]] = []

        def delta(index: int, payload: dict[str, Any]) -> None:
            pending.append(("content_block_delta",
                            {"type": "content_block_delta", "index": index, "delta": payload}))
            frames.append(list(pending))
            pending.clear()

        for index, kind in enumerate(_blocks(reply)):
            block = self._block(call, reply, kind, index)
            start: dict[str, Any]
            if kind == "thinking":
                start = {"type": "thinking", "thinking": "", "signature": ""}
            elif kind == "text":
                start = {"type": "text", "text": ""}
            else:
                start = {**block, "input": {}}
            pending.append(("content_block_start",
                            {"type": "content_block_start", "index": index, "content_block": start}))
            if kind == "thinking":
                for piece in _pieces(reply.reasoning, reply.chunk_size):
                    delta(index, {"type": "thinking_delta", "thinking": piece})
                delta(index, {"type": "signature_delta", "signature": block["signature"]})
            elif kind == "text":
                for piece in reply.text_chunks():
                    delta(index, {"type": "text_delta", "text": piece})
            else:
                arguments = json.dumps(block["input"])
                for piece in _pieces(arguments, reply.chunk_size):
                    delta(index, {"type": "input_json_delta", "partial_json": piece})
            pending.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        pending.append(("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": _STOP[reply.stop_kind], "stop_sequence": None},
            "usage": usage,
        }))
        pending.append(("message_stop", {"type": "message_stop"}))
        frames.append(pending)
        return frames

    def error(self, call: Call, fault: Fault) -> WireResponse:
        error_type = fault.error_type or _ERROR_TYPE.get(fault.status) or (
            "api_error" if fault.status >= 500 else "invalid_request_error")
        message = fault.message
        if error_type == "context_length_exceeded":
            error_type, message = "invalid_request_error", _CONTEXT_MESSAGE
        body = {"type": "error", "error": {"type": error_type, "message": message or _DEFAULT_MESSAGE.get(
            error_type, "Error")}, "request_id": _request_id(call)}
        headers = dict(_headers(call))
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = str(fault.retry_after_ms)
        if fault.status == 529 or error_type == "overloaded_error":
            headers.setdefault("x-should-retry", "true")
        return WireResponse(fault.status, json.dumps(body).encode(), headers)

    def stream_error_frame(self, call: Call, fault: Fault) -> bytes:
        error_type = fault.error_type or "overloaded_error"
        message = fault.message or _DEFAULT_MESSAGE.get(error_type, "Error")
        if error_type == "context_length_exceeded":
            error_type, message = "invalid_request_error", _CONTEXT_MESSAGE
        return _sse("error", {"type": "error", "error": {"type": error_type, "message": message},
                              "request_id": _request_id(call)})

    def malformed_frame(self, call: Call) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {\n\n'

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _block(call: Call, reply: Reply, kind: str, index: int) -> dict[str, Any]:
        if kind == "thinking":
            signature = reply.reasoning_signature or "sig_" + _digest(call.model, reply.reasoning)[:32]
            return {"type": "thinking", "thinking": reply.reasoning, "signature": signature}
        if kind == "text":
            return {"type": "text", "text": reply.text}
        tool = reply.tool_calls[int(kind)]
        tool_id = tool.id or "toolu_" + _digest(call.model, tool.name, str(index))[:24]
        return {"type": "tool_use", "id": tool_id, "name": tool.name, "input": dict(tool.arguments)}


def _blocks(reply: Reply) -> list[str]:
    """Content block kinds in order: "thinking", "text", then tool-call indexes as strings."""
    kinds = ["thinking"] if reply.reasoning or reply.reasoning_signature else []
    if reply.text or reply.chunks or not reply.tool_calls:
        kinds.append("text")
    kinds.extend(str(i) for i in range(len(reply.tool_calls)))
    return kinds


def _pieces(text: str, size: int) -> list[str]:
    step = max(1, size)
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


def _usage(reply: Reply) -> dict[str, Any]:
    """Anthropic usage from a resolved reply: ``input_tokens`` excludes cache reads and writes."""
    u = reply.usage
    total_in = u.input_tokens or 0
    usage: dict[str, Any] = {
        "input_tokens": max(0, total_in - u.cached_input_tokens - u.cache_write_tokens),
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
        "output_tokens": u.output_tokens or 0,
    }
    if u.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return usage


def _content_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    for block in content or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            texts.extend(_content_texts(block.get("content")))
        elif block.get("type") == "tool_use":
            texts.append(json.dumps(block.get("input", {})))
    return texts


def _request_id(call: Call) -> str:
    """Deterministic, and the same for a request streamed or not (so both answers compare equal)."""
    body = {k: v for k, v in call.body.items() if k != "stream"} if isinstance(call.body, dict) else None
    return "req_" + _digest(call.model, json.dumps(body, sort_keys=True, default=str))[:24]


def _message_id(call: Call) -> str:
    return "msg_" + _request_id(call)[4:]


def _headers(call: Call) -> dict[str, str]:
    return {"request-id": _request_id(call)}


PROTOCOL = AnthropicWire()
