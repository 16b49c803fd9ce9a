"""``BedrockConverseAdapter``: every Bedrock model through boto3's Converse / ConverseStream API.

boto3 is synchronous, so calls run on a bounded thread pool owned by the adapter, behind a
capacity limit of the same size (sized like botocore's connection pool): a thousand concurrent
callers queue on the loop instead of creating threads. A stream is read by ONE pump thread that
feeds a deque; the loop is woken only when the consumer is actually waiting, and then takes every
event queued by that time in one batch (one lock and at most one thread hop per wake-up, not per
event).

``attempt_timeout`` becomes a per-request read timeout through botocore's request context (set by
an event hook on the injected client), so boto3 itself times out and closes the connection.
Limits, by design: a cancelled ``complete`` cannot abort the boto3 call under way (the SDK gives
no handle on it): the caller is released at once, the worker thread and its capacity slot when the
answer or the read timeout comes. Streams are closed at once. ``seed`` has no Converse equivalent
and is not sent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import concurrent.futures
import contextlib
import json
import socket
import threading
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, Final, TypeVar

import botocore.eventstream
import botocore.exceptions
import botocore.parsers
import urllib3.exceptions

from llmport.adapters.base import SDKAdapter, attempt_timeout, with_calls
from llmport.adapters.estimate import estimate_input_tokens
from llmport.adapters.http_errors import error_for_status, is_context_length_message, retry_after_seconds
from llmport.adapters.strict_schema import to_closed_objects
from llmport.domain import (
    AuthenticationFailed,
    Completion,
    CompletionRequest,
    ConnectionFailed,
    ContextLengthExceeded,
    ImagePart,
    InvalidRequest,
    LLMError,
    ModelNotFound,
    Overloaded,
    Part,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
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
from llmport.ports.alarms import Alarms

T = TypeVar("T")

FAMILY: Final = "bedrock"

_STOP: Final[dict[str, StopReason]] = {
    raw: StopReason(kind, raw)  # type: ignore[arg-type]
    for raw, kind in {
        "end_turn": "end_turn",
        "tool_use": "tool_use",
        "max_tokens": "max_tokens",
        "stop_sequence": "stop_sequence",
        "guardrail_intervened": "content_filter",
        "content_filtered": "content_filter",
        "model_context_window_exceeded": "max_tokens",
    }.items()
}

_IMAGE_FORMATS: Final = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                         "image/webp": "webp"}

# Error codes (lower-cased: HTTP errors say ThrottlingException, in-stream ones throttlingException).
_BY_CODE: Final[dict[str, type[LLMError]]] = {
    "throttlingexception": RateLimited,
    "servicequotaexceededexception": RateLimited,
    "modelnotreadyexception": Overloaded,
    "serviceunavailableexception": ProviderUnavailable,
    "internalserverexception": ProviderUnavailable,
    "modelstreamerrorexception": ProviderUnavailable,
    "modelerrorexception": ProviderUnavailable,
    "modeltimeoutexception": Timeout,
    "accessdeniedexception": PermissionDenied,
    "resourcenotfoundexception": ModelNotFound,
    "unrecognizedclientexception": AuthenticationFailed,
    "invalidsignatureexception": AuthenticationFailed,
    "expiredtokenexception": AuthenticationFailed,
    "incompletesignatureexception": AuthenticationFailed,
    "missingauthenticationtokenexception": AuthenticationFailed,
    "validationexception": InvalidRequest,
}

_END: Final = object()
# ``attempt_timeout`` is enforced by the SDK (a per-request read timeout, which also closes the
# connection); an alarm on the loop is a backstop this much later, for a call that never got as far
# as reading (e.g. stuck before its request went out).
_BACKSTOP_GRACE: Final = 1.0

# The read timeout of the boto3 call running on this worker thread (``attempt_timeout``).
_call = threading.local()


def _apply_read_timeout(context: dict[str, Any], **_: Any) -> None:
    """botocore hook: a per-request read timeout (honoured from the request context), so that an
    attempt that times out has its connection closed by the SDK itself."""
    timeout = getattr(_call, "read_timeout", None)
    if timeout is not None:
        context["read_timeout"] = timeout


def _timed(fn: Callable[..., T], read_timeout: float | None, kwargs: dict[str, Any]) -> T:
    _call.read_timeout = read_timeout
    try:
        return fn(**kwargs)
    finally:
        _call.read_timeout = None


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Channel:
    """Events from a stream's pump thread to the loop. The pump appends to a deque and wakes the
    loop only when the consumer waits on an empty deque (one wake-up per wait, not per event)."""

    __slots__ = ("_items", "_lock", "_loop", "_waiter", "closed", "request_id", "response")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.response: Any = None  # botocore's EventStream once the response headers arrived
        self.request_id: str | None = None

    # pump thread
    def put(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening any more
                self._loop.call_soon_threadsafe(_wake, waiter)

    def attach(self, stream: Any) -> bool:
        """Publish the opened stream; False when the consumer already left (the pump closes it)."""
        with self._lock:
            if self.closed:
                return False
            self.response = stream
            return True

    # loop thread
    def take(self) -> collections.deque[Any] | None:
        """Every item there now, in one batch (one lock per wake-up, not per event), else None."""
        with self._lock:
            if not self._items:
                return None
            items, self._items = self._items, collections.deque()
            return items

    async def get(self, wait_limit: float | None) -> collections.deque[Any]:
        """The next batch; ``TimeoutError`` when nothing arrives within ``wait_limit`` seconds."""
        while True:
            with self._lock:
                if self._items:
                    items, self._items = self._items, collections.deque()
                    return items
                waiter = self._waiter = self._loop.create_future()
            if wait_limit is None:
                await waiter
                continue
            timer = self._loop.call_later(wait_limit, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()

    def close(self) -> None:
        """Stop reading: closing the event stream closes its connection (a blocked read in the pump
        thread then fails, and that error is swallowed)."""
        with self._lock:
            self.closed = True
            stream, self.response = self.response, None
        if stream is not None:
            _close_quietly(stream)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _close_quietly(stream: Any) -> None:
    raw = getattr(stream, "_raw_stream", None)
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        # close() alone does not wake a recv() blocked in the pump thread; shutdown() does, and
        # sends the FIN now instead of when that read returns.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):  # a half-closed urllib3 response may complain; it is closed anyway
        stream.close()


class BedrockConverseAdapter(SDKAdapter):
    """An ``LLMPort`` over an injected boto3 ``bedrock-runtime`` client (its retries off)."""

    family = FAMILY

    def __init__(
        self,
        client: Any,
        *,
        provider: str | None = None,
        max_workers: int = 16,
        additional_model_request_fields: Mapping[str, Any] | None = None,
        default_max_tokens: int = 4096,
    ) -> None:
        super().__init__(provider=provider)
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._client = client
        self._max_workers = max_workers
        self._extra_fields = dict(additional_model_request_fields or {})
        self._default_max_tokens = default_max_tokens
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix=f"llmport-{FAMILY}")
        self._capacity: asyncio.Semaphore | None = None
        self._capacity_loop: asyncio.AbstractEventLoop | None = None
        self._alarm_set: Alarms | None = None
        self._channels: set[_Channel] = set()
        self._count_tokens_unsupported: set[str] = set()
        self._closed = False
        events = getattr(getattr(client, "meta", None), "events", None)
        if events is not None:
            events.register("provide-client-params.bedrock-runtime", _apply_read_timeout,
                            unique_id="llmport-bedrock-read-timeout")

    # --- worker threads ---------------------------------------------------------------------
    def _semaphore(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        if self._capacity is None or self._capacity_loop is not loop:
            self._capacity, self._capacity_loop = asyncio.Semaphore(self._max_workers), loop
        return self._capacity

    def _alarms(self, loop: asyncio.AbstractEventLoop) -> Alarms:
        """The backstops of calls on ``loop``: one loop timer for all (``asyncio.timeout`` per call
        leaves a cancelled timer handle per call in the loop's heap)."""
        alarms = self._alarm_set
        if alarms is None or alarms.loop is not loop:
            alarms = self._alarm_set = Alarms(loop)
        return alarms

    async def _offload(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the pool. The capacity slot is held until the thread is done with it,
        even when the caller gave up earlier (a cancelled caller cannot stop a boto3 call)."""
        if self._closed:
            raise ProviderUnavailable(f"the {FAMILY} adapter is closed")
        loop = asyncio.get_running_loop()
        capacity = self._semaphore(loop)
        await capacity.acquire()
        result: asyncio.Future[T] = loop.create_future()

        def settle(done: concurrent.futures.Future[T]) -> None:
            capacity.release()
            if result.done():
                return
            try:  # one read of the finished job (each of its accessors takes its lock)
                value = done.result()
            except concurrent.futures.CancelledError:  # dropped from the queue by aclose(): not the caller
                result.set_exception(ProviderUnavailable(f"the {FAMILY} adapter was closed"))
            except BaseException as exc:  # handed to the caller as the call's outcome
                result.set_exception(exc)
            else:
                result.set_result(value)

        def finished(done: concurrent.futures.Future[T]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                loop.call_soon_threadsafe(settle, done)

        try:
            if self._closed:  # closed while this call waited for capacity
                raise ProviderUnavailable(f"the {FAMILY} adapter was closed")
            job = self._pool.submit(fn, *args, **kwargs)
        except BaseException:
            capacity.release()
            raise
        job.add_done_callback(finished)
        try:
            return await result
        except asyncio.CancelledError:
            job.cancel()
            raise

    # --- the port -----------------------------------------------------------------------------
    async def _complete(self, request: CompletionRequest) -> Completion:
        params = self._params(request)
        limit = attempt_timeout(request)
        call = self._offload(_timed, self._client.converse, limit, params)
        if limit is None:
            response = await call
        else:
            task = asyncio.current_task()
            assert task is not None  # an adapter's call always runs in a task
            alarm = self._alarms(task.get_loop()).set(limit + _BACKSTOP_GRACE, task)
            try:
                response = await call
            except asyncio.CancelledError:
                if not alarm.expired():
                    raise
                raise self._timeout(request, limit) from None
            finally:
                alarm.clear()
        return self._reply(self._completion, response, request)

    async def _events(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        params = self._params(request)
        loop = asyncio.get_running_loop()
        channel = _Channel(loop)
        self._channels.add(channel)
        limit = attempt_timeout(request)
        pump = asyncio.ensure_future(self._offload(self._pump, params, channel, limit))

        def pumped(task: asyncio.Future[None]) -> None:
            # The pump reports its own failures; one that never ran (adapter closed) reports here.
            if not task.cancelled() and (exc := task.exception()) is not None:
                channel.put(_Failure(exc))

        pump.add_done_callback(pumped)
        timeout = None if limit is None else limit + _BACKSTOP_GRACE
        tools: dict[int, int] = {}  # contentBlockIndex -> tool call index
        stop: StopReason | None = None
        usage: Usage | None = None
        try:
            ended = False
            while not ended:
                batch = channel.take()
                if batch is None:
                    try:
                        batch = await channel.get(timeout)
                    except TimeoutError:
                        raise self._timeout(request, limit) from None
                for item in batch:
                    if item is _END:
                        ended = True
                        break
                    if type(item) is _Failure:
                        raise item.error
                    for key, body in item.items():
                        if key == "contentBlockDelta":
                            delta = body["delta"]
                            if "text" in delta:
                                yield TextDelta(delta["text"])
                            elif "toolUse" in delta:
                                yield ToolCallDelta(tools[body["contentBlockIndex"]],
                                                    delta["toolUse"].get("input", ""))
                            elif "reasoningContent" in delta:
                                yield _reasoning_delta(delta["reasoningContent"])
                        elif key == "contentBlockStart":
                            tool = body.get("start", {}).get("toolUse")
                            if tool is not None:
                                index = tools[body["contentBlockIndex"]] = len(tools)
                                yield ToolCallStart(index, tool["toolUseId"], tool["name"])
                        elif key == "contentBlockStop":
                            if body["contentBlockIndex"] in tools:
                                yield ToolCallEnd(tools[body["contentBlockIndex"]])
                        elif key == "messageStop":
                            stop = _stop_reason(body.get("stopReason"))
                        elif key == "metadata":
                            usage = _usage(body.get("usage"))
                            yield UsageUpdate(usage)
            if stop is not None:
                if usage is None:
                    yield UsageUpdate(Usage.UNKNOWN)
                yield StreamEnd(with_calls(stop, bool(tools)), self.provider, request.model, channel.request_id)
        finally:
            pump.cancel()  # a pump not started yet never opens its stream; a running one sees closed
            channel.close()
            self._channels.discard(channel)

    def _pump(self, params: dict[str, Any], channel: _Channel, read_timeout: float | None) -> None:
        """The stream's pump thread: open it, then hand over every event until it ends."""
        try:
            response = _timed(self._client.converse_stream, read_timeout, params)
        except Exception as exc:
            channel.put(_Failure(exc))
            return
        stream = response["stream"]
        channel.request_id = response.get("ResponseMetadata", {}).get("RequestId")
        if not channel.attach(stream):
            _close_quietly(stream)
            return
        try:
            for event in stream:
                if channel.closed:
                    return
                channel.put(event)
        except Exception as exc:
            if not channel.closed:  # else: the error of our own close() under a blocked read
                channel.put(_Failure(exc))
            return
        finally:
            if channel.closed:
                _close_quietly(stream)
        channel.put(_END)

    async def count_tokens(self, request: CompletionRequest) -> int:
        """Bedrock's CountTokens where the model supports it; else ``estimate_input_tokens``
        (about four characters a token, see ``llmport.adapters.estimate``)."""
        return await self._guard(self._count_tokens(request), request)

    async def _count_tokens(self, request: CompletionRequest) -> int:
        model = request.model
        if model in self._count_tokens_unsupported or not hasattr(self._client, "count_tokens"):
            return estimate_input_tokens(request)
        params = self._params(request)
        converse = {k: params[k] for k in ("messages", "system", "toolConfig", "additionalModelRequestFields")
                    if k in params}
        try:
            response = await self._offload(self._client.count_tokens, modelId=model, input={"converse": converse})
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            message = str(error.get("Message", "")).lower()
            if str(error.get("Code", "")).lower() != "validationexception" or "support" not in message:
                raise
            self._count_tokens_unsupported.add(model)
            return estimate_input_tokens(request)
        return int(response["inputTokens"])

    async def aclose(self) -> None:
        """Close open streams, stop the worker threads and close the client's connections."""
        if self._closed:
            return
        self._closed = True
        for channel in list(self._channels):
            channel.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    # --- request mapping ----------------------------------------------------------------------
    def _params(self, request: CompletionRequest) -> dict[str, Any]:
        auto_cache = request.cache.prompt_cache == "auto"
        params: dict[str, Any] = {"modelId": request.model, "messages": self._messages(request, auto_cache)}
        system = request.system_text
        if system:
            params["system"] = [{"text": system}, *([_CACHE_POINT] if auto_cache else [])]
        tool_config = self._tool_config(request, auto_cache)
        if tool_config is not None:
            params["toolConfig"] = tool_config
        inference: dict[str, Any] = {}
        max_tokens = request.max_tokens
        extra = self._extra_fields  # copied only when the request adds to it
        if request.reasoning is not None:
            max_tokens = max_tokens or self._default_max_tokens
            extra = {**extra, **_reasoning_fields(request, max_tokens)}
        if max_tokens is not None:
            inference["maxTokens"] = max_tokens
        if request.temperature is not None:
            inference["temperature"] = request.temperature
        if request.top_p is not None:
            inference["topP"] = request.top_p
        if request.stop:
            inference["stopSequences"] = list(request.stop)
        if inference:
            params["inferenceConfig"] = inference
        if extra:
            params["additionalModelRequestFields"] = dict(extra)
        fmt = request.response_format
        if fmt.kind != "text":
            schema = to_closed_objects(fmt.schema, "Bedrock") if fmt.schema is not None else {"type": "object"}
            params["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {
                "jsonSchema": {"schema": json.dumps(schema), "name": fmt.name}}}}
        if request.metadata:
            params["requestMetadata"] = dict(request.metadata)
        return params

    def _messages(self, request: CompletionRequest, auto_cache: bool) -> list[dict[str, Any]]:
        """Converse messages: tool results ride in user turns, and consecutive turns of one role
        are merged (Bedrock requires user and assistant to alternate)."""
        out: list[dict[str, Any]] = []
        last_user = -1  # where an automatic cache point goes: after the last user turn
        if auto_cache:
            last_user = max((i for i, m in enumerate(request.messages) if m.role is Role.USER), default=-1)
        for i, message in enumerate(request.messages):
            if message.role is Role.SYSTEM:
                continue
            role = "assistant" if message.role is Role.ASSISTANT else "user"
            content = [b for b in (self._block(p, i) for p in message.parts) if b is not None]
            if not content:
                continue  # e.g. an empty assistant turn: Bedrock rejects empty content
            if message.cache_breakpoint or (auto_cache and i == last_user):
                content.append(_CACHE_POINT)
            if out and out[-1]["role"] == role:
                out[-1]["content"].extend(content)
            else:
                out.append({"role": role, "content": content})
        return out

    def _block(self, part: Part, index: int) -> dict[str, Any] | None:
        if isinstance(part, TextPart):
            return {"text": part.text} if part.text else None
        if isinstance(part, ToolCallPart):
            return {"toolUse": {"toolUseId": part.id, "name": part.name, "input": _tool_input(part)}}
        if isinstance(part, ToolResultPart):
            result: dict[str, Any] = {"toolUseId": part.call_id, "content": [{"text": part.content}]}
            if part.is_error:
                result["status"] = "error"
            return {"toolResult": result}
        if isinstance(part, ImagePart):
            return {"image": _image(part, index)}
        if isinstance(part, ReasoningPart):
            if part.provider != FAMILY:
                return None  # another vendor's reasoning (and signature) means nothing here
            if part.redacted:
                return {"reasoningContent": {"redactedContent": _redacted_bytes(part.signature, index)}}
            text: dict[str, Any] = {"text": part.text}
            if part.signature:
                text["signature"] = part.signature
            return {"reasoningContent": {"reasoningText": text}}
        raise InvalidRequest(f"messages[{index}]: unsupported part {type(part).__name__}", field="messages")

    def _tool_config(self, request: CompletionRequest, auto_cache: bool) -> dict[str, Any] | None:
        if not request.tools:
            return None
        choice = request.tool_choice
        if choice is not None and choice.mode == "none":
            if any(isinstance(p, ToolCallPart | ToolResultPart) for m in request.messages for p in m.parts):
                raise InvalidRequest("Bedrock Converse cannot forbid tool calls (tool_choice NONE) in a conversation "
                                     "that holds tool calls: it requires the tools then; use AUTO",
                                     field="tool_choice")
            return None  # without tools the model cannot call one
        tools: list[dict[str, Any]] = []
        for tool in request.tools:
            spec: dict[str, Any] = {"name": tool.name, "inputSchema": {"json": dict(tool.parameters)}}
            if tool.description:
                spec["description"] = tool.description
            tools.append({"toolSpec": spec})
        if auto_cache:
            tools.append(_CACHE_POINT)
        config: dict[str, Any] = {"tools": tools}
        if choice is not None:
            config["toolChoice"] = ({"auto": {}} if choice.mode == "auto" else {"any": {}}
                                    if choice.mode == "required" else {"tool": {"name": choice.name}})
        return config

    # --- response mapping ---------------------------------------------------------------------
    def _completion(self, response: Mapping[str, Any], request: CompletionRequest) -> Completion:
        message = response.get("output", {}).get("message")
        if message is None or "stopReason" not in response:
            raise ProviderUnavailable("Bedrock returned a response without an output message")
        parts: list[Part] = []
        for block in message.get("content", ()):
            if "text" in block:
                parts.append(TextPart(block["text"]))
            elif "toolUse" in block:
                tool = block["toolUse"]
                raw = tool.get("input")
                if isinstance(raw, dict):
                    parts.append(ToolCallPart(tool["toolUseId"], tool["name"], raw))
                else:
                    parts.append(ToolCallPart(tool["toolUseId"], tool["name"], {}, json.dumps(raw)))
            elif "reasoningContent" in block:
                parts.append(_reasoning_part(block["reasoningContent"]))
        return Completion(
            tuple(parts),
            with_calls(_stop_reason(response["stopReason"]), any(isinstance(p, ToolCallPart) for p in parts)),
            _usage(response.get("usage")),
            self.provider,
            request.model,
            response.get("ResponseMetadata", {}).get("RequestId"),
        )

    # --- errors -------------------------------------------------------------------------------
    def _timeout(self, request: CompletionRequest, limit: float | None) -> Timeout:
        return Timeout(f"no answer within the attempt timeout of {limit or 0:g}s",
                       provider=self.provider, model=request.model)

    def _map_error(self, exc: Exception, request: CompletionRequest) -> LLMError | None:
        if isinstance(exc, botocore.exceptions.ClientError):
            return _client_error(exc)
        if isinstance(exc, botocore.exceptions.ReadTimeoutError | botocore.exceptions.ConnectTimeoutError
                      | urllib3.exceptions.TimeoutError | TimeoutError):
            return Timeout(f"Bedrock did not answer in time: {exc}")
        if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
                      | botocore.exceptions.NoAuthTokenError | botocore.exceptions.CredentialRetrievalError
                      | botocore.exceptions.TokenRetrievalError | botocore.exceptions.SSOError):
            # Refreshable credentials (SSO, assume-role, credential_process) fail at call time.
            return AuthenticationFailed(f"no usable AWS credentials: {type(exc).__name__}")
        if isinstance(exc, botocore.exceptions.ParamValidationError):
            return InvalidRequest(f"Bedrock rejected the parameters: {exc}")
        if isinstance(exc, botocore.exceptions.HTTPClientError | botocore.exceptions.ConnectionError
                      | urllib3.exceptions.HTTPError | ConnectionError):
            return ConnectionFailed(f"connection to Bedrock failed: {exc}")
        if isinstance(exc, botocore.eventstream.ParserError | botocore.parsers.ResponseParserError):
            return ProviderUnavailable(f"malformed response from Bedrock: {exc}")
        if isinstance(exc, botocore.exceptions.BotoCoreError):  # e.g. IncompleteReadError, checksum errors
            return ProviderUnavailable(f"Bedrock call failed: {type(exc).__name__}")
        return None


