"""``GoogleGenAIAdapter``: the Gemini API and Vertex AI through the official ``google-genai`` SDK.

A translation table over an injected ``google.genai.Client`` (its ``aio`` side):

- request: messages -> ``contents`` (roles user/model, tool results as ``function_response`` parts
  of a user turn), system -> ``system_instruction``, tools -> function declarations with their JSON
  schema as is, tool choice -> ``function_calling_config`` (AUTO / NONE / ANY / ANY + one name),
  JSON output -> ``response_mime_type`` + ``response_json_schema``, reasoning -> ``thinking_config``
  (``thinking_budget`` for a token budget, else ``thinking_level``).
- response: text, ``function_call`` parts (Gemini sends arguments whole and usually no id: ids are
  then synthesised from the response id), thought parts -> reasoning (``thought_signature`` as
  base64), ``usage_metadata`` (output includes thoughts), finish and prompt-block reasons.
- Content filtering (the rule of every adapter): a blocked prompt (``prompt_feedback.block_reason``)
  or a filtered candidate (SAFETY, RECITATION, ...) is a completion with stop kind
  ``content_filter`` (raw: the block or finish reason), with whatever output arrived and its usage.
- Streams: the SDK sends the request on the first iteration, and closing its generators does not
  close the HTTP response (a reference cycle keeps it open until garbage collection). The adapter
  therefore collects the responses the stream opens, through an httpx2 response hook installed by
  ``http_options`` (the composition factory uses it), and closes them when the stream ends.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import mimetypes
import uuid
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, cast

import google.auth.exceptions
import httpx2
import pydantic
from google import genai
from google.genai import _transformers, types
from google.genai import errors as genai_errors

from llmport.domain import (
    AuthenticationFailed,
    Completion,
    CompletionRequest,
    ConnectionFailed,
    ImagePart,
    InvalidRequest,
    LLMError,
    Message,
    Overloaded,
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

from .base import SDKAdapter, attempt_timeout
from .http_errors import error_for_status, retry_after_seconds

FAMILY = "google"
SYNTHETIC_ID_PREFIX = "llmport_"  # tool call ids made up here; never sent back to the API

_FILTERED = frozenset({
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR",
})
_THINKING_LEVEL = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH"}
_MODE = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}

# The stream being opened in this task collects its HTTP responses here (see ``track_response``).
_OPENED: ContextVar[list[httpx2.Response] | None] = ContextVar("llmport_google_opened", default=None)


async def track_response(response: httpx2.Response) -> None:
    """httpx2 response hook: hands each response a stream opens to that stream, to close it."""
    opened = _OPENED.get()
    if opened is not None:
        opened.append(response)


def http_options(
    *,
    base_url: str | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    max_connections: int = 100,
    headers: dict[str, str] | None = None,
    api_version: str | None = None,
) -> types.HttpOptions:
    """``HttpOptions`` for a client this adapter drives: SDK retries off (the failover policy owns
    retries), the httpx2 transport chosen explicitly (whether aiohttp is installed or not), and the
    response hook that lets a stream close its connection the moment it ends."""
    transport = httpx2.AsyncHTTPTransport(
        limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )
    client_timeout = httpx2.Timeout(timeout, connect=connect_timeout) if timeout is not None else None
    return types.HttpOptions(
        base_url=base_url,
        api_version=api_version,
        headers=headers,
        # per request, in milliseconds; the SDK applies it to connect, read and write alike
        timeout=math.ceil(timeout * 1000) if timeout is not None else None,
        retry_options=types.HttpRetryOptions(attempts=1),
        async_client_args={
            "transport": transport,
            "timeout": client_timeout,
            "event_hooks": {"response": [track_response]},
        },
    )


class GoogleGenAIAdapter(SDKAdapter):
    """An ``LLMPort`` over an injected ``google.genai.Client`` (Gemini API key or Vertex AI).

    Build the client with ``http_options=http_options(...)`` from this module so SDK retries are
    off and cancelled or abandoned streams close their connection at once.
    """

    family = FAMILY

    def __init__(self, client: genai.Client, *, provider: str | None = None, api_key: str | None = None) -> None:
        """``api_key``: send this key on every request instead of the client's (one adapter per
        key of a key ring, all over the one client and its connection pool)."""
        super().__init__(provider=provider)
        self._client = client
        self._models = client.aio.models
        self._vertex = bool(client.vertexai)
        self._key_header = {"x-goog-api-key": api_key} if api_key else None

    # -- LLMPort ------------------------------------------------------------------------------

    async def _complete(self, request: CompletionRequest) -> Completion:
        contents, config = self._params(request)
        response = await self._models.generate_content(
            model=request.model, contents=contents, config=cast("types.GenerateContentConfigDict", config))
        return self._reply(self._completion, response, request)

    async def _events(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        contents, config = self._params(request)
        opened: list[httpx2.Response] = []
        stream = cast(AsyncGenerator[types.GenerateContentResponse, None], await self._models.generate_content_stream(
            model=request.model, contents=contents, config=cast("types.GenerateContentConfigDict", config)))
        state = _StreamState(self.provider, request.model)
        try:
            while True:
                token = _OPENED.set(opened)
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    _OPENED.reset(token)
                for event in state.events(chunk):
                    yield event
            for event in state.finish():
                yield event
        finally:
            try:
                await stream.aclose()
            finally:
                for response in opened:
                    await response.aclose()

    async def count_tokens(self, request: CompletionRequest) -> int:
        contents = _contents(request.messages)
        config: dict[str, Any] = {}
        system = request.system_text
        if self._vertex:
            if system:
                config["system_instruction"] = system
            if request.tools:
                config["tools"] = _tools(request)
        elif system:
            # The Gemini API counts contents only; the system prompt is counted as a leading turn.
            contents.insert(0, {"role": "user", "parts": [{"text": system}]})
        self._http_options(request, config)
        counted = await self._guard(self._models.count_tokens(
            model=request.model, contents=contents, config=cast("types.CountTokensConfigDict", config) or None),
            request)
        return counted.total_tokens or 0

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        self._client.close()

    def _http_options(self, request: CompletionRequest, config: dict[str, Any]) -> None:
        """Per-request HTTP options: the attempt's time limit and this adapter's own key."""
        http: dict[str, Any] = {}
        if (timeout := attempt_timeout(request)) is not None:
            http["timeout"] = math.ceil(timeout * 1000)
        if self._key_header is not None:
            http["headers"] = self._key_header
        if http:
            config["http_options"] = http

    # -- request mapping ----------------------------------------------------------------------

    def _params(self, request: CompletionRequest) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        config: dict[str, Any] = {"automatic_function_calling": {"disable": True}}
        system = request.system_text
        if system:
            config["system_instruction"] = system
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.top_p is not None:
            config["top_p"] = request.top_p
        if request.max_tokens is not None:
            config["max_output_tokens"] = request.max_tokens
        if request.stop:
            config["stop_sequences"] = list(request.stop)
        if request.seed is not None:
            config["seed"] = request.seed
        fmt = request.response_format
        if fmt.kind != "text":
            config["response_mime_type"] = "application/json"
            if fmt.kind == "json_schema":
                config["response_schema"] = _response_schema(fmt.schema or {}, self._client)
        if request.tools:
            config["tools"] = _tools(request)
        choice = request.tool_choice
        if choice is not None and (request.tools or choice.mode == "none"):
            calling: dict[str, Any] = {"mode": _MODE[choice.mode]}
            if choice.mode == "tool":
                calling["allowed_function_names"] = [choice.name]
            config["tool_config"] = {"function_calling_config": calling}
        reasoning = request.reasoning
        if reasoning is not None:
            thinking: dict[str, Any] = {"include_thoughts": reasoning.include_text}
            if reasoning.budget_tokens is not None:
                thinking["thinking_budget"] = reasoning.budget_tokens
            elif reasoning.effort is not None:
                thinking["thinking_level"] = _THINKING_LEVEL[reasoning.effort]
            config["thinking_config"] = thinking
        self._http_options(request, config)
        return _contents(request.messages), config

    # -- response mapping ---------------------------------------------------------------------

    def _completion(self, response: types.GenerateContentResponse, request: CompletionRequest) -> Completion:
        response_id = response.response_id
        blocked = _blocked(response)
        if blocked is not None:
            return Completion((), blocked, _usage(response.usage_metadata), self.provider,
                              response.model_version or request.model, response_id)
        if not response.candidates:
            raise ProviderUnavailable("the provider returned no candidates (and no prompt block)")
        ids = _CallIds(response_id)
        candidate = response.candidates[0]
        if candidate.content is None and candidate.finish_reason is None:
            raise ProviderUnavailable("the provider returned a candidate with neither content nor a finish reason")
        parts: list[Part] = []
        content = candidate.content if candidate is not None else None
        for part in (content.parts if content is not None else None) or ():
            signature = _signature(part.thought_signature)
            if part.thought:
                parts.append(ReasoningPart(part.text or "", signature, FAMILY))
                continue
            if signature is not None:
                parts.append(ReasoningPart("", signature, FAMILY))
            call = part.function_call
            if call is not None:
                parts.append(ToolCallPart(ids.id_for(call.id), call.name or "", call.args or {}))
            elif part.text:
                parts.append(TextPart(part.text))
        finish = candidate.finish_reason if candidate is not None else None
        stop = _stop_reason(finish, any(isinstance(p, ToolCallPart) for p in parts))
        return Completion(tuple(parts), stop, _usage(response.usage_metadata), self.provider,
                          response.model_version or request.model, response_id)

    # -- errors -------------------------------------------------------------------------------

    def _map_error(self, exc: Exception, request: CompletionRequest) -> LLMError | None:
        if isinstance(exc, genai_errors.APIError):
            return _api_error(exc)
        if isinstance(exc, httpx2.TimeoutException):
            return Timeout(f"the request timed out ({type(exc).__name__})")
        if isinstance(exc, httpx2.TransportError):
            return ConnectionFailed(f"connection failed: {type(exc).__name__}")
        if isinstance(exc, google.auth.exceptions.TransportError):  # the token endpoint was unreachable
            return ConnectionFailed(f"could not reach Google's token service: {type(exc).__name__}")
        if isinstance(exc, google.auth.exceptions.GoogleAuthError):  # Vertex credentials, resolved per request
            return AuthenticationFailed(f"no usable Google credentials: {type(exc).__name__}")
        if isinstance(exc, genai_errors.UnknownApiResponseError | json.JSONDecodeError):
            return ProviderUnavailable(f"malformed response from the provider: {type(exc).__name__}")
        if isinstance(exc, pydantic.ValidationError):
            if exc.title.endswith("Response"):  # the SDK could not read the reply into its types
                return ProviderUnavailable(f"malformed response from the provider: {exc.error_count()} invalid "
                                           f"field(s) in {exc.title}")
            return InvalidRequest(f"the Google GenAI SDK rejected the request: {exc.error_count()} invalid field(s): "
                                  + "; ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:5]))
        if isinstance(exc, ValueError):  # the SDK's own checks of options a backend does not support
            return InvalidRequest(f"the Google GenAI SDK rejected the request: {exc}")
        return None


class _CallIds:
    """Tool call ids: the API's own, else made up from the response id (stable across a stream)."""

    __slots__ = ("_base", "_count")

    def __init__(self, response_id: str | None) -> None:
        self._base = f"{SYNTHETIC_ID_PREFIX}{response_id or uuid.uuid4().hex[:16]}_"
        self._count = 0

    def id_for(self, given: str | None) -> str:
        index = self._count
        self._count += 1
        return given or f"{self._base}{index}"


