"""OpenAI's wire format: Chat Completions and the Responses API (JSON and SSE), their Azure
deployment paths, the input-token count endpoint, and OpenAI's error bodies."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from .schemas import openai_strict_problem, sample, tool_input_problem
from .script import Fault, Reply, ScriptedToolCall
from .wire import Call, Route, WireError, WireResponse

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "content_filter": "content_filter"}
_INCOMPLETE = {"max_tokens": "max_output_tokens", "content_filter": "content_filter"}

# status -> (type, code) as OpenAI sends them when the fault names no type of its own
_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "service_unavailable"),
    529: ("server_error", "overloaded"),
}
_MESSAGES = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "Country, region, or territory not supported.",
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later.",
}
_KNOWN_TYPES = frozenset({"invalid_request_error", "server_error", "requests", "tokens", "insufficient_quota",
                          "authentication_error", "permission_error", "not_found_error", "rate_limit_error"})

_ids = itertools.count(1)


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\ndata: {payload}\n\n" if event else f"data: {payload}\n\n").encode()


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text") or "" for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


class OpenAIWire:
    """Chat Completions (``/v1/chat/completions``) and Responses (``/v1/responses``), plus Azure's
    ``/openai/deployments/{deployment}/chat/completions`` and ``/openai/responses``."""

    vendor: ClassVar[str] = "openai"
    stream_media_type: ClassVar[str] = "text/event-stream"

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/v1/chat/completions", "chat"),
            Route("POST", "/v1/responses", "responses"),
            Route("POST", "/v1/responses/input_tokens", "count_tokens"),
            # the same wire without the version segment, so ``base_url=emu.url`` works as well
            Route("POST", "/chat/completions", "chat"),
            Route("POST", "/responses", "responses"),
            Route("POST", "/responses/input_tokens", "count_tokens"),
            Route("POST", "/openai/deployments/{deployment}/chat/completions", "chat"),
            Route("POST", "/openai/responses", "responses"),
            Route("POST", "/openai/responses/input_tokens", "count_tokens"),
            Route("POST", "/openai/v1/chat/completions", "chat"),
            Route("POST", "/openai/v1/responses", "responses"),
            Route("POST", "/openai/v1/responses/input_tokens", "count_tokens"),
        ]

    # --- requests ---------------------------------------------------------------------------
    def parse(self, route: Route, path_params: Mapping[str, str], query: Mapping[str, str],
              headers: Mapping[str, str], body: bytes) -> Call:
        try:
            data = json.loads(body) if body else None
        except ValueError:
            raise WireError("We could not parse the JSON body of your request.") from None
        if not isinstance(data, dict):
            raise WireError("The request body must be a JSON object.")
        azure_dated = route.path.startswith("/openai/") and not route.path.startswith("/openai/v1/")
        if azure_dated and "api-version" not in query:
            raise WireError("Missing required query parameter: api-version", status=404)
        model = path_params.get("deployment") or data.get("model")
        if not isinstance(model, str) or not model:
            raise WireError("you must provide a model parameter")
        if route.endpoint == "chat":
            messages = data.get("messages")
            if not isinstance(messages, list) or not messages:
                raise WireError("'messages' must be a non-empty array.")
            for i, m in enumerate(messages):
                if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant",
                                                                    "tool"):
                    raise WireError(f"Invalid value for 'messages[{i}].role'.")
        elif route.endpoint == "responses" and "input" not in data:
            raise WireError("Missing required parameter: 'input'.")
        problem = _schema_problem(route.endpoint, data)
        if problem is not None:
            raise WireError(problem)
        return Call(self.vendor, route.endpoint, model, bool(data.get("stream")), data, route.path,
                    dict(query), dict(headers))

    def prompt_text(self, call: Call) -> str:
        body = call.body or {}
        texts: list[str] = []
        if call.endpoint == "chat":
            for m in body.get("messages", ()):
                texts.append(_content_text(m.get("content")))
        else:
            if isinstance(body.get("instructions"), str):
                texts.append(body["instructions"])
            items = body.get("input")
            if isinstance(items, str):
                texts.append(items)
            elif isinstance(items, list):
                for item in items:
                    if not isinstance(item, dict):
                        continue
                    texts.append(_content_text(item.get("content")))
                    if isinstance(item.get("output"), str):
                        texts.append(item["output"])
        return "\n".join(t for t in texts if t)

    def structured_reply(self, call: Call) -> Reply | None:
        """A schema-shaped answer when the request asks for one (json_schema or a forced function)."""
        body = call.body if isinstance(call.body, dict) else {}
        if call.endpoint == "chat":
            fmt = body.get("response_format") or {}
            schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
            choice = body.get("tool_choice")
            forced = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
            tools = {(t.get("function") or {}).get("name"): (t.get("function") or {}).get("parameters")
                     for t in body.get("tools") or () if isinstance(t, dict)}
        elif call.endpoint == "responses":
            fmt = (body.get("text") or {}).get("format") or {}
            schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
            choice = body.get("tool_choice")
            forced = choice.get("name") if isinstance(choice, dict) else None
            tools = {t.get("name"): t.get("parameters") for t in body.get("tools") or () if isinstance(t, dict)}
        else:
            return None
        if isinstance(forced, str) and forced in tools:
            return Reply(tool_calls=(ScriptedToolCall(forced, sample(tools[forced])),))
        return Reply(text=json.dumps(sample(schema))) if isinstance(schema, dict) else None

    # --- answers ----------------------------------------------------------------------------
    def reply(self, call: Call, reply: Reply) -> WireResponse:
        if call.endpoint == "count_tokens":
            body: dict[str, Any] = {"object": "response.input_tokens", "input_tokens": reply.usage.input_tokens or 0}
        elif call.endpoint == "responses":
            body = self._response(call, reply, f"resp_{next(_ids):08x}", completed=True)
        else:
            body = self._chat_completion(call, reply)
        return WireResponse(200, json.dumps(body).encode(), _headers())

    def _chat_completion(self, call: Call, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None,
                                   "annotations": []}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": _call_id(c, i), "type": "function",
                 "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))}}
                for i, c in enumerate(reply.tool_calls)
            ]
        return {
            "id": f"chatcmpl-{next(_ids):08x}", "object": "chat.completion", "created": int(time.time()),
            "model": call.model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": _FINISH[reply.stop_kind]}],
            "usage": _chat_usage(reply), "service_tier": "default", "system_fingerprint": "fp_emulator",
            **reply.extra_fields,
        }

    def stream_frames(self, call: Call, reply: Reply) -> list[bytes]:
        if call.endpoint == "responses":
            return self._response_frames(call, reply)
        return self._chat_frames(call, reply)

    def _chat_frames(self, call: Call, reply: Reply) -> list[bytes]:
        head = {"id": f"chatcmpl-{next(_ids):08x}", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": call.model, "service_tier": "default", "system_fingerprint": "fp_emulator"}
        include_usage = bool(((call.body or {}).get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return _sse({**head, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                              "finish_reason": finish}], **extra,
                         **(reply.extra_fields if finish else {})})

        step = max(1, reply.chunk_size)
        frames = [chunk({"role": "assistant", "content": "", "refusal": None})]
        frames += [chunk({"reasoning_content": reply.reasoning[i:i + step]})
                   for i in range(0, len(reply.reasoning), step)]
        frames += [chunk({"content": piece}) for piece in reply.text_chunks()]
        for index, c in enumerate(reply.tool_calls):
            frames.append(chunk({"tool_calls": [{"index": index, "id": _call_id(c, index),
                                                 "type": "function",
                                                 "function": {"name": c.name, "arguments": ""}}]}))
            args = json.dumps(dict(c.arguments))
            frames += [chunk({"tool_calls": [{"index": index, "function": {"arguments": args[i:i + step]}}]})
                       for i in range(0, len(args), step)]
        frames.append(chunk({}, _FINISH[reply.stop_kind]))
        if include_usage:
            frames.append(_sse({**head, "choices": [], "usage": _chat_usage(reply)}))
        frames.append(b"data: [DONE]\n\n")
        return frames

    # --- Responses API ----------------------------------------------------------------------
    def _response(self, call: Call, reply: Reply, rid: str, *, completed: bool) -> dict[str, Any]:
        body = call.body or {}
        incomplete = completed and reply.stop_kind in _INCOMPLETE
        return {
            "id": rid, "object": "response", "created_at": int(time.time()),
            "status": ("incomplete" if incomplete else "completed") if completed else "in_progress",
            "background": False, "error": None,
            "incomplete_details": {"reason": _INCOMPLETE[reply.stop_kind]} if incomplete else None,
            "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "model": call.model, "output": _output_items(reply, rid) if completed else [],
            "parallel_tool_calls": True, "previous_response_id": None,
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "safety_identifier": body.get("safety_identifier"), "service_tier": "default",
            "store": body.get("store", True), "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools", []),
            "top_p": body.get("top_p", 1.0), "truncation": "disabled",
            "usage": _responses_usage(reply) if completed else None, "user": None,
            "metadata": body.get("metadata") or {},
        }

    def _response_frames(self, call: Call, reply: Reply) -> list[bytes]:
        rid = f"resp_{next(_ids):08x}"
        seq = itertools.count()
        frames: list[bytes] = []

        def emit(event: str, **fields: Any) -> None:
            frames.append(_sse({"type": event, "sequence_number": next(seq), **fields}, event))

        started = self._response(call, reply, rid, completed=False)
        emit("response.created", response=started)
        emit("response.in_progress", response=started)
        step = max(1, reply.chunk_size)
        for out, item in enumerate(_output_items(reply, rid)):
            kind = item["type"]
            if kind == "reasoning":
                emit("response.output_item.added", output_index=out,
                     item={**item, "summary": [], "encrypted_content": None, "status": "in_progress"})
                text = item["summary"][0]["text"] if item["summary"] else ""
                if item["summary"]:
                    emit("response.reasoning_summary_part.added", item_id=item["id"], output_index=out,
                         summary_index=0, part={"type": "summary_text", "text": ""})
                    for i in range(0, len(text), step):
                        emit("response.reasoning_summary_text.delta", item_id=item["id"], output_index=out,
                             summary_index=0, delta=text[i:i + step], obfuscation="x")
                    emit("response.reasoning_summary_text.done", item_id=item["id"], output_index=out,
                         summary_index=0, text=text)
                    emit("response.reasoning_summary_part.done", item_id=item["id"], output_index=out,
                         summary_index=0, part={"type": "summary_text", "text": text})
            elif kind == "message":
                emit("response.output_item.added", output_index=out,
                     item={**item, "content": [], "status": "in_progress"})
                part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                emit("response.content_part.added", item_id=item["id"], output_index=out, content_index=0, part=part)
                for piece in reply.text_chunks():
                    emit("response.output_text.delta", item_id=item["id"], output_index=out, content_index=0,
                         delta=piece, logprobs=[], obfuscation="x")
                emit("response.output_text.done", item_id=item["id"], output_index=out, content_index=0,
                     text=reply.text, logprobs=[])
                emit("response.content_part.done", item_id=item["id"], output_index=out, content_index=0,
                     part=item["content"][0])
            else:
                emit("response.output_item.added", output_index=out,
                     item={**item, "arguments": "", "status": "in_progress"})
                args = item["arguments"]
                for i in range(0, len(args), step):
                    emit("response.function_call_arguments.delta", item_id=item["id"], output_index=out,
                         delta=args[i:i + step], obfuscation="x")
                emit("response.function_call_arguments.done", item_id=item["id"], output_index=out,
                     name=item["name"], arguments=args)
            emit("response.output_item.done", output_index=out, item=item)
        final = self._response(call, reply, rid, completed=True)
        emit("response.incomplete" if final["status"] == "incomplete" else "response.completed", response=final)
        return frames

    # --- failures ---------------------------------------------------------------------------
    def error(self, call: Call, fault: Fault) -> WireResponse:
        headers = _headers()
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = str(fault.retry_after_ms)
        return WireResponse(fault.status, json.dumps({"error": _error_body(fault)}).encode(), headers)

    def stream_error_frame(self, call: Call, fault: Fault) -> bytes:
        error = _error_body(fault, stream=True)
        if call.endpoint != "responses":
            return _sse({"error": error})
        if fault.error_type in (None, "server_error"):
            # A failure of the model run itself ends the response: ``response.failed`` with its error.
            failed = self._response(call, Reply(), f"resp_{next(_ids):08x}", completed=False)
            failed.update(status="failed", error={"code": "server_error", "message": error["message"]})
            return _sse({"type": "response.failed", "sequence_number": 0, "response": failed}, "response.failed")
        return _sse({"type": "error", "sequence_number": 0, "code": error["code"], "message": error["message"],
                     "param": None}, "error")

    def malformed_frame(self, call: Call) -> bytes:
        if call.endpoint == "responses":
            return b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"tru\n\n'
        return b'data: {"id":"chatcmpl-broken","choices":[{"delta":{"content":"tru\n\n'


def _schema_problem(endpoint: str, body: Mapping[str, Any]) -> str | None:
    """What OpenAI rejects in a request's schemas: strict ones break strict mode's rules, and every
    function's parameters need an object at the root."""
    if endpoint == "chat":
        fmt = body.get("response_format") or {}
        spec = fmt.get("json_schema") or {} if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else {}
        functions = [t.get("function") or {} for t in body.get("tools") or () if isinstance(t, dict)]
    elif endpoint == "responses":
        fmt = (body.get("text") or {}).get("format") or {}
        spec = fmt if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else {}
        functions = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    else:
        return None
    if spec.get("strict"):
        problem = openai_strict_problem(spec.get("schema"), f"response_format '{spec.get('name')}'")
        if problem is not None:
            return problem
    for function in functions:
        where = f"function '{function.get('name')}'"
        problem = tool_input_problem(function.get("parameters", {"type": "object"}), where)
        if problem is None and function.get("strict"):
            problem = openai_strict_problem(function.get("parameters"), where)
        if problem is not None:
            return problem
    return None