_CACHE_POINT: Final = {"cachePoint": {"type": "default"}}


def _client_error(exc: botocore.exceptions.ClientError) -> LLMError:
    response = exc.response
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")) or code or "Bedrock request failed"
    meta = response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode")
    headers = meta.get("HTTPHeaders") or {}
    request_id = meta.get("RequestId")
    cls = _BY_CODE.get(code.lower())
    if cls is None:
        mapped = error_for_status(status, message, headers=headers, vendor_code=code or None, request_id=request_id)
        return mapped
    if cls is InvalidRequest and is_context_length_message(message):
        cls = ContextLengthExceeded
    return cls(message, status=status, request_id=request_id, vendor_code=code,
               retry_after=retry_after_seconds(headers))


def _stop_reason(raw: str | None) -> StopReason:
    if raw is None:
        return StopReason("other", None)
    return _STOP.get(raw) or StopReason("other", raw)


def _usage(usage: Mapping[str, Any] | None) -> Usage:
    if not usage:
        return Usage.UNKNOWN
    cached = int(usage.get("cacheReadInputTokens") or 0)
    written = int(usage.get("cacheWriteInputTokens") or 0)
    reported = isinstance(usage.get("inputTokens"), int) and isinstance(usage.get("outputTokens"), int)
    return Usage(int(usage.get("inputTokens") or 0) + cached + written, int(usage.get("outputTokens") or 0),
                 cached, written, reported=reported)