class _StreamState:
    """Folds SDK stream chunks into domain events; ``finish`` yields the closing events."""

    __slots__ = ("_blocked", "_calls", "_finish", "_ids", "_model", "_provider", "_response_id", "_usage")

    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self._response_id: str | None = None
        self._ids: _CallIds | None = None
        self._calls = 0
        self._blocked: StopReason | None = None
        self._finish: Any = None
        self._usage: Any = None

    def events(self, chunk: types.GenerateContentResponse) -> list[StreamEvent]:
        self._blocked = _blocked(chunk) or self._blocked
        if chunk.usage_metadata is not None:
            self._usage = chunk.usage_metadata
        if self._response_id is None:
            self._response_id = chunk.response_id
            if chunk.model_version:
                self._model = chunk.model_version
        candidates = chunk.candidates
        if not candidates:
            return []
        candidate = candidates[0]
        if candidate.finish_reason is not None:
            self._finish = candidate
        content = candidate.content
        parts = content.parts if content is not None else None
        if not parts:
            return []
        out: list[StreamEvent] = []
        for part in parts:
            signature = _signature(part.thought_signature) if part.thought_signature is not None else None
            if part.thought:
                if part.text or signature is not None:
                    out.append(ReasoningDelta(part.text or "", signature, FAMILY))
                continue
            if signature is not None:
                out.append(ReasoningDelta("", signature, FAMILY))
            call = part.function_call
            if call is not None:
                if self._ids is None:
                    self._ids = _CallIds(self._response_id)
                index = self._calls
                self._calls += 1
                out.append(ToolCallStart(index, self._ids.id_for(call.id), call.name or ""))
                out.append(ToolCallDelta(index, json.dumps(call.args or {})))
                out.append(ToolCallEnd(index))
            elif part.text:
                out.append(TextDelta(part.text))
        return out

    def finish(self) -> list[StreamEvent]:
        candidate = self._finish
        if candidate is None and self._blocked is None:
            # Gemini ends every stream with a finish reason: without one it was cut or is not Gemini's.
            raise ConnectionFailed("the stream ended before a finish reason")
        stop = self._blocked or _stop_reason(candidate.finish_reason, self._calls > 0)
        return [UsageUpdate(_usage(self._usage)),
                StreamEnd(stop, self._provider, self._model, self._response_id)]


