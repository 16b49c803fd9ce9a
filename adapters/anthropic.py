"""``AnthropicAdapter``: the Messages API of the official ``anthropic`` SDK, behind ``LLMPort``.

Works over any async client of the SDK: ``AsyncAnthropic``, ``AsyncAnthropicBedrock`` or
``AsyncAnthropicVertex`` (the client, injected, decides where requests go).

Refusals (the content-filter rule of every adapter): ``stop_reason`` "refusal" is a completion
with stop kind ``content_filter`` (raw "refusal"), with whatever output arrived and its usage.

JSON output: a ``json``/``json_schema`` response format is asked for with a forced synthetic tool
(works on every Claude model and platform) and its input comes back as the completion's text. When
the request also has tools or reasoning (neither combines with a forced tool choice), the API's
structured-output feature (``output_config.format``) is used instead.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import anthropic
import httpx2

from llmport.adapters.anthropic_wire import open_stream, speaks_sse
from llmport.adapters.base import SDKAdapter, attempt_timeout, with_calls
from llmport.adapters.estimate import estimate_input_tokens
from llmport.adapters.http_errors import error_for_status
from llmport.adapters.sse import read_reply, unwrap
from llmport.adapters.strict_schema import require_object_root
from llmport.domain import (
    AuthenticationFailed,
    Completion,
    CompletionRequest,
    ConnectionFailed,
    ImagePart,
    InvalidRequest,
    LLMError,
    Message,
    Part,
    ProviderUnavailable,
    ReasoningDelta,
    ReasoningPart,
    Role,
    StopReason,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    Timeout,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
    UsageUpdate,
)

AnyAnthropicClient = anthropic.AsyncAnthropic | anthropic.AsyncAnthropicBedrock | anthropic.AsyncAnthropicVertex

FAMILY = "anthropic"
MAX_CACHE_BREAKPOINTS = 4  # the API rejects more

_STOP: dict[str, StopReason] = {
    "end_turn": StopReason("end_turn", "end_turn"),
    "max_tokens": StopReason("max_tokens", "max_tokens"),
    "stop_sequence": StopReason("stop_sequence", "stop_sequence"),
    "tool_use": StopReason("tool_use", "tool_use"),
    "refusal": StopReason("content_filter", "refusal"),
    "pause_turn": StopReason("other", "pause_turn"),
    "model_context_window_exceeded": StopReason("max_tokens", "model_context_window_exceeded"),
}
_TOOL_CHOICE = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
_EPHEMERAL = {"type": "ephemeral"}
# In-stream ``error`` events arrive with HTTP status 200: map their type to the status it stands for.
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
    # Claude on Bedrock (InvokeModelWithResponseStream): in-stream exceptions, lower camel case.
    "validationException": 400,
    "throttlingException": 429,
    "modelTimeoutException": 408,
    "serviceUnavailableException": 503,
}


class AnthropicAdapter(SDKAdapter):
    """An ``LLMPort`` over an injected async Anthropic client (its own retries are turned off).

    ``default_max_tokens`` is sent when a request has no ``max_tokens`` (the API requires one).
    """

    family = FAMILY
    #: Decode plain-SSE streams from the wire (``anthropic_wire``) rather than through SDK models.
    wire_streams = True
    #: Decode whole replies from the raw response (``sse.read_reply``) rather than through the
    #: SDK's model of the message (its ``construct_type`` costs ~100 us CPU per call).
    wire_replies = True

    def __init__(self, client: AnyAnthropicClient, *, provider: str | None = None,
                 default_max_tokens: int = 4096) -> None:
        super().__init__(provider=provider)
        if client.max_retries != 0:
            client = client.with_options(max_retries=0)  # the failover policy owns retries
        self._client = client
        self._messages = client.messages
        self.default_max_tokens = default_max_tokens
        self._can_count = not isinstance(client, anthropic.AsyncAnthropicBedrock)
        # Bedrock and Vertex clients fetch cloud credentials per request, outside the SDK's wrapping.
        self._platform = isinstance(client, anthropic.AsyncAnthropicBedrock | anthropic.AsyncAnthropicVertex)

    # -- LLMPort ------------------------------------------------------------------------------

    async def _complete(self, request: CompletionRequest) -> Completion:
        params, json_tool = self._params(request)
        if self.wire_replies:
            raw = await self._messages.with_raw_response.create(**params)
            # decoded outside ``_reply``: a body that is not JSON maps as on the SDK path (``_map_error``)
            return self._reply(self._completion, read_reply(raw, "request-id"), json_tool)
        message = await self._messages.create(**params)
        return self._reply(self._completion, message, json_tool)

    async def _events(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        # One generator, no nested one: this loop runs once per SSE event (the SDK drops `ping`).
        params, json_tool = self._params(request)
        provider = self.provider
        tool_of_block: dict[int, int] = {}  # content block index -> tool call index
        json_block = -1
        usage = None
        stop = None
        response_id = model = None
        finished = False
        stream = await self._open_stream(params)
        try:
            async for event in stream:
                kind = event.type
                if kind == "content_block_delta":
                    delta = event.delta
                    dkind = delta.type
                    if dkind == "text_delta":
                        yield TextDelta(delta.text)
                    elif dkind == "input_json_delta":
                        if event.index == json_block:
                            yield TextDelta(delta.partial_json)
                        else:
                            yield ToolCallDelta(tool_of_block[event.index], delta.partial_json)
                    elif dkind == "thinking_delta":
                        yield ReasoningDelta(delta.thinking, None, FAMILY)
                    elif dkind == "signature_delta":
                        yield ReasoningDelta("", delta.signature, FAMILY)
                elif kind == "content_block_start":
                    block = event.content_block
                    bkind = block.type
                    if bkind == "tool_use":
                        if block.name == json_tool:
                            json_block = event.index
                        else:
                            index = tool_of_block[event.index] = len(tool_of_block)
                            yield ToolCallStart(index, block.id, block.name)
                    elif bkind == "text":
                        if block.text:
                            yield TextDelta(block.text)
                    elif bkind == "redacted_thinking":
                        yield ReasoningDelta("", block.data, FAMILY, redacted=True)
                    elif bkind != "thinking":
                        raise _unknown_block(bkind)
                elif kind == "content_block_stop":
                    if event.index in tool_of_block:
                        yield ToolCallEnd(tool_of_block[event.index])
                elif kind == "message_start":
                    message = event.message
                    response_id, model = message.id, message.model
                    usage = message.usage
                elif kind == "message_delta":
                    usage = _merge_usage(usage, event.usage)
                    if event.delta.stop_reason is not None:
                        stop = event.delta.stop_reason
                elif kind == "message_stop":
                    # Not returning here: the SDK then reads the body to its end, which keeps the
                    # connection alive for reuse (closing it early would cost a new one per stream).
                    finished = True
            if finished:
                yield UsageUpdate(_usage(usage) if usage is not None else Usage.UNKNOWN)
                yield StreamEnd(with_calls(_stop_reason(stop, json_tool), bool(tool_of_block)), provider, model,
                                response_id)
        finally:
            await stream.close()

    async def _open_stream(self, params: dict[str, Any]) -> Any:
        """The vendor stream: SSE decoded here (see ``anthropic_wire``) or the SDK's own."""
        if self.wire_streams and speaks_sse(self._client):
            return await open_stream(self._client, params)
        return await self._messages.create(**params, stream=True)

    async def count_tokens(self, request: CompletionRequest) -> int:
        params, _ = self._params(request)
        if not self._can_count:
            # The shared estimate: images at a flat cost, not their base64 length.
            return estimate_input_tokens(request)
        for name in ("max_tokens", "stop_sequences", "metadata", "extra_body"):
            params.pop(name, None)
        counted = await self._guard(self._messages.count_tokens(**params), request)
        return counted.input_tokens

    async def aclose(self) -> None:
        await self._client.close()

    # -- request mapping ----------------------------------------------------------------------

    def _params(self, request: CompletionRequest) -> tuple[dict[str, Any], str | None]:
        """The ``messages.create`` keyword arguments, and the synthetic JSON tool's name if any."""
        auto_cache = request.cache.prompt_cache == "auto"
        messages = _messages(request.messages, auto_cache)
        max_tokens = request.max_tokens or self.default_max_tokens
        params: dict[str, Any] = {"model": request.model, "messages": messages, "max_tokens": max_tokens}
        system = request.system_text
        if system:
            if auto_cache or any(m.cache_breakpoint for m in request.messages if m.role is Role.SYSTEM):
                params["system"] = [{"type": "text", "text": system, "cache_control": _EPHEMERAL}]
            else:
                params["system"] = system
        tools = [_tool(t.name, t.description, t.parameters) for t in request.tools]
        json_tool = None
        fmt = request.response_format
        if fmt.kind != "text":
            schema = dict(fmt.schema) if fmt.schema is not None else {"type": "object"}
            if tools or request.reasoning is not None:
                if fmt.kind == "json_schema":
                    schema = _output_schema(schema)
                params["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
            else:
                require_object_root(schema, "an Anthropic JSON output schema (sent as a forced tool's input)")
                json_tool = fmt.name
                tools.append(_tool(json_tool, "Respond with the answer as this tool's input.", schema))
                params["tool_choice"] = {"type": "tool", "name": json_tool}
        if tools:
            if auto_cache:
                tools[-1]["cache_control"] = _EPHEMERAL
            params["tools"] = tools
        choice = request.tool_choice
        if choice is not None and json_tool is None:
            params["tool_choice"] = _TOOL_CHOICE.get(choice.mode) or {"type": "tool", "name": choice.name}
        if request.reasoning is not None:
            budget = request.reasoning.budget(max_tokens)
            if budget >= max_tokens:
                if request.max_tokens is not None:
                    raise InvalidRequest(
                        f"max_tokens ({max_tokens}) must exceed the reasoning budget ({budget}) on Anthropic",
                        field="max_tokens")
                params["max_tokens"] = budget + self.default_max_tokens
            thinking: dict[str, Any] = {"type": "enabled", "budget_tokens": budget}
            if not request.reasoning.include_text:
                thinking["display"] = "omitted"
            params["thinking"] = thinking
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        if request.tenant_id:
            params["metadata"] = {"user_id": request.tenant_id}
        extra: dict[str, Any] = {}
        if request.temperature is not None:
            if request.temperature > 1.0:
                raise InvalidRequest(f"temperature must be in [0, 1] on Anthropic, got {request.temperature!r}",
                                     field="temperature")
            extra["temperature"] = request.temperature
        if request.top_p is not None:
            extra["top_p"] = request.top_p
        if extra:
            params["extra_body"] = extra  # not in this SDK's signature; the API still takes them
        if auto_cache or any(m.cache_breakpoint for m in request.messages):
            _check_breakpoints(params)
        # Passing the timeout always also skips the SDK's "non-streaming may take too long" guard.
        params["timeout"] = attempt_timeout(request) or self._client.timeout
        return params, json_tool

    # -- response mapping ---------------------------------------------------------------------

    def _completion(self, message: Any, json_tool: str | None) -> Completion:
        parts: list[Part] = []
        for block in message.content:
            kind = block.type
            if kind == "text":
                parts.append(TextPart(block.text))
            elif kind == "tool_use":
                arguments = unwrap(block.input)
                if not isinstance(arguments, dict):  # the API promises an object: a broken reply
                    raise ProviderUnavailable(f"the provider sent tool_use input that is not an object "
                                              f"({type(arguments).__name__})")
                if block.name == json_tool:
                    parts.append(TextPart(json.dumps(arguments)))
                else:
                    parts.append(ToolCallPart(block.id, block.name, arguments))
            elif kind == "thinking":
                parts.append(ReasoningPart(block.thinking, block.signature, FAMILY))
            elif kind == "redacted_thinking":
                parts.append(ReasoningPart("", block.data, FAMILY, redacted=True))
            else:
                raise _unknown_block(kind)
        stop = with_calls(_stop_reason(message.stop_reason, json_tool), any(isinstance(p, ToolCallPart)
                                                                            for p in parts))
        return Completion(tuple(parts), stop, _usage(message.usage), self.provider, message.model, message.id)

    # -- errors -------------------------------------------------------------------------------

    def _map_error(self, exc: Exception, request: CompletionRequest) -> LLMError | None:
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            vendor_type = exc.type if isinstance(exc.type, str) else _amzn_error_type(exc.response.headers)
            message = exc.api_message or str(exc)
            effective = _STATUS_OF_TYPE.get(vendor_type or "", 500) if status == 200 else status
            if vendor_type == "ModelNotReadyException":
                effective = 529  # Bedrock's "no capacity now" comes as a 429: it is an overload
            error = error_for_status(effective, message, headers=exc.response.headers, vendor_type=vendor_type,
                                     vendor_code=exc.error_code, request_id=exc.request_id)
            error.status = status
            return error
        if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
            return Timeout("the request timed out")
        if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
            return ConnectionFailed(f"connection failed: {type(exc).__name__}")
        if isinstance(exc, json.JSONDecodeError | anthropic.APIResponseValidationError):
            return ProviderUnavailable(f"malformed response from the provider: {type(exc).__name__}")
        if isinstance(exc, anthropic.AnthropicError):
            return ProviderUnavailable(str(exc))
        if isinstance(exc, TypeError) and "authentication" in str(exc):
            # The SDK's own check at request time: neither an API key nor an auth token is set.
            return AuthenticationFailed("no Anthropic credentials: set an API key or an auth token")
        if self._platform and _is_credential_failure(exc):
            return AuthenticationFailed(f"could not get the platform's credentials: {type(exc).__name__}")
        if self._platform and type(exc).__module__.startswith("botocore."):
            # e.g. a corrupt event-stream frame (checksum mismatch) on Bedrock: a transport failure.
            return ProviderUnavailable(f"Bedrock transport error: {type(exc).__name__}")
        return None


def _amzn_error_type(headers: Mapping[str, str]) -> str | None:
    """Bedrock names its HTTP errors in ``x-amzn-ErrorType`` (``Name:namespace``), not in the body."""
    value = headers.get("x-amzn-errortype")
    return (value.split(":", 1)[0] or None) if value else None


def _is_credential_failure(exc: Exception) -> bool:
    """A failure of the cloud credentials a Bedrock or Vertex client signs each request with:
    botocore or google-auth errors, or the SDK's own RuntimeError when none can be found."""
    name, module = type(exc).__name__, type(exc).__module__
    if module.startswith("google.auth."):
        return True
    if module.startswith("botocore."):
        return any(word in name for word in ("Credential", "Token", "SSO", "Auth"))
    return type(exc) is RuntimeError and str(exc).startswith("Could not resolve")


def _messages(history: Sequence[Message], auto_cache: bool) -> list[dict[str, Any]]:
    """Domain messages -> API turns: system left out (it is top-level), tool results as user-turn
    ``tool_result`` blocks, consecutive same-role turns merged, empty turns dropped."""
    turns: list[dict[str, Any]] = []
    last_user = -1
    for msg in history:
        role = msg.role
        if role is Role.SYSTEM:
            continue
        blocks = _blocks(msg)
        if not blocks:
            continue
        if msg.cache_breakpoint:
            blocks[-1] = {**blocks[-1], "cache_control": _EPHEMERAL}
        api_role = "assistant" if role is Role.ASSISTANT else "user"
        if turns and turns[-1]["role"] == api_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": api_role, "content": blocks})
        if role is Role.USER:
            last_user = len(turns) - 1
    if auto_cache and last_user >= 0:
        content = turns[last_user]["content"]
        content[-1] = {**content[-1], "cache_control": _EPHEMERAL}
    return turns


def _blocks(msg: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in msg.parts:
        if isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ToolResultPart):
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.call_id, "content": part.content}
            if part.is_error:
                result["is_error"] = True
            blocks.append(result)
        elif isinstance(part, ToolCallPart):
            if part.raw_arguments is not None and not part.arguments:
                raise InvalidRequest(f"tool call {part.id!r} has arguments that are not a JSON object; Anthropic "
                                     "takes only objects", field="messages")
            blocks.append({"type": "tool_use", "id": part.id, "name": part.name, "input": dict(part.arguments)})
        elif isinstance(part, ReasoningPart):
            # Only this family's signed reasoning can be sent back; it must go back unchanged.
            if part.provider != FAMILY or not part.signature:
                continue
            if part.redacted:
                blocks.append({"type": "redacted_thinking", "data": part.signature})
            else:
                blocks.append({"type": "thinking", "thinking": part.text, "signature": part.signature})
        elif isinstance(part, ImagePart):
            blocks.append({"type": "image", "source": _image_source(part)})
    return blocks