def _call_id(call: ScriptedToolCall, index: int) -> str:
    """The scripted id, or one derived from the call, so a stream and a whole answer agree."""
    digest = hashlib.sha1(f"{index}:{call.name}:{sorted(call.arguments.items())}".encode()).hexdigest()
    return call.id or f"call_{digest[:24]}"


def _headers() -> dict[str, str]:
    return {"x-request-id": f"req_{next(_ids):012x}", "openai-processing-ms": "1", "openai-version": "2020-10-01"}


def _error_body(fault: Fault, *, stream: bool = False) -> dict[str, Any]:
    status = 500 if stream and fault.status == 200 else fault.status
    kind, code = _ERROR_KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    if fault.error_type in _KNOWN_TYPES:
        kind = fault.error_type
    elif fault.error_type:
        code = fault.error_type
    message = fault.message or _MESSAGES.get(status) or f"Error {status}"
    param = "messages" if code == "context_length_exceeded" else None
    return {"message": message, "type": kind, "param": param, "code": code}


def _chat_usage(reply: Reply) -> dict[str, Any]:
    u = reply.usage
    prompt, completion = u.input_tokens or 0, u.output_tokens or 0
    return {
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens, "cache_write_tokens": u.cache_write_tokens,
                                  "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def _responses_usage(reply: Reply) -> dict[str, Any]:
    u = reply.usage
    prompt, completion = u.input_tokens or 0, u.output_tokens or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": u.cached_input_tokens, "cache_write_tokens": u.cache_write_tokens},
        "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": prompt + completion,
    }


def _output_items(reply: Reply, rid: str) -> list[dict[str, Any]]:
    """A response's ``output``, deterministic per response id so stream and final agree."""
    suffix = rid.removeprefix("resp_")
    items: list[dict[str, Any]] = []
    if reply.reasoning or reply.reasoning_signature:
        # Deterministic: the id travels inside the reasoning signature a client passes back.
        digest = hashlib.sha1(f"{reply.reasoning}:{reply.reasoning_signature}".encode()).hexdigest()
        items.append({"id": f"rs_{digest[:32]}", "type": "reasoning", "status": "completed",
                      "summary": [{"type": "summary_text", "text": reply.reasoning}] if reply.reasoning else [],
                      "encrypted_content": reply.reasoning_signature})
    if reply.text or not reply.tool_calls:
        items.append({"id": f"msg_{suffix}", "type": "message", "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}]})
    for i, c in enumerate(reply.tool_calls):
        items.append({"id": f"fc_{suffix}_{i}", "type": "function_call", "status": "completed",
                      "call_id": _call_id(c, i), "name": c.name,
                      "arguments": json.dumps(dict(c.arguments))})
    return items


PROTOCOL = OpenAIWire()