# -- request helpers ---------------------------------------------------------------------------

def _contents(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Domain messages -> Gemini contents: system left out (``system_instruction``), consecutive
    tool results joined in one user turn, reasoning of other vendors dropped, empty turns left out."""
    names: dict[str, str] = {}
    contents: list[dict[str, Any]] = []
    previous: Role | None = None
    for message in messages:
        role = message.role
        if role is Role.SYSTEM:
            continue
        if role is Role.TOOL:
            parts = [_function_response(p, names) for p in message.parts if isinstance(p, ToolResultPart)]
            if previous is Role.TOOL and contents:
                contents[-1]["parts"].extend(parts)
                continue
        elif role is Role.USER:
            parts = [p for p in map(_user_part, message.parts) if p is not None]
        else:
            parts = _model_parts(message.parts, names)
        previous = role
        if parts:
            contents.append({"role": "model" if role is Role.ASSISTANT else "user", "parts": parts})
    if not contents:
        raise InvalidRequest("the request has no content Gemini can take (only system text or empty turns)",
                             field="messages")
    return contents


def _user_part(part: Part) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"text": part.text} if part.text else None
    if isinstance(part, ImagePart):
        return _image(part)
    raise InvalidRequest(f"a user message cannot hold {type(part).__name__}", field="messages")


def _image(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        return {"inline_data": {"data": part.data, "mime_type": part.media_type}}
    url = part.url or ""
    if url.startswith("data:"):
        header, _, payload = url[5:].partition(",")
        inline_type, _, encoding = header.partition(";")
        if encoding != "base64" or not inline_type:
            raise InvalidRequest("an image data URL must be data:<media type>;base64,...", field="image")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("the image data URL holds invalid base64", field="image") from None
        return {"inline_data": {"data": data, "mime_type": inline_type}}
    media_type = part.media_type or mimetypes.guess_type(url)[0]
    if not media_type:
        raise InvalidRequest(f"Gemini needs the media type of image {url!r}: set ImagePart.media_type",
                             field="image")
    return {"file_data": {"file_uri": url, "mime_type": media_type}}


def _model_parts(parts: Iterable[Part], names: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    signature: bytes | None = None  # a bare signature travels on the part that follows it
    for part in parts:
        if isinstance(part, ReasoningPart):
            if part.provider != FAMILY:
                continue
            sig = _unsign(part.signature)
            if part.text:
                out.append({"text": part.text, "thought": True, **({"thought_signature": sig} if sig else {})})
            elif sig is not None:
                signature = sig
            continue
        if isinstance(part, ToolCallPart):
            names[part.id] = part.name
            call: dict[str, Any] = {"name": part.name, "args": dict(part.arguments)}
            if part.raw_arguments is not None and not part.arguments:
                raise InvalidRequest(f"tool call {part.id!r} has arguments that are not a JSON object; Gemini "
                                     "takes only objects", field="messages")
            if not part.id.startswith(SYNTHETIC_ID_PREFIX):
                call["id"] = part.id
            entry: dict[str, Any] = {"function_call": call}
        elif isinstance(part, TextPart):
            if not part.text:
                continue
            entry = {"text": part.text}
        else:
            raise InvalidRequest(f"an assistant message cannot hold {type(part).__name__}", field="messages")
        if signature is not None:
            entry["thought_signature"] = signature
            signature = None
        out.append(entry)
    if signature is not None:
        out.append({"text": "", "thought": True, "thought_signature": signature})
    return out


def _function_response(part: ToolResultPart, names: dict[str, str]) -> dict[str, Any]:
    name = names.get(part.call_id)
    if name is None:  # validated by CompletionRequest; kept for direct callers
        raise InvalidRequest(f"tool result for unknown call id {part.call_id!r}", field="messages")
    response: dict[str, Any] = {"name": name, "response": {"error" if part.is_error else "output": part.content}}
    if not part.call_id.startswith(SYNTHETIC_ID_PREFIX):
        response["id"] = part.call_id
    return {"function_response": response}


def _tools(request: CompletionRequest) -> list[dict[str, Any]]:
    declarations = []
    for tool in request.tools:
        declaration: dict[str, Any] = {"name": tool.name, "parameters_json_schema": dict(tool.parameters)}
        if tool.description:
            declaration["description"] = tool.description
        declarations.append(declaration)
    return [{"function_declarations": declarations}]


def _unsign(signature: str | None) -> bytes | None:
    if signature is None:
        return None
    try:
        return base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("a Google reasoning signature must be the base64 text this adapter returned",
                             field="messages") from None


# -- response helpers --------------------------------------------------------------------------

def _signature(raw: bytes | None) -> str | None:
    return base64.b64encode(raw).decode() if raw is not None else None


def _name(value: Any) -> str | None:
    """An SDK enum (or an unknown raw string) as its API name."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _stop_reason(finish: Any, has_calls: bool) -> StopReason:
    raw = _name(finish)
    if raw == "STOP":
        return StopReason("tool_use" if has_calls else "end_turn", raw)
    if raw == "MAX_TOKENS":
        return StopReason("max_tokens", raw)
    if raw in _FILTERED:
        return StopReason("content_filter", raw)
    if raw is None and has_calls:
        return StopReason("tool_use", None)
    return StopReason("other", raw)


def _usage(u: types.GenerateContentResponseUsageMetadata | None) -> Usage:
    """Gemini's ``candidates_token_count`` leaves out thoughts; the domain's output includes them."""
    if u is None:
        return Usage.UNKNOWN
    thoughts = u.thoughts_token_count or 0
    return Usage(
        input_tokens=(u.prompt_token_count or 0) + (u.tool_use_prompt_token_count or 0),
        output_tokens=(u.candidates_token_count or 0) + thoughts,
        cached_input_tokens=u.cached_content_token_count or 0,
        reasoning_tokens=thoughts,
        # Gemini leaves out candidates_token_count when the answer is empty (e.g. blocked)
        reported=u.prompt_token_count is not None,
    )


def _blocked(response: types.GenerateContentResponse) -> StopReason | None:
    """The content-filter stop of a blocked prompt (no candidates, a ``block_reason``)."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None and not response.candidates:
        return StopReason("content_filter", _name(feedback.block_reason))
    return None


def _api_error(exc: genai_errors.APIError) -> LLMError:
    code = exc.code if isinstance(exc.code, int) else None
    message = exc.message if isinstance(exc.message, str) and exc.message else f"{code} {exc.status}"
    status = exc.status if isinstance(exc.status, str) else None
    details = _details(exc.details)
    reason = next((d.get("reason") for d in details if str(d.get("@type", "")).endswith("ErrorInfo")), None)
    headers = getattr(exc.response, "headers", None)
    if reason == "API_KEY_INVALID":
        return AuthenticationFailed(message, status=code, vendor_type=status, vendor_code=reason)
    if code == 503 and "overloaded" in message.lower():
        return Overloaded(message, status=code, vendor_type=status, vendor_code=reason,
                          retry_after=_retry_after(headers, details))
    error = error_for_status(code, message, headers=headers, vendor_type=status,
                             vendor_code=reason if isinstance(reason, str) else None)
    if error.retry_after is None:
        error.retry_after = _retry_after(None, details)
    return error


def _details(body: Any) -> list[dict[str, Any]]:
    error = body.get("error", body) if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _retry_after(headers: Any, details: list[dict[str, Any]]) -> float | None:
    """Retry-After if sent, else the ``google.rpc.RetryInfo`` detail's ``retryDelay`` ("37s")."""
    seconds = retry_after_seconds(headers) if headers is not None else None
    if seconds is not None:
        return seconds
    for detail in details:
        delay = detail.get("retryDelay")
        if str(detail.get("@type", "")).endswith("RetryInfo") and isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


def _response_schema(schema: Mapping[str, Any], client: genai.Client) -> types.Schema:
    """The JSON schema as Gemini's ``response_schema`` (an OpenAPI subset), converted by the SDK's own
    ``t_schema`` ($defs inlined, null as ``nullable``, single-value literals as enums); what it cannot
    express is an ``InvalidRequest`` naming the keyword, before any network call."""
    api = getattr(client, "_api_client", None)
    vertex = bool(getattr(api, "vertexai", False))
    loop = _recursive_definition(schema)
    if loop is not None:
        raise InvalidRequest(f"Gemini's response_schema cannot express the recursive definition {loop!r}; "
                             "bound the nesting with separate types", field="response_format")
    ready = _gemini_ready(json.loads(json.dumps(schema)), vertex)
    try:
        converted = _transformers.t_schema(api, ready)
    except pydantic.ValidationError as exc:
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors(include_url=False)[:3])
        raise InvalidRequest(f"Gemini's response_schema (an OpenAPI subset) does not take {where}: remove or "
                             "rewrite those keywords (allOf, oneOf, not, if/then/else, $schema are not supported)",
                             field="response_format") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidRequest(f"Gemini's response_schema cannot take this schema: {exc}",
                             field="response_format") from None
    if converted is None:  # an empty schema: any JSON object
        return types.Schema(type=types.Type.OBJECT)
    return converted


