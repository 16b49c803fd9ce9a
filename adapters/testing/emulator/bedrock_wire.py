"""Bedrock Runtime's Converse API on the wire: ``/model/{modelId}/converse``, ``/converse-stream``
(binary event stream) and ``/count-tokens``; errors carry ``x-amzn-ErrorType`` and a
``{"message": ...}`` body. SigV4 signatures are accepted without being checked."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from . import eventstream
from .schemas import closed_objects_problem, sample, tool_input_problem
from .script import Fault, Reply, ScriptedToolCall
from .wire import Call, Route, WireError, WireResponse

_STOP = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "content_filter": "content_filtered",
}

# HTTP status -> the exception Bedrock sends with it.
_TYPE_BY_STATUS = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
    529: "ModelNotReadyException",
}

# Other vendors' error names that scripts use generically -> Bedrock's nearest exception.
_GENERIC_TYPES = {
    "context_length_exceeded": "ValidationException",
    "overloaded_error": "ModelNotReadyException",
    "rate_limit_error": "ThrottlingException",
    "api_error": "InternalServerException",
    "invalid_request_error": "ValidationException",
}

# Exceptions modelled inside ConverseStreamOutput (lower camel case on the wire).
_STREAM_TYPES = ("internalServerException", "modelStreamErrorException", "validationException",
                 "throttlingException", "serviceUnavailableException")

_BLOCK_KEYS = frozenset({"text", "image", "document", "video", "audio", "toolUse", "toolResult", "guardContent",
                         "cachePoint", "reasoningContent", "citationsContent", "searchResult"})

_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _request_id(call: Call) -> str:
    """A request id derived from the body: a Converse call and the same ConverseStream call match."""
    return str(uuid.UUID(bytes=hashlib.md5(call.path.rsplit("/", 1)[0].encode() + repr(call.body).encode(),
                                           usedforsecurity=False).digest()))


def tool_use_id(call: ScriptedToolCall, index: int) -> str:
    """The scripted id, or a stable ``tooluse_...`` id like Bedrock's."""
    if call.id:
        return call.id
    digest = hashlib.sha256(f"{index}:{call.name}:{json.dumps(dict(call.arguments), sort_keys=True)}".encode())
    return "tooluse_" + digest.hexdigest()[:22]


def _usage(reply: Reply) -> dict[str, int]:
    """Bedrock's ``inputTokens`` excludes cache reads and writes; ``totalTokens`` includes them."""
    u = reply.usage
    total_in, out = u.input_tokens or 0, u.output_tokens or 0
    fresh = max(0, total_in - u.cached_input_tokens - u.cache_write_tokens)
    usage = {"inputTokens": fresh, "outputTokens": out, "totalTokens": total_in + out}
    if u.cached_input_tokens:
        usage["cacheReadInputTokens"] = u.cached_input_tokens
    if u.cache_write_tokens:
        usage["cacheWriteInputTokens"] = u.cache_write_tokens
    return usage


def _metrics(reply: Reply) -> dict[str, int]:
    return {"latencyMs": int(reply.latency * 1000) + 1}