def _reasoning_part(block: Mapping[str, Any]) -> ReasoningPart:
    if "redactedContent" in block:
        return ReasoningPart("", base64.b64encode(block["redactedContent"]).decode(), FAMILY, True)
    text = block.get("reasoningText", {})
    return ReasoningPart(text.get("text", ""), text.get("signature"), FAMILY)


def _reasoning_delta(delta: Mapping[str, Any]) -> ReasoningDelta:
    if "redactedContent" in delta:
        return ReasoningDelta("", base64.b64encode(delta["redactedContent"]).decode(), FAMILY, True)
    if "signature" in delta:
        return ReasoningDelta("", delta["signature"], FAMILY)
    return ReasoningDelta(delta.get("text", ""), None, FAMILY)


def _tool_input(part: ToolCallPart) -> Any:
    """The call's arguments as sent by the model: a non-object is passed back as it was."""
    if part.raw_arguments is None:
        return dict(part.arguments)
    try:
        return json.loads(part.raw_arguments)
    except ValueError:
        return part.raw_arguments


def _image(part: ImagePart, index: int) -> dict[str, Any]:
    if part.data is not None:
        return {"format": _image_format(part.media_type, index), "source": {"bytes": part.data}}
    url = part.url or ""
    if url.startswith("s3://"):
        fmt = _image_format(part.media_type or _guess_media_type(url), index)
        return {"format": fmt, "source": {"s3Location": {"uri": url}}}
    if url.startswith("data:") and ";base64," in url:
        media_type, _, data = url[5:].partition(";base64,")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"messages[{index}]: the image data URL is not valid base64",
                                 field="messages") from None
        return {"format": _image_format(media_type, index), "source": {"bytes": raw}}
    raise InvalidRequest(f"messages[{index}]: Bedrock takes images as inline data or s3:// URIs, not {url[:40]!r}",
                         field="messages")