def _gemini_ready(node: Any, vertex: bool) -> Any:
    """Type lists as ``nullable``; ``additionalProperties: false`` dropped outside Vertex AI, where the
    Gemini API has no such field (objects there never get unlisted properties)."""
    if isinstance(node, list):
        return [_gemini_ready(item, vertex) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: value if key in ("enum", "const", "default", "example", "required")
           else _gemini_ready(value, vertex) for key, value in node.items()}
    kind = out.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) != 1:
            raise InvalidRequest(f"Gemini's response_schema takes one type per schema, not {kind!r}: use anyOf",
                                 field="response_format")
        out["type"] = kinds[0]
        if "null" in kind:
            out["nullable"] = True
    if not vertex and out.get("additionalProperties") is False:
        del out["additionalProperties"]
    return out


def _recursive_definition(schema: Mapping[str, Any]) -> str | None:
    """The name of a ``$defs`` entry that refers to itself (directly or through others), if any."""
    defs = schema.get("$defs") or schema.get("definitions") or {}
    if not isinstance(defs, Mapping):
        return None

    def refs(node: Any) -> Iterable[str]:
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield ref.rsplit("/", 1)[-1]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    graph = {name: set(refs(body)) for name, body in defs.items()}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            name = todo.pop()
            if name == start:
                return str(start)
            if name not in seen and name in graph:
                seen.add(name)
                todo.extend(graph[name])
    return None