class BedrockWire:
    vendor: ClassVar[str] = "bedrock"
    stream_media_type: ClassVar[str] = "application/vnd.amazon.eventstream"

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/model/{model_id:path}/converse", "converse"),
            Route("POST", "/model/{model_id:path}/converse-stream", "converse_stream"),
            Route("POST", "/model/{model_id:path}/count-tokens", "count_tokens"),
        ]

    # --- requests ---------------------------------------------------------------------------
    def parse(self, route: Route, path_params: Mapping[str, str], query: Mapping[str, str],
              headers: Mapping[str, str], body: bytes) -> Call:
        model = path_params.get("model_id", "")
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            raise WireError("Malformed input request, please reformat your input and try again.") from None
        call = Call(self.vendor, route.endpoint, model, route.endpoint == "converse_stream", parsed,
                    route.path.replace("{model_id:path}", model), dict(query), dict(headers))
        if not isinstance(parsed, dict):
            raise WireError("Malformed input request, please reformat your input and try again.")
        if route.endpoint == "count_tokens":
            converse = (parsed.get("input") or {}).get("converse")
            if not isinstance(converse, dict):
                raise WireError("1 validation error detected: Value at 'input' failed to satisfy constraint: "
                                "Member must not be null")
            self._check_conversation(converse)
        else:
            self._check_conversation(parsed)
        return call

    @staticmethod
    def _check_conversation(body: Mapping[str, Any]) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise WireError("A conversation must start with a user message. Try again with a conversation that "
                            "starts with a user message.")
        previous = None
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("user", "assistant"):
                raise WireError(f"1 validation error detected: Value at 'messages.{i + 1}.member.role' failed to "
                                "satisfy constraint: Member must satisfy enum value set: [user, assistant]")
            if i == 0 and role != "user":
                raise WireError("A conversation must start with a user message. Try again with a conversation "
                                "that starts with a user message.")
            if role == previous:
                raise WireError("A conversation must alternate between user and assistant roles. Make sure the "
                                "conversation alternates between user and assistant roles and try again.")
            previous = role
            content = message.get("content")
            if not isinstance(content, list) or not content:
                raise WireError(f"The content field in the Message object at messages.{i} is empty. Add a "
                                "ContentBlock object to the content field and try again.")
            for block in content:
                if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in _BLOCK_KEYS:
                    raise WireError(f"messages.{i}: a ContentBlock must set exactly one member")
                if "text" in block and not isinstance(block["text"], str):
                    raise WireError(f"messages.{i}: text must be a string")
                if ("toolUse" in block or "toolResult" in block) and not body.get("toolConfig"):
                    raise WireError("The toolConfig field must be defined when using toolUse and toolResult "
                                    "content blocks.")
        problem = _schema_problem(body)
        if problem is not None:
            raise WireError(problem)

    def structured_reply(self, call: Call) -> Reply | None:
        """A schema-shaped answer when the request asks for one (a forced tool or outputConfig)."""
        body = call.body if isinstance(call.body, dict) else {}
        if call.endpoint not in ("converse", "converse_stream"):
            return None
        config = body.get("toolConfig") or {}
        forced = ((config.get("toolChoice") or {}).get("tool") or {}).get("name")
        for tool in config.get("tools") or ():
            spec = tool.get("toolSpec") if isinstance(tool, dict) else None
            if isinstance(spec, dict) and forced is not None and spec.get("name") == forced:
                arguments = sample((spec.get("inputSchema") or {}).get("json"))
                return Reply(tool_calls=(ScriptedToolCall(forced, arguments),))
        schema = _output_schema(body)
        return Reply(text=json.dumps(sample(schema))) if isinstance(schema, dict) else None

    def prompt_text(self, call: Call) -> str:
        body = call.body if isinstance(call.body, dict) else {}
        if call.endpoint == "count_tokens":
            body = (body.get("input") or {}).get("converse") or {}
        texts = [b["text"] for b in body.get("system") or () if isinstance(b, dict) and isinstance(b.get("text"), str)]
        for message in body.get("messages") or ():
            for block in message.get("content") or ():
                if "text" in block:
                    texts.append(block["text"])
                elif "toolResult" in block:
                    texts.extend(c["text"] for c in block["toolResult"].get("content") or () if "text" in c)
                elif "toolUse" in block:
                    texts.append(json.dumps(block["toolUse"].get("input")))
        tools = (body.get("toolConfig") or {}).get("tools") or ()
        texts.extend(json.dumps(t.get("toolSpec")) for t in tools if isinstance(t, dict) and "toolSpec" in t)
        return "\n".join(texts)

    # --- responses --------------------------------------------------------------------------
    def _headers(self, call: Call) -> dict[str, str]:
        return {"x-amzn-RequestId": _request_id(call)}

    def stream_headers(self, call: Call) -> dict[str, str]:
        return self._headers(call)

    def reply(self, call: Call, reply: Reply) -> WireResponse:
        if call.endpoint == "count_tokens":
            body: dict[str, Any] = {"inputTokens": reply.usage.input_tokens or 0}
        else:
            content: list[dict[str, Any]] = []
            if reply.reasoning or reply.reasoning_signature:
                text_block: dict[str, Any] = {"text": reply.reasoning}
                if reply.reasoning_signature:
                    text_block["signature"] = reply.reasoning_signature
                content.append({"reasoningContent": {"reasoningText": text_block}})
            if reply.text:
                content.append({"text": reply.text})
            for i, tc in enumerate(reply.tool_calls):
                content.append({"toolUse": {"toolUseId": tool_use_id(tc, i), "name": tc.name,
                                            "input": dict(tc.arguments)}})
            body = {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": _STOP[reply.stop_kind],
                "usage": _usage(reply),
                "metrics": _metrics(reply),
            }
        return WireResponse(200, json.dumps(body).encode(), self._headers(call))

    def stream_frames(self, call: Call, reply: Reply) -> list[bytes]:
        frames = [self._event("messageStart", {"role": "assistant"})]
        index = 0
        if reply.reasoning or reply.reasoning_signature:
            step = max(1, reply.chunk_size)
            for i in range(0, len(reply.reasoning), step):
                frames.append(self._delta(index, {"reasoningContent": {"text": reply.reasoning[i : i + step]}}))
            if reply.reasoning_signature:
                frames.append(self._delta(index, {"reasoningContent": {"signature": reply.reasoning_signature}}))
            frames.append(self._event("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        chunks = [c for c in reply.text_chunks() if c]
        if chunks:
            frames.extend(self._delta(index, {"text": chunk}) for chunk in chunks)
            frames.append(self._event("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        for i, tc in enumerate(reply.tool_calls):
            frames.append(self._event("contentBlockStart", {
                "start": {"toolUse": {"toolUseId": tool_use_id(tc, i), "name": tc.name}},
                "contentBlockIndex": index,
            }))
            arguments = json.dumps(dict(tc.arguments))
            step = max(1, reply.chunk_size)
            frames.extend(self._delta(index, {"toolUse": {"input": arguments[j : j + step]}})
                          for j in range(0, len(arguments), step))
            frames.append(self._event("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        frames.append(self._event("messageStop", {"stopReason": _STOP[reply.stop_kind]}))
        frames.append(self._event("metadata", {"usage": _usage(reply), "metrics": _metrics(reply)}))
        return frames

    @staticmethod
    def _event(event_type: str, payload: dict[str, Any]) -> bytes:
        # The service pads every event with a "p" field of varying length (against size analysis).
        return eventstream.event(event_type, {**payload, "p": _PAD[: 1 + len(event_type) % len(_PAD)]})

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return self._event("contentBlockDelta", {"delta": delta, "contentBlockIndex": index})

    # --- failures ---------------------------------------------------------------------------
    @staticmethod
    def error_type(fault: Fault) -> str:
        """The Bedrock exception name for an HTTP fault."""
        given = fault.error_type
        if given:
            return _GENERIC_TYPES.get(given, given[:1].upper() + given[1:])
        return _TYPE_BY_STATUS.get(fault.status, "InternalServerException" if fault.status >= 500
                                   else "ValidationException")

    def error(self, call: Call, fault: Fault) -> WireResponse:
        error_type = self.error_type(fault)
        message = fault.message or _default_message(fault.error_type or error_type)
        headers = {
            **self._headers(call),
            "x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        }
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = str(fault.retry_after_ms)
        return WireResponse(fault.status, json.dumps({"message": message}).encode(), headers)

    def stream_error_frame(self, call: Call, fault: Fault) -> bytes:
        given = fault.error_type or "modelStreamErrorException"
        name = _GENERIC_TYPES.get(given, given)
        name = name[:1].lower() + name[1:]
        if name not in _STREAM_TYPES:
            name = "modelStreamErrorException"
        return eventstream.exception(name, fault.message or _default_message(name))

    def malformed_frame(self, call: Call) -> bytes:
        return eventstream.corrupt(self._event("contentBlockDelta", {"delta": {"text": "?"}, "contentBlockIndex": 0}))


def _default_message(error_type: str) -> str:
    key = error_type[:1].upper() + error_type[1:]
    return {
        "ThrottlingException": "Too many requests, please wait before trying again.",
        "ModelNotReadyException": "Model is not ready to serve inference requests. The AWS SDK will automatically "
                                  "retry the operation.",
        "ServiceUnavailableException": "Bedrock is unable to process your request.",
        "InternalServerException": "The system encountered an unexpected error during processing. Try your request "
                                   "again.",
        "ValidationException": "The provided request is not valid.",
        "Context_length_exceeded": "Input is too long for requested model.",
        "AccessDeniedException": "You don't have access to the model with the specified model ID.",
        "ResourceNotFoundException": "The provided model identifier is invalid.",
        "ModelTimeoutException": "Model has timed out in processing the request. Try your request again.",
        "UnrecognizedClientException": "The security token included in the request is invalid.",
        "ModelStreamErrorException": "The model encountered an error while streaming. Try your request again.",
    }.get(key, "The request failed.")


PROTOCOL = BedrockWire()


def _output_schema(body: Mapping[str, Any]) -> Any:
    """The structured output schema of a Converse request (a JSON string on the wire), or None."""
    structure = ((body.get("outputConfig") or {}).get("textFormat") or {}).get("structure") or {}
    text = (structure.get("jsonSchema") or {}).get("schema")
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # reported by _schema_problem


def _schema_problem(body: Mapping[str, Any]) -> str | None:
    for i, tool in enumerate((body.get("toolConfig") or {}).get("tools") or ()):
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if isinstance(spec, dict):
            problem = tool_input_problem((spec.get("inputSchema") or {}).get("json"),
                                         f"toolConfig.tools.{i}.toolSpec.inputSchema")
            if problem is not None:
                return problem
    if ((body.get("outputConfig") or {}).get("textFormat") or {}).get("structure") is None:
        return None
    schema = _output_schema(body)
    if isinstance(schema, str) or schema is None:
        return "outputConfig.textFormat.structure.jsonSchema.schema must be a JSON schema as a string"
    return closed_objects_problem(schema, "outputConfig.textFormat.structure.jsonSchema.schema")
