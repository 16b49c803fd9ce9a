"""``OpenAIAdapter``: OpenAI, Azure OpenAI and OpenAI-compatible endpoints through the official
``openai`` SDK, over Chat Completions or the Responses API.

The adapter is a translation table (request, response, stream and error mapping); every
difference between providers is an ``OpenAIOptions`` value chosen by the composition root.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncGenerator, Mapping
from typing import Any, Literal

import openai
from openai import AsyncOpenAI

from llmport.domain import (
    Completion,
    CompletionRequest,
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    ImagePart,
    InvalidRequest,
    LLMError,
    Message,
    ModelNotFound,
    Overloaded,
    Part,
    ProviderUnavailable,
    RateLimited,
    ReasoningConfig,
    ReasoningDelta,
    ReasoningPart,
    Role,
    StopKind,
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
    parse_tool_arguments,
)
from llmport.domain.frozen import valueclass

from .base import SDKAdapter, attempt_timeout, with_calls
from .estimate import estimate_input_tokens
from .http_errors import error_for_status
from .openai_quirks import NO_QUIRKS, Quirks
from .openai_wire import open_stream
from .sse import read_reply
from .strict_schema import to_openai_strict

FAMILY = "openai"

# Model families that reject ``max_tokens`` on Chat Completions and want ``max_completion_tokens``.
_COMPLETION_TOKENS_MODELS = re.compile(r"^(o\d|gpt-5|codex)", re.IGNORECASE)

_CHAT_STOP: dict[str | None, StopKind] = {
    "stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
    "content_filter": "content_filter",
}
_INCOMPLETE_STOP: dict[str | None, StopKind] = {"max_output_tokens": "max_tokens", "content_filter": "content_filter"}

# Error ``code``/``type`` values that decide the class on their own (in-stream errors carry no status).
_BY_CODE: dict[str, type[LLMError]] = {
    "context_length_exceeded": ContextLengthExceeded,
    "string_above_max_length": ContextLengthExceeded,
    "content_filter": ContentFiltered,
    "content_policy_violation": ContentFiltered,
    "rate_limit_exceeded": RateLimited,
    "rate_limit_error": RateLimited,
    "tokens": RateLimited,
    "requests": RateLimited,
    "overloaded": Overloaded,
    "overloaded_error": Overloaded,
    "server_is_overloaded": Overloaded,
    "slow_down": Overloaded,
    "server_error": ProviderUnavailable,
    "service_unavailable": ProviderUnavailable,
    "api_error": ProviderUnavailable,
    "timeout": Timeout,
    "model_not_found": ModelNotFound,
    "invalid_request_error": InvalidRequest,
    "invalid_prompt": InvalidRequest,
}
_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})
_KNOWN_ITEMS = frozenset({"message", "function_call", "reasoning"})


@valueclass
class OpenAIOptions:
    """What differs between OpenAI-family providers (chosen at composition time, never per call).

    ``api``: Chat Completions or the Responses API. ``store``: the vendor may keep responses
    (None: do not send the parameter, for endpoints that do not know it). ``end_user_param``: the
    request parameter that carries the tenant id (None: not sent). ``max_tokens_param``: None picks
    by model family. ``reasoning_effort``: send ``reasoning_effort`` on Chat Completions.
    ``count_tokens_endpoint``: the service has ``/responses/input_tokens`` (else an estimate).
    ``stream_usage``: ask for ``stream_options.include_usage``. ``quirks``: the service's request
    rules and kept response fields (``openai_quirks``), for Chat Completions.
    """

    api: Literal["chat", "responses"] = "chat"
    store: bool | None = False
    end_user_param: Literal["safety_identifier", "user"] | None = "safety_identifier"
    max_tokens_param: Literal["max_completion_tokens", "max_tokens"] | None = None
    reasoning_effort: bool = True
    count_tokens_endpoint: bool = False
    stream_usage: bool = True
    quirks: Quirks = NO_QUIRKS


class OpenAIAdapter(SDKAdapter):
    """An ``LLMPort`` over an injected ``AsyncOpenAI`` (or ``AsyncAzureOpenAI``) client."""

    family = FAMILY
    #: Decode streams from the wire (``openai_wire``) rather than through the SDK's per-chunk models.
    wire_streams = True
    #: Decode whole replies from the raw response (``sse.read_reply``) rather than through the
    #: SDK's model of the reply (its ``construct_type`` costs more CPU than the rest of the call).
    wire_replies = True

    def __init__(self, client: AsyncOpenAI, *, provider: str | None = None,
                 options: OpenAIOptions | None = None) -> None:
        super().__init__(provider=provider)
        # The failover policy owns retries: the SDK must never retry on its own.
        self._client = client if client.max_retries == 0 else client.with_options(max_retries=0)
        self.options = options or OpenAIOptions()
        self._stream_options = {"include_usage": True} if self.options.stream_usage else None

    # --- calls ------------------------------------------------------------------------------
    async def _complete(self, request: CompletionRequest) -> Completion:
        # The limit is the SDK request's own timeout (as for every family): a silent server times
        # out there and frees its connection; the failover policy bounds the attempt as a whole.
        timeout = attempt_timeout(request)
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        if self.options.api == "responses":
            resource: Any = self._client.responses
            params, parse = self._responses_params(request), self._responses_completion
        else:
            resource = self._client.chat.completions
            params, parse = self._chat_params(request), self._chat_completion
        if self.wire_replies:
            raw = await resource.with_raw_response.create(**params, **extra)
            # decoded outside ``_reply``: a body that is not JSON maps as on the SDK path (``_map_error``)
            return self._reply(parse, read_reply(raw, "x-request-id"))
        return self._reply(parse, await resource.create(**params, **extra))

    def _events(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        if self.options.api == "responses":
            return self._responses_events(request)
        return self._chat_events(request)

    async def count_tokens(self, request: CompletionRequest) -> int:
        if not self.options.count_tokens_endpoint:
            return estimate_input_tokens(request)
        params = self._responses_params(request)
        body: dict[str, Any] = {k: params[k] for k in ("model", "input", "instructions", "tools", "tool_choice",
                                                        "text", "reasoning") if k in params}
        timeout = attempt_timeout(request)
        if timeout is not None:
            body["timeout"] = timeout
        result = await self._guard(self._client.responses.input_tokens.count(**body), request)
        return int(result.input_tokens)

    async def aclose(self) -> None:
        await self._client.close()

    async def _open_stream(self, resource: Any, params: dict[str, Any]) -> Any:
        """The vendor stream: SSE frames decoded here (see ``openai_wire``) or the SDK's own."""
        if self.wire_streams:
            return await open_stream(resource, params)
        return await resource.create(**params, stream=True)

    # --- Chat Completions: request ----------------------------------------------------------
    def _chat_params(self, request: CompletionRequest) -> dict[str, Any]:
        opts = self.options
        messages: list[dict[str, Any]] = []
        system = request.system_text
        if system:
            messages.append({"role": "system", "content": system})
        for message in request.messages:
            if message.role is not Role.SYSTEM:
                messages.extend(_chat_messages(message))
        params: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.tools:
            params["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": dict(t.parameters)}}
                for t in request.tools
            ]
        if request.tool_choice is not None:
            choice = request.tool_choice
            params["tool_choice"] = (
                {"type": "function", "function": {"name": choice.name}} if choice.mode == "tool" else choice.mode)
        fmt = request.response_format
        if fmt.kind == "json":
            params["response_format"] = {"type": "json_object"}
        elif fmt.kind == "json_schema":
            params["response_format"] = {"type": "json_schema", "json_schema": {
                "name": fmt.name, "schema": _schema(fmt.schema, fmt.strict), "strict": fmt.strict}}
        if request.max_tokens is not None:
            field = opts.max_tokens_param or (
                "max_completion_tokens" if _COMPLETION_TOKENS_MODELS.match(request.model) else "max_tokens")
            params[field] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.stop:
            params["stop"] = list(request.stop)
        if request.seed is not None:
            params["seed"] = request.seed
        if request.reasoning is not None and opts.reasoning_effort:
            params["reasoning_effort"] = _effort(request.reasoning)
        self._common_params(request, params)
        if opts.store and request.metadata:
            params["metadata"] = dict(request.metadata)  # Chat Completions keeps metadata only when stored
        return opts.quirks.apply(request.model, params)

    def _common_params(self, request: CompletionRequest, params: dict[str, Any]) -> None:
        """The parameters a caller cannot override: storage and the end-user identifier."""
        if self.options.store is not None:
            params["store"] = self.options.store
        if request.tenant_id is not None and self.options.end_user_param is not None:
            params[self.options.end_user_param] = request.tenant_id

    # --- Chat Completions: response ---------------------------------------------------------
    def _chat_completion(self, response: Any) -> Completion:
        if not response.choices:
            raise ProviderUnavailable("the provider returned no choices", request_id=_request_id(response))
        choice = response.choices[0]
        finish = choice.finish_reason
        message = getattr(choice, "message", None)
        if message is None:
            # Azure's content filter cuts the answer to a choice with no message at all.
            if finish != "content_filter":
                raise ProviderUnavailable(f"the provider returned a choice without a message (finish_reason "
                                          f"{finish!r})", request_id=_request_id(response))
            return Completion((), StopReason("content_filter", finish), _chat_usage(response.usage), self.provider,
                              response.model, response.id, extras=self.options.quirks.kept(response.model_extra))
        parts: list[Part] = []
        reasoning = _extra_reasoning(message)
        if reasoning:
            parts.append(ReasoningPart(reasoning, None, FAMILY))
        if message.content:
            parts.append(TextPart(message.content))
        refusal = getattr(message, "refusal", None)
        if refusal:
            parts.append(TextPart(refusal))
        for call in message.tool_calls or ():
            function = getattr(call, "function", None)
            if function is None:  # custom (grammar) tools are not part of the domain
                continue
            arguments, raw = parse_tool_arguments(function.arguments or "")
            parts.append(ToolCallPart(call.id, function.name, arguments, raw))
        stop = _chat_stop(finish, refusal=bool(refusal), has_calls=any(isinstance(p, ToolCallPart) for p in parts))
        return Completion(tuple(parts), stop, _chat_usage(response.usage), self.provider, response.model,
                          response.id, extras=self.options.quirks.kept(response.model_extra))

    # --- Chat Completions: stream -----------------------------------------------------------
    async def _chat_events(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        params = self._chat_params(request)
        timeout = attempt_timeout(request)
        if timeout is not None:
            params["timeout"] = timeout
        if self._stream_options is not None:
            params["stream_options"] = self._stream_options
        stream = await self._open_stream(self._client.chat.completions, params)
        try:
            await _check_event_stream(stream.response)
            finish: str | None = None
            refused = False
            usage: Any = None
            model = response_id = None
            open_calls: dict[int, int] = {}  # vendor index -> domain index
            called = False
            quirks = self.options.quirks
            extras: dict[str, Any] = {}
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                if quirks.keep:
                    extras.update(quirks.kept(chunk.model_extra))
                choices = chunk.choices
                if not choices:
                    continue
                if response_id is None:
                    model, response_id = chunk.model, chunk.id
                choice = choices[0]
                delta = choice.delta
                if delta is not None:
                    extra = delta.model_extra
                    if extra:
                        reasoning = extra.get("reasoning_content") or extra.get("reasoning")
                        if reasoning and isinstance(reasoning, str):
                            yield ReasoningDelta(reasoning, None, FAMILY)
                    if delta.content:
                        yield TextDelta(delta.content)
                    if delta.refusal:
                        refused = True
                        yield TextDelta(delta.refusal)
                    if delta.tool_calls:
                        for call in delta.tool_calls:
                            index = call.index if call.index is not None else len(open_calls)
                            function = call.function
                            if index not in open_calls:
                                open_calls[index] = len(open_calls)
                                called = True
                                name = function.name if function is not None else None
                                yield ToolCallStart(open_calls[index], call.id or f"call_{index}", name or "")
                            if function is not None and function.arguments:
                                yield ToolCallDelta(open_calls[index], function.arguments)
                if choice.finish_reason is not None:
                    finish = choice.finish_reason
                    for domain_index in open_calls.values():
                        yield ToolCallEnd(domain_index)
                    open_calls = {}
            if finish is None:
                raise ConnectionFailed("the stream ended before its final chunk")
            yield UsageUpdate(_chat_usage(usage))
            yield StreamEnd(_chat_stop(finish, refusal=refused, has_calls=bool(called)), self.provider, model,
                            response_id, extras=extras)
        finally:
            await stream.close()

    # --- Responses API: request -------------------------------------------------------------
    def _responses_params(self, request: CompletionRequest) -> dict[str, Any]:
        if request.stop:
            raise InvalidRequest("the Responses API has no stop sequences; configure this provider with "
                                 "api='chat' or drop 'stop'", field="stop")
        if request.seed is not None:
            raise InvalidRequest("the Responses API has no seed; configure this provider with api='chat' or "
                                 "drop 'seed'", field="seed")
        items: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role is not Role.SYSTEM:
                items.extend(_response_items(message))
        params: dict[str, Any] = {"model": request.model, "input": items}
        system = request.system_text
        if system:
            params["instructions"] = system
        if request.tools:
            params["tools"] = [
                {"type": "function", "name": t.name, "description": t.description,
                 "parameters": dict(t.parameters), "strict": False}
                for t in request.tools
            ]
        if request.tool_choice is not None:
            choice = request.tool_choice
            params["tool_choice"] = {"type": "function", "name": choice.name} if choice.mode == "tool" else choice.mode
        fmt = request.response_format
        if fmt.kind == "json":
            params["text"] = {"format": {"type": "json_object"}}
        elif fmt.kind == "json_schema":
            params["text"] = {"format": {"type": "json_schema", "name": fmt.name,
                                         "schema": _schema(fmt.schema, fmt.strict), "strict": fmt.strict}}
        if request.max_tokens is not None:
            params["max_output_tokens"] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.reasoning is not None:
            reasoning: dict[str, Any] = {"effort": _effort(request.reasoning)}
            if request.reasoning.include_text:
                reasoning["summary"] = "auto"
            params["reasoning"] = reasoning
            if not self.options.store:
                # Without storage the reasoning comes back encrypted, to be passed back next turn.
                params["include"] = ["reasoning.encrypted_content"]
        self._common_params(request, params)
        if request.metadata:
            params["metadata"] = dict(request.metadata)
        return params

    # --- Responses API: response ------------------------------------------------------------
    def _responses_completion(self, response: Any) -> Completion:
        if not isinstance(response.status, str) or not isinstance(response.output, list):
            raise ProviderUnavailable("the provider returned a response without a status or an output list")
        parts: list[Part] = []
        refused = False
        for item in response.output or ():
            kind = item.type
            if kind == "message":
                for content in item.content:
                    if content.type == "output_text":
                        parts.append(TextPart(content.text))
                    elif content.type == "refusal":
                        refused = True
                        parts.append(TextPart(content.refusal))
                    else:
                        raise ProviderUnavailable(f"the provider sent message content of unknown type "
                                                  f"{content.type!r}")
            elif kind == "function_call":
                arguments, raw = parse_tool_arguments(item.arguments or "")
                parts.append(ToolCallPart(item.call_id, item.name, arguments, raw))
            elif kind == "reasoning":
                text = "\n\n".join(s.text for s in item.summary or ()) or "".join(
                    c.text for c in getattr(item, "content", None) or ())
                parts.append(ReasoningPart(text, _pack_reasoning(item.id, item.encrypted_content), FAMILY))
            else:  # built-in tools (never requested here) or a type this adapter does not know
                raise ProviderUnavailable(f"the provider sent an output item of unknown type {kind!r}")
        return Completion(tuple(parts), _responses_stop(response, parts, refused), _responses_usage(response.usage),
                          self.provider, response.model, response.id)

    # --- Responses API: stream --------------------------------------------------------------
    async def _responses_events(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        params = self._responses_params(request)
        timeout = attempt_timeout(request)
        if timeout is not None:
            params["timeout"] = timeout
        stream = await self._open_stream(self._client.responses, params)
        try:
            await _check_event_stream(stream.response)
            final: Any = None
            refused = False
            calls: dict[int, int] = {}  # output index -> domain tool call index
            argued: set[int] = set()  # output indexes whose arguments arrived as deltas
            async for event in stream:
                kind = event.type
                if kind == "response.output_text.delta":
                    yield TextDelta(event.delta)
                elif kind == "response.function_call_arguments.delta":
                    index = calls.get(event.output_index)
                    if index is None:
                        raise ProviderUnavailable("tool call arguments arrived for an unannounced call")
                    argued.add(event.output_index)
                    yield ToolCallDelta(index, event.delta)
                elif kind == "response.reasoning_summary_text.delta" or kind == "response.reasoning_text.delta":
                    yield ReasoningDelta(event.delta, None, FAMILY)
                elif kind == "response.reasoning_summary_part.added":
                    if event.summary_index > 0:
                        yield ReasoningDelta("\n\n", None, FAMILY)
                elif kind == "response.output_item.added":
                    item = event.item
                    if item.type == "function_call":
                        calls[event.output_index] = len(calls)
                        yield ToolCallStart(calls[event.output_index], item.call_id, item.name)
                    elif item.type not in _KNOWN_ITEMS:
                        raise ProviderUnavailable(f"the provider sent an output item of unknown type {item.type!r}")
                elif kind == "response.output_item.done":
                    item = event.item
                    if item.type == "function_call" and event.output_index in calls:
                        index = calls[event.output_index]
                        if event.output_index not in argued and item.arguments:
                            yield ToolCallDelta(index, item.arguments)
                        yield ToolCallEnd(index)
                    elif item.type == "reasoning":
                        yield ReasoningDelta("", _pack_reasoning(item.id, item.encrypted_content), FAMILY)
                elif kind == "response.refusal.delta":
                    refused = True
                    yield TextDelta(event.delta)
                elif kind == "response.completed" or kind == "response.incomplete":
                    final = event.response
                elif kind == "response.failed":
                    raise _response_failure(event.response)
                elif kind == "error":
                    raise _error_for_code(event.code, None, event.message or "the stream failed",
                                          getattr(event, "param", None))
            if final is None:
                raise ConnectionFailed("the stream ended before response.completed")
            yield UsageUpdate(_responses_usage(final.usage))
            has_calls = bool(calls)
            stop = _responses_stop(final, (), refused, has_calls)
            yield StreamEnd(stop, self.provider, final.model, final.id)
        finally:
            await stream.close()

    # --- errors -----------------------------------------------------------------------------
    def _map_error(self, exc: Exception, request: CompletionRequest) -> LLMError | None:
        if isinstance(exc, openai.APITimeoutError):
            return Timeout("the provider did not answer in time")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            detail = f": {type(cause).__name__}" if cause is not None else ""
            return ConnectionFailed(f"connection to the provider failed{detail}")
        if isinstance(exc, openai.APIStatusError):
            body = exc.body if isinstance(exc.body, Mapping) else {}
            given = body.get("message")
            message = given if isinstance(given, str) and given else exc.message
            code = exc.code if isinstance(exc.code, str) else None
            kind = exc.type if isinstance(exc.type, str) else None
            if code in _FILTER_CODES:
                return ContentFiltered(message, status=exc.status_code, request_id=exc.request_id,
                                       vendor_type=kind, vendor_code=code)
            return error_for_status(exc.status_code, message, headers=exc.response.headers, vendor_type=kind,
                                    vendor_code=code, request_id=exc.request_id, param=exc.param)
        if isinstance(exc, openai.APIError):  # an in-stream ``data: {"error": ...}``: no status
            return _error_for_code(exc.code, exc.type, exc.message, exc.param)
        if isinstance(exc, json.JSONDecodeError):
            return ProviderUnavailable(f"the provider sent a malformed response: {exc.msg}")
        if isinstance(exc, openai.OpenAIError):
            return ProviderUnavailable(f"{type(exc).__name__}: {exc}")
        return None


# --- helpers (module level: no per-call closures) -------------------------------------------
def _effort(config: ReasoningConfig) -> str:
    if config.effort is not None:
        return config.effort
    budget = config.budget_tokens or 0  # an explicit budget, mapped onto OpenAI's effort levels
    return "low" if budget <= 2048 else "medium" if budget <= 16384 else "high"


def _image_url(part: ImagePart) -> str:
    if part.url is not None:
        return part.url
    return f"data:{part.media_type};base64,{base64.b64encode(part.data or b'').decode('ascii')}"


def _tool_output(part: ToolResultPart) -> str:
    # OpenAI has no error flag on tool results: say it in the content rather than drop it.
    return f"[tool error] {part.content}" if part.is_error else part.content


def _arguments(call: ToolCallPart) -> str:
    return call.raw_arguments if call.raw_arguments is not None else json.dumps(dict(call.arguments))


def _chat_messages(message: Message) -> list[dict[str, Any]]:
    role = message.role
    if role is Role.USER:
        parts = message.parts
        if len(parts) == 1 and isinstance(parts[0], TextPart):
            return [{"role": "user", "content": parts[0].text}]
        content = [{"type": "text", "text": p.text} if isinstance(p, TextPart)
                   else {"type": "image_url", "image_url": {"url": _image_url(p)}}
                   for p in parts if isinstance(p, TextPart | ImagePart)]
        return [{"role": "user", "content": content}]
    if role is Role.TOOL:
        return [{"role": "tool", "tool_call_id": p.call_id, "content": _tool_output(p)}
                for p in message.parts if isinstance(p, ToolResultPart)]
    # assistant: reasoning is not sent back on Chat Completions (providers reject or ignore it)
    out: dict[str, Any] = {"role": "assistant", "content": message.text}
    calls = [{"id": p.id, "type": "function", "function": {"name": p.name, "arguments": _arguments(p)}}
             for p in message.parts if isinstance(p, ToolCallPart)]
    if calls:
        out["tool_calls"] = calls
        if not out["content"]:
            out["content"] = None
    return [out]


def _response_items(message: Message) -> list[dict[str, Any]]:
    role = message.role
    if role is Role.USER:
        content = [{"type": "input_text", "text": p.text} if isinstance(p, TextPart)
                   else {"type": "input_image", "image_url": _image_url(p), "detail": "auto"}
                   for p in message.parts if isinstance(p, TextPart | ImagePart)]
        return [{"role": "user", "content": content}]
    if role is Role.TOOL:
        return [{"type": "function_call_output", "call_id": p.call_id, "output": _tool_output(p)}
                for p in message.parts if isinstance(p, ToolResultPart)]
    items: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                items.append({"role": "assistant", "content": part.text})
        elif isinstance(part, ToolCallPart):
            items.append({"type": "function_call", "call_id": part.id, "name": part.name,
                          "arguments": _arguments(part)})
        elif isinstance(part, ReasoningPart) and part.provider == FAMILY and part.signature:
            item_id, _, encrypted = part.signature.partition(":")
            if not item_id:
                continue
            reasoning: dict[str, Any] = {"type": "reasoning", "id": item_id,
                                         "summary": [{"type": "summary_text", "text": part.text}] if part.text else []}
            if encrypted:
                reasoning["encrypted_content"] = encrypted
            items.append(reasoning)
    return items


def _pack_reasoning(item_id: str, encrypted: str | None) -> str:
    """The reasoning part's signature: the item id (needed to pass it back) and encrypted content."""
    return f"{item_id}:{encrypted or ''}"


def _extra_reasoning(message: Any) -> str | None:
    extra = message.model_extra
    if not extra:
        return None
    value = extra.get("reasoning_content") or extra.get("reasoning")
    return value if isinstance(value, str) and value else None


def _request_id(response: Any) -> str | None:
    raw = getattr(response, "_request_id", None)
    return raw if isinstance(raw, str) else None


def _chat_stop(finish: str | None, *, refusal: bool, has_calls: bool) -> StopReason:
    """Refusals are content filtering; tool calls present mean a tool-use stop whatever the
    ``finish_reason`` (several OpenAI-compatible servers say "stop")."""
    if refusal:
        return StopReason("content_filter", "refusal")
    stop = _CHAT_STOPS.get(finish)
    if stop is None:
        stop = StopReason(_CHAT_STOP.get(finish, "other"), finish)
        if len(_CHAT_STOPS) < 64:  # the vendor's strings: bounded
            _CHAT_STOPS[finish] = stop
    return with_calls(stop, has_calls)


_CHAT_STOPS: dict[str | None, StopReason] = {}  # one shared value per finish reason seen


async def _check_event_stream(response: Any) -> None:
    """A stream request must be answered with an event stream; name what arrived instead (a
    gateway that ignores ``stream``, or one answering its error as a 200 JSON body)."""
    media = str(response.headers.get("content-type", "")).split(";")[0].strip().lower()
    if media == "text/event-stream" or not media:
        return
    body = await response.aread()
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        raise _error_for_code(_str(error.get("code")), _str(error.get("type")),
                              message if isinstance(message, str) and message else "the stream failed",
                              _str(error.get("param")))
    what = f"a {data.get('object')!r} object" if isinstance(data, dict) and isinstance(data.get("object"), str) \
        else f"{len(body)} bytes"
    raise ProviderUnavailable(f"the provider answered a stream request with a plain {media} body ({what}) "
                              "instead of an event stream")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _chat_usage(usage: Any) -> Usage:
    if usage is None:
        return Usage.UNKNOWN
    prompt = getattr(usage, "prompt_tokens", None) or 0
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    written = getattr(details, "cache_write_tokens", None) or 0
    if not cached and usage.model_extra:  # DeepSeek reports its cache hits on its own
        cached = usage.model_extra.get("prompt_cache_hit_tokens") or 0
    output_details = getattr(usage, "completion_tokens_details", None)
    completion = getattr(usage, "completion_tokens", None)
    reported = isinstance(getattr(usage, "prompt_tokens", None), int) and isinstance(completion, int)
    return Usage(prompt, completion or 0, cached, written, getattr(output_details, "reasoning_tokens", None) or 0,
                 reported)


def _responses_usage(usage: Any) -> Usage:
    if usage is None:
        return Usage.UNKNOWN
    details = getattr(usage, "input_tokens_details", None)
    output_details = getattr(usage, "output_tokens_details", None)
    reported = isinstance(usage.input_tokens, int) and isinstance(usage.output_tokens, int)
    return Usage(usage.input_tokens or 0, usage.output_tokens or 0, getattr(details, "cached_tokens", None) or 0,
                 getattr(details, "cache_write_tokens", None) or 0,
                 getattr(output_details, "reasoning_tokens", None) or 0, reported)


def _responses_stop(response: Any, parts: Any, refused: bool, has_calls: bool | None = None) -> StopReason:
    status = response.status
    if status == "incomplete":
        reason = response.incomplete_details.reason if response.incomplete_details is not None else None
        return StopReason(_INCOMPLETE_STOP.get(reason, "other"), reason)
    if refused:
        return StopReason("content_filter", "refusal")
    if has_calls is None:
        has_calls = any(isinstance(p, ToolCallPart) for p in parts)
    return StopReason("tool_use" if has_calls else "end_turn", status)


def _error_for_code(code: str | None, kind: str | None, message: str, param: str | None = None) -> LLMError:
    cls = _BY_CODE.get(code or "") or _BY_CODE.get(kind or "") or ProviderUnavailable
    if cls is InvalidRequest and param == "model":
        cls = ModelNotFound
    return cls(message, vendor_type=kind, vendor_code=code)


def _response_failure(response: Any) -> LLMError:
    error = response.error
    if error is None:
        return ProviderUnavailable("the response failed")
    return _error_for_code(error.code, getattr(error, "type", None), error.message or "the response failed")


def _schema(schema: Mapping[str, Any] | None, strict: bool) -> dict[str, Any]:
    """The schema as sent: converted to strict mode's rules when strict (``InvalidRequest`` if impossible)."""
    return to_openai_strict(schema) if strict and schema else dict(schema or {})