def _redacted_bytes(signature: str | None, index: int) -> bytes:
    try:
        return base64.b64decode(signature or "", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"messages[{index}]: redacted Bedrock reasoning must carry the base64 signature "
                             "this adapter returned", field="messages") from None


def _guess_media_type(url: str) -> str | None:
    suffix = url.rsplit(".", 1)[-1].lower()
    return f"image/{suffix}" if suffix in ("png", "jpeg", "jpg", "gif", "webp") else None


def _image_format(media_type: str | None, index: int) -> str:
    fmt = _IMAGE_FORMATS.get((media_type or "").lower())
    if fmt is None:
        raise InvalidRequest(f"messages[{index}]: Bedrock images must be png, jpeg, gif or webp, not {media_type!r}",
                             field="messages")
    return fmt


def _reasoning_fields(request: CompletionRequest, max_tokens: int) -> dict[str, Any]:
    """Model-specific reasoning switches (Converse has no common field for them)."""
    config = request.reasoning
    assert config is not None
    model = request.model.lower()
    if "anthropic" in model or "claude" in model:
        budget = min(config.budget(max_tokens), max(1024, max_tokens - 1))
        return {"thinking": {"type": "enabled", "budget_tokens": budget}}
    if "openai." in model or "gpt-oss" in model:
        return {"reasoning_effort": config.effort or "medium"}
    return {}  # e.g. DeepSeek-R1 reasons unasked; its reasoning still comes back