def _image_source(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        return {"type": "base64", "media_type": part.media_type,
                "data": base64.b64encode(part.data).decode("ascii")}
    url = part.url or ""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0]
        if not header.endswith(";base64") or not media_type:
            raise InvalidRequest("an image data URL must be base64 with a media type", field="image")
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def _output_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema as Anthropic's structured outputs take it, converted by the SDK's own
    ``transform_schema`` (closed objects; unsupported keywords moved into descriptions)."""
    try:
        return anthropic.transform_schema(dict(schema))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidRequest(f"Anthropic structured output cannot take this schema ({exc}); give every sub-schema "
                             "a type, anyOf, enum or const", field="response_format") from None


def _tool(name: str, description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": name, "input_schema": dict(schema)}
    if description:
        tool["description"] = description
    return tool


def _check_breakpoints(params: Mapping[str, Any]) -> None:
    count = sum(1 for t in params.get("tools", ()) if "cache_control" in t)
    system = params.get("system")
    if isinstance(system, list):
        count += 1
    count += sum(1 for turn in params["messages"] for b in turn["content"] if "cache_control" in b)
    if count > MAX_CACHE_BREAKPOINTS:
        raise InvalidRequest(f"{count} prompt-cache breakpoints requested; Anthropic allows at most "
                             f"{MAX_CACHE_BREAKPOINTS}", field="messages")


def _stop_reason(raw: str | None, json_tool: str | None) -> StopReason:
    if raw == "tool_use" and json_tool is not None:
        return StopReason("end_turn", raw)  # the synthetic JSON tool is an answer, not a call
    if raw is None:
        return StopReason("other", None)
    return _STOP.get(raw) or StopReason("other", raw)


def _unknown_block(kind: str) -> ProviderUnavailable:
    # Server tools (the only other block types) are never requested by this adapter.
    return ProviderUnavailable(f"the provider sent a content block of unknown type {kind!r}")


def _usage(u: Any) -> Usage:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; the domain's total includes them."""
    read = u.cache_read_input_tokens or 0
    write = u.cache_creation_input_tokens or 0
    details = u.output_tokens_details
    reported = isinstance(u.input_tokens, int) and isinstance(u.output_tokens, int)
    return Usage((u.input_tokens or 0) + read + write, u.output_tokens or 0, read, write,
                 details.thinking_tokens if details is not None else 0, reported)


class _UsageSoFar:
    """``message_start`` usage updated by ``message_delta`` (whose counts are cumulative)."""

    __slots__ = ("cache_creation_input_tokens", "cache_read_input_tokens", "input_tokens", "output_tokens",
                 "output_tokens_details")

    def __init__(self, start: Any) -> None:
        self.input_tokens = getattr(start, "input_tokens", 0)
        self.output_tokens = getattr(start, "output_tokens", 0)
        self.cache_read_input_tokens = getattr(start, "cache_read_input_tokens", 0)
        self.cache_creation_input_tokens = getattr(start, "cache_creation_input_tokens", 0)
        self.output_tokens_details = getattr(start, "output_tokens_details", None)


def _merge_usage(current: Any, delta: Any) -> _UsageSoFar:
    merged = current if isinstance(current, _UsageSoFar) else _UsageSoFar(current)
    for name in _UsageSoFar.__slots__:
        value = getattr(delta, name, None)
        if value is not None:
            setattr(merged, name, value)
    return merged
