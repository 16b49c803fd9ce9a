"""The Gemini API (and Vertex AI's Gemini paths) on the emulator's wire.

Routes: ``POST /{v1,v1beta}/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse`` and
``:countTokens``, and the same three under
``/{v1,v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{model}:...`` (Vertex AI).

Bodies are camelCase JSON as the service sends them; requests are read in either case, because the
SDK itself sends some nested fields in snake_case (``mime_type``, ``include_thoughts``). Streams are
``data: {json}`` SSE frames ending at EOF, one content chunk per frame; the last frame carries the
``finishReason`` and the final ``usageMetadata``. Gemini sends no function-call ids. Errors are
Google's ``{"error": {"code", "message", "status", "details"}}``; a 429 says when to come back in a
``google.rpc.RetryInfo`` detail (``retryDelay``), not in a Retry-After header. Gemini has no 529:
overload is a 503 ``UNAVAILABLE`` saying "The model is overloaded". A blocked prompt is scripted as
``Fault.http(200, "PROMPT_BLOCKED", "<block reason>")``: a 200 answer with ``promptFeedback`` only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from .schemas import gemini_schema_problem, sample
from .script import Fault, Reply, ScriptedToolCall
from .wire import Call, Route, WireError, WireResponse

_METHODS = {"generateContent": "generate", "streamGenerateContent": "stream", "countTokens": "count_tokens"}

_FINISH = {
    "end_turn": "STOP",
    "stop_sequence": "STOP",
    "tool_use": "STOP",
    "max_tokens": "MAX_TOKENS",
    "content_filter": "SAFETY",
}

# google.rpc.Code names per HTTP status, as the API reports them in ``error.status``.
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_CODE_OF = {name: code for code, name in _STATUS.items()} | {"FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400}

_MESSAGE = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
         "other valid authentication credential.",
    403: "The caller does not have permission",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting",
    503: "The service is currently unavailable.",
    504: "The request timed out. Please try again.",
}
_OVERLOADED = "The model is overloaded. Please try again later."
_CONTEXT = "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576)."
_API_KEY_INVALID = "API key not valid. Please pass a valid API key."


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _sse(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\r\n\r\n"


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _signature(value: str) -> str:
    """A scripted signature as base64 on the wire (kept when it already is base64)."""
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return base64.b64encode(value.encode()).decode()
    return value


class GoogleWire:
    """Gemini API / Vertex AI ``generateContent`` wire format."""

    vendor: ClassVar[str] = "google"
    stream_media_type: ClassVar[str] = "text/event-stream"

    def routes(self) -> list[Route]:
        routes: list[Route] = []
        for method, endpoint in _METHODS.items():
            for version in ("v1", "v1beta"):
                routes.append(Route("POST", f"/{version}/models/{{model}}:{method}", endpoint))
            for version in ("v1", "v1beta1"):
                routes.append(Route(
                    "POST",
                    f"/{version}/projects/{{project}}/locations/{{location}}/publishers/google/models/"
                    f"{{model}}:{method}",
                    endpoint,
                ))
        return routes

    # -- request -------------------------------------------------------------------------------

    def parse(self, route: Route, path_params: Mapping[str, str], query: Mapping[str, str],
              headers: Mapping[str, str], body: bytes) -> Call:
        try:
            data = json.loads(body) if body else None
        except ValueError:
            raise WireError("Invalid JSON payload received.") from None
        vertex = "project" in path_params
        call = Call(
            vendor=self.vendor,
            endpoint=route.endpoint,
            model=path_params.get("model", ""),
            stream=route.endpoint == "stream",
            body=data,
            path=route.path.format(**path_params),
            query=dict(query),
            headers=dict(headers),
        )
        if vertex:
            if not headers.get("authorization", "").startswith("Bearer "):
                raise WireError("Request is missing required authentication credential.", 401)
        elif not headers.get("x-goog-api-key") and not query.get("key"):
            raise WireError("Method doesn't allow unregistered callers (callers without established identity). "
                            "Please use API Key or other form of API consumer identity to call this API.", 403)
        if call.stream and query.get("alt") != "sse":
            raise WireError("the emulator streams only with alt=sse")
        if not isinstance(data, dict):
            raise WireError("Invalid JSON payload received. Expected an object.")
        _validate(data, route.endpoint)
        problem = _schema_problem(data, vertex)
        if problem is not None:
            raise WireError(problem)
        return call

    def structured_reply(self, call: Call) -> Reply | None:
        """A schema-shaped answer when the request asks for one (a response schema or a forced function)."""
        body = call.body if isinstance(call.body, dict) else {}
        if call.endpoint not in ("generate", "stream"):
            return None
        calling = _get(_get(body, "toolConfig", "tool_config") or {}, "functionCallingConfig",
                       "function_calling_config") or {}
        allowed = _get(calling, "allowedFunctionNames", "allowed_function_names") or []
        if calling.get("mode") == "ANY" and len(allowed) == 1:
            for tool in body.get("tools") or ():
                for declaration in _get(tool, "functionDeclarations", "function_declarations") or ():
                    if declaration.get("name") == allowed[0]:
                        schema = _get(declaration, "parametersJsonSchema", "parameters_json_schema") \
                            or declaration.get("parameters")
                        return Reply(tool_calls=(ScriptedToolCall(allowed[0], sample(schema)),))
        config = _get(body, "generationConfig", "generation_config") or {}
        schema = _get(config, "responseSchema", "response_schema") or _get(
            config, "responseJsonSchema", "response_json_schema")
        return Reply(text=json.dumps(sample(schema))) if isinstance(schema, dict) else None

    def prompt_text(self, call: Call) -> str:
        body = call.body if isinstance(call.body, dict) else {}
        if call.endpoint == "count_tokens" and isinstance(body.get("generateContentRequest"), dict):
            body = body["generateContentRequest"]
        texts: list[str] = []
        system = _get(body, "systemInstruction", "system_instruction")
        if isinstance(system, dict):
            texts.extend(_part_texts(system.get("parts")))
        for content in body.get("contents") or ():
            if isinstance(content, dict):
                texts.extend(_part_texts(content.get("parts")))
        return "\n".join(t for t in texts if t)

    # -- responses -----------------------------------------------------------------------------

    def reply(self, call: Call, reply: Reply) -> WireResponse:
        if call.endpoint == "count_tokens":
            total = reply.usage.input_tokens or 0
            body: dict[str, Any] = {"totalTokens": total}
            if "project" in call.path:
                body["totalBillableCharacters"] = len(self.prompt_text(call))
            else:
                body["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": total}]
            return WireResponse(200, json.dumps(body).encode())
        parts = _parts(call, reply)
        body = self._envelope(call, parts, _FINISH[reply.stop_kind], _usage(reply))
        return WireResponse(200, json.dumps(body).encode())

    def stream_frames(self, call: Call, reply: Reply) -> list[bytes]:
        chunks: list[list[dict[str, Any]]] = []
        if reply.reasoning or reply.reasoning_signature:
            pieces = _pieces(reply.reasoning, reply.chunk_size)
            for i, piece in enumerate(pieces):
                part: dict[str, Any] = {"text": piece, "thought": True}
                if i == len(pieces) - 1:
                    part["thoughtSignature"] = _thought_signature(call, reply)
                chunks.append([part])
        chunks.extend([{"text": piece}] for piece in reply.text_chunks())
        chunks.extend([part] for part in _calls(reply))
        usage = _usage(reply)
        running = {"promptTokenCount": usage["promptTokenCount"], "totalTokenCount": usage["promptTokenCount"]}
        finish = _FINISH[reply.stop_kind]
        if not chunks:
            chunks.append([])
        frames = []
        for i, parts in enumerate(chunks):
            last = i == len(chunks) - 1
            frames.append(_sse(self._envelope(call, parts, finish if last else None, usage if last else running)))
        return frames

    def error(self, call: Call, fault: Fault) -> WireResponse:
        if fault.error_type == "PROMPT_BLOCKED":
            return self._prompt_blocked(call, fault.message or "SAFETY")
        return WireResponse(*self._error_body(call, fault))

    def stream_error_frame(self, call: Call, fault: Fault) -> bytes:
        _, body = self._error_body(call, fault, in_stream=True)
        return b"data: " + body + b"\r\n\r\n"

    def malformed_frame(self, call: Call) -> bytes:
        return b'data: {"candidates": [{"content": {"parts": [{"text": \r\n\r\n'

    # -- helpers -------------------------------------------------------------------------------

    def _prompt_blocked(self, call: Call, reason: str) -> WireResponse:
        """Gemini's refusal of a prompt: a 200 answer with ``promptFeedback`` and no candidates."""
        prompt = max(1, len(self.prompt_text(call)) // 4)
        body = {"promptFeedback": {"blockReason": reason}, "modelVersion": call.model,
                "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt},
                "responseId": _response_id(call)}
        if call.stream:
            return WireResponse(200, _sse(body), media_type=self.stream_media_type)
        return WireResponse(200, json.dumps(body).encode())

    def _envelope(self, call: Call, parts: list[dict[str, Any]], finish: str | None,
                  usage: dict[str, Any]) -> dict[str, Any]:
        candidate: dict[str, Any] = {}
        if parts:
            candidate["content"] = {"parts": parts, "role": "model"}
        if finish is not None:
            candidate["finishReason"] = finish
            if finish == "SAFETY":
                candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                                               "probability": "HIGH", "blocked": True}]
        candidate["index"] = 0
        body: dict[str, Any] = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": call.model,
                                "responseId": _response_id(call)}
        if "project" in call.path:
            body["createTime"] = "2026-01-01T00:00:00.000000Z"
        return body

    def _error_body(self, call: Call, fault: Fault, *, in_stream: bool = False) -> tuple[int, bytes]:
        kind = fault.error_type or ""
        status = fault.status if fault.status >= 400 else 500
        message = fault.message
        details: list[dict[str, Any]] = []
        if kind in ("context_length_exceeded", "context_length"):
            status, message = 400, _CONTEXT
        elif kind in ("overloaded_error", "overloaded") or status == 529:
            status, message = 503, _OVERLOADED
        elif kind == "API_KEY_INVALID":
            status, message = 400, message or _API_KEY_INVALID
            details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                            "metadata": {"service": "generativelanguage.googleapis.com"}})
        elif kind in _CODE_OF:
            status = _CODE_OF[kind]
        elif in_stream and fault.status < 400:
            status = 500
        if message is None:
            message = _MESSAGE.get(status) or (
                f"models/{call.model} is not found for API version {call.path.split('/')[1]}, or is not "
                "supported for generateContent." if status == 404 else "Error")
        delay = fault.retry_after_ms / 1000 if fault.retry_after_ms is not None else fault.retry_after
        if delay is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay:g}s"})
        error: dict[str, Any] = {"code": status, "message": message,
                                 "status": kind if kind in _CODE_OF else _STATUS.get(status, "UNKNOWN")}
        if details:
            error["details"] = details
        return status, json.dumps({"error": error}).encode()


def _validate(body: dict[str, Any], endpoint: str) -> None:
    if endpoint == "count_tokens" and isinstance(body.get("generateContentRequest"), dict):
        body = body["generateContentRequest"]
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise WireError("* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise WireError(f"* GenerateContentRequest.contents[{i}]: must be an object")
        if content.get("role") not in (None, "user", "model"):
            raise WireError(f"* GenerateContentRequest.contents[{i}].role: Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise WireError(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
        for j, part in enumerate(parts):
            response = _get(part, "functionResponse", "function_response") if isinstance(part, dict) else None
            if isinstance(response, dict) and not response.get("name"):
                raise WireError(f"* GenerateContentRequest.contents[{i}].parts[{j}].function_response.name: "
                                "Name cannot be empty.")


def _schema_problem(body: dict[str, Any], vertex: bool) -> str | None:
    config = _get(body, "generationConfig", "generation_config") or {}
    schema = _get(config, "responseSchema", "response_schema")
    if schema is not None and _get(config, "responseJsonSchema", "response_json_schema") is not None:
        return "responseSchema and responseJsonSchema cannot both be set."
    if schema is not None and _get(config, "responseMimeType", "response_mime_type") != "application/json":
        return "responseSchema needs responseMimeType application/json."
    return gemini_schema_problem(schema, vertex) if schema is not None else None


def _part_texts(parts: Any) -> list[str]:
    texts: list[str] = []
    for part in parts or ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str) and not part.get("thought"):
            texts.append(part["text"])
        call = _get(part, "functionCall", "function_call")
        if isinstance(call, dict):
            texts.append(json.dumps(call.get("args", {})))
        response = _get(part, "functionResponse", "function_response")
        if isinstance(response, dict):
            texts.append(json.dumps(response.get("response", {})))
    return texts


def _parts(call: Call, reply: Reply) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if reply.reasoning or reply.reasoning_signature:
        parts.append({"text": reply.reasoning, "thought": True, "thoughtSignature": _thought_signature(call, reply)})
    if reply.text or reply.chunks:
        parts.append({"text": "".join(reply.text_chunks())})
    parts.extend(_calls(reply))
    return parts


def _calls(reply: Reply) -> list[dict[str, Any]]:
    return [{"functionCall": {"name": c.name, "args": dict(c.arguments)}} for c in reply.tool_calls]


def _thought_signature(call: Call, reply: Reply) -> str:
    if reply.reasoning_signature:
        return _signature(reply.reasoning_signature)
    return base64.b64encode(bytes.fromhex(_digest(call.model, reply.reasoning))).decode()


def _pieces(text: str, size: int) -> list[str]:
    step = max(1, size)
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


def _usage(reply: Reply) -> dict[str, Any]:
    """Gemini usage from a resolved reply: ``candidatesTokenCount`` excludes thoughts."""
    u = reply.usage
    prompt = u.input_tokens or 0
    output = u.output_tokens or 0
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": max(0, output - u.reasoning_tokens),
        "totalTokenCount": prompt + max(output, u.reasoning_tokens),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if u.cached_input_tokens:
        usage["cachedContentTokenCount"] = u.cached_input_tokens
    if u.reasoning_tokens:
        usage["thoughtsTokenCount"] = u.reasoning_tokens
    return usage


def _response_id(call: Call) -> str:
    """Deterministic, and the same for a request streamed or not (so both answers compare equal)."""
    body = json.dumps(call.body, sort_keys=True, default=str)
    return base64.urlsafe_b64encode(bytes.fromhex(_digest(call.model, body)[:32])).decode().rstrip("=")


PROTOCOL = GoogleWire()
