"""Only ``LLMError`` leaves an adapter (issue 11): recorded vendor traffic, third-party gateways that
bend the vendors' schemas, and failures of the SDKs and their transports, each through the real
SDK against the emulator. Raised errors carry no SDK exception in their chain."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import openai
import pytest
from google import genai

from llmport.adapters.anthropic import AnthropicAdapter
from llmport.adapters.google_genai import GoogleGenAIAdapter, http_options
from llmport.adapters.openai import OpenAIAdapter, OpenAIOptions
from llmport.adapters.testing.emulator import Fault, Reply, ScriptedUsage, VendorEmulator
from llmport.domain import (
    AuthenticationFailed,
    Completion,
    CompletionRequest,
    ConnectionFailed,
    InvalidRequest,
    LLMError,
    Message,
    ModelNotFound,
    ProviderUnavailable,
    ToolSpec,
    Usage,
    accumulate,
)
from llmport.ports import LLMPort

KEY = "sk-boundary-secret-0123456789"
REQ = CompletionRequest(model="gpt-4o-test", messages=[Message.user("hi")])
TOOLS = [ToolSpec("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})]


def clean(error: BaseException) -> BaseException:
    """The error, checked to carry no exception chain (an SDK exception holds the request headers)."""
    assert isinstance(error, LLMError)
    assert error.__cause__ is None and error.__context__ is None
    return error


async def ask(llm: LLMPort, request: CompletionRequest = REQ, *, stream: bool = False) -> Completion:
    if not stream:
        return await llm.complete(request)
    async with llm.stream(request) as events:
        return accumulate([e async for e in events])


async def failure(llm: LLMPort, request: CompletionRequest = REQ, *, stream: bool = False) -> LLMError:
    with pytest.raises(LLMError) as info:
        await ask(llm, request, stream=stream)
    clean(info.value)
    return info.value


def openai_adapter(url: str, *, api: str = "chat", key: str = KEY, **options: Any) -> OpenAIAdapter:
    client = openai.AsyncOpenAI(api_key=key, base_url=f"{url}/v1", max_retries=0)
    return OpenAIAdapter(client, provider="gw", options=OpenAIOptions(api=api, **options))  # type: ignore[arg-type]


@pytest.fixture
async def chat(emu: VendorEmulator) -> AsyncIterator[OpenAIAdapter]:
    adapter = openai_adapter(emu.url)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def responses(emu: VendorEmulator) -> AsyncIterator[OpenAIAdapter]:
    adapter = openai_adapter(emu.url, api="responses")
    yield adapter
    await adapter.aclose()


def chat_body(choice: dict[str, Any], *, usage: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"id": "chatcmpl-rec", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                            "choices": [{"index": 0, "logprobs": None, **choice}]}
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body)


def sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


# --- recorded vendor traffic ---------------------------------------------------------------------
async def test_azure_content_filter_choice_without_message(emu: VendorEmulator) -> None:
    """Recorded from Azure OpenAI: the filter cuts the answer to a choice with no ``message`` key."""
    from llmport.composition.factories import openai as factory
    from llmport.composition.families import provider_settings

    settings = provider_settings(kind="azure_openai", api_key="azure-test-key", endpoint=emu.url,
                                api_version="2024-10-21")
    llm = factory.build_adapter("azure", factory.build_client("azure", settings), settings)
    emu.script(Fault.raw(chat_body(
        {"finish_reason": "content_filter",
         "content_filter_results": {"hate": {"filtered": True, "severity": "high"},
                                    "violence": {"filtered": False, "severity": "safe"}}},
        usage={"prompt_tokens": 21, "completion_tokens": 0, "total_tokens": 21})))
    try:
        completion = await llm.complete(CompletionRequest(model="my-deployment", messages=[Message.user("hi")]))
    finally:
        await llm.aclose()
    assert (completion.stop_reason.kind, completion.stop_reason.raw) == ("content_filter", "content_filter")
    assert completion.parts == () and completion.usage == Usage(21, 0)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_responses_api_400_model_not_found_is_model_not_found(responses: OpenAIAdapter, emu: VendorEmulator,
                                                                     stream: bool) -> None:
    """Recorded from the Responses API: an unknown model is HTTP 400 with ``code: model_not_found``."""
    emu.script(Fault.raw(json.dumps({"error": {
        "message": "The requested model 'gpt-nope' does not exist.", "type": "invalid_request_error",
        "param": "model", "code": "model_not_found"}}), status=400))
    error = await failure(responses, stream=stream)
    assert isinstance(error, ModelNotFound) and error.failover and error.status == 400


# --- OpenAI-compatible gateways ------------------------------------------------------------------
async def test_gateway_tool_calls_with_finish_stop_are_a_tool_use_stop(chat: OpenAIAdapter,
                                                                       emu: VendorEmulator) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
    emu.script(Fault.raw(chat_body({"finish_reason": "stop", "message": {
        "role": "assistant", "content": None, "tool_calls": [call]}}, usage={"prompt_tokens": 5,
                                                                            "completion_tokens": 3})))
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    emu.script(Fault.raw(sse(
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [{"index": 0, **call}]},
                              "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}), media_type="text/event-stream"))
    request = CompletionRequest(model="m", messages=[Message.user("weather?")], tools=TOOLS)
    for stream in (False, True):
        completion = await ask(chat, request, stream=stream)
        assert (completion.stop_reason.kind, completion.stop_reason.raw) == ("tool_use", "stop")
        assert completion.tool_calls[0].arguments == {"city": "Oslo"}


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_gateway_400_naming_param_model_is_model_not_found(chat: OpenAIAdapter, emu: VendorEmulator,
                                                                 stream: bool) -> None:
    """A LiteLLM-style proxy answers a model it does not serve with 400 ``param: model``, no code."""
    emu.script(Fault.raw(json.dumps({"error": {"message": "Invalid model name passed in model=m",
                                               "type": "invalid_request_error", "param": "model", "code": "400"}}),
                         status=400))
    error = await failure(chat, stream=stream)
    assert isinstance(error, ModelNotFound) and error.status == 400


async def test_gateway_400_for_another_param_stays_invalid_request(chat: OpenAIAdapter, emu: VendorEmulator) -> None:
    emu.script(Fault.raw(json.dumps({"error": {"message": "temperature is not supported with this model",
                                               "type": "invalid_request_error", "param": "temperature",
                                               "code": None}}), status=400))
    assert type(await failure(chat)) is InvalidRequest


async def test_stream_answered_with_plain_json_names_what_arrived(chat: OpenAIAdapter, emu: VendorEmulator) -> None:
    emu.script(Fault.raw(chat_body({"finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}})))
    error = await failure(chat, stream=True)
    assert isinstance(error, ProviderUnavailable) and error.failover
    assert "plain application/json body" in error.message and "'chat.completion'" in error.message
    # a gateway answering its error as a JSON body (status 200) to a stream request: the error it names
    emu.script(Fault.raw(json.dumps({"error": {"message": "no such model", "type": "invalid_request_error",
                                               "param": "model", "code": None}})))
    assert isinstance(await failure(chat, stream=True), ModelNotFound)


async def test_usage_not_reported_is_unknown_not_zero(emu: VendorEmulator) -> None:
    llm = openai_adapter(emu.url, stream_usage=False)  # a server that sends no usage in streams
    try:
        streamed = await ask(llm, stream=True)
        emu.script(Fault.raw(chat_body({"finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}})))
        whole = await ask(llm)
    finally:
        await llm.aclose()
    for completion in (streamed, whole):
        assert completion.text and completion.usage == Usage.UNKNOWN and not completion.usage.reported
    # and one that did report stays reported, zero or not
    assert (Usage(0, 0) + Usage(1, 2)).reported and not (Usage(1, 2) + Usage.UNKNOWN).reported


# --- replies that break the vendor's own schema: the provider's failure, failover-eligible ----------
BROKEN_CHAT = {
    "choice without a message": chat_body({"finish_reason": "stop"}),
    "undecodable JSON": '{"id": "chatcmpl-x", "choices": [',
    "choices not a list": json.dumps({"id": "x", "object": "chat.completion", "model": "m", "choices": 5}),
}


@pytest.mark.parametrize("body", list(BROKEN_CHAT.values()), ids=list(BROKEN_CHAT))
async def test_broken_chat_replies_are_provider_failures(chat: OpenAIAdapter, emu: VendorEmulator, body: str) -> None:
    emu.script(Fault.raw(body))
    error = await failure(chat)
    assert not isinstance(error, InvalidRequest) and error.failover


async def test_unknown_responses_item_type_is_a_provider_failure(responses: OpenAIAdapter,
                                                                  emu: VendorEmulator) -> None:
    emu.script(Fault.raw(json.dumps({
        "id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "m",
        "output": [{"id": "x1", "type": "hologram", "status": "completed"}], "parallel_tool_calls": True,
        "tool_choice": "auto", "tools": [], "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}})))
    error = await failure(responses, CompletionRequest(model="m", messages=[Message.user("hi")]))
    assert isinstance(error, ProviderUnavailable) and "hologram" in error.message


def anthropic_message(*content: dict[str, Any], stop: str = "tool_use") -> str:
    return json.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
                       "content": list(content), "stop_reason": stop, "stop_sequence": None,
                       "usage": {"input_tokens": 3, "output_tokens": 2}})


@pytest.mark.parametrize("block", [
    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": "Oslo"},
    {"type": "hologram", "data": "?"},
], ids=["tool input not an object", "unknown block type"])
async def test_broken_anthropic_replies_fail_over(emu: VendorEmulator, block: dict[str, Any]) -> None:
    llm = AnthropicAdapter(anthropic.AsyncAnthropic(api_key=KEY, base_url=emu.url, max_retries=0))
    emu.script(Fault.raw(anthropic_message(block)))
    try:
        error = await failure(llm, CompletionRequest(model="claude", messages=[Message.user("hi")], tools=TOOLS))
    finally:
        await llm.aclose()
    assert isinstance(error, ProviderUnavailable) and error.failover


# --- SDK and transport failures -------------------------------------------------------------------
async def test_missing_anthropic_key_is_authentication_failed(emu: VendorEmulator,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    llm = AnthropicAdapter(anthropic.AsyncAnthropic(base_url=emu.url, max_retries=0))
    try:
        error = await failure(llm)
    finally:
        await llm.aclose()
    assert isinstance(error, AuthenticationFailed)
    assert len(emu.journal) == 0


def _family_clients(url: str, key: str) -> dict[str, LLMPort]:
    return {
        "openai": openai_adapter(url, key=key),
        "anthropic": AnthropicAdapter(anthropic.AsyncAnthropic(api_key=key, base_url=url, max_retries=0)),
        "google": GoogleGenAIAdapter(genai.Client(api_key=key, http_options=http_options(base_url=url, timeout=5))),
    }


# (the anthropic SDK sends such a key as UTF-8: the vendor's 401 then answers, mapped as usual)
@pytest.mark.parametrize("family", ["openai", "google"])
async def test_non_ascii_key_is_authentication_failed_without_the_key(emu: VendorEmulator, family: str) -> None:
    key = "sk-pasted\u200bsecretvalue123"  # a zero-width space pasted into the key
    llm = _family_clients(emu.url, key)[family]
    try:
        for stream in (False, True):
            error = await failure(llm, stream=stream)
            assert isinstance(error, AuthenticationFailed)
            assert "secretvalue" not in str(error) + repr(error) + error.message
    finally:
        await llm.aclose()


@pytest.mark.parametrize("family", ["openai", "anthropic", "google"])
async def test_closed_client_is_a_provider_failure(emu: VendorEmulator, family: str) -> None:
    llm = _family_clients(emu.url, KEY)[family]
    await llm.aclose()
    for stream in (False, True):
        error = await failure(llm, stream=stream)
        assert isinstance(error, ProviderUnavailable) and error.failover


@pytest.mark.parametrize("family", ["openai", "anthropic"])
def test_client_from_another_event_loop_says_so(emulator: VendorEmulator, family: str) -> None:
    emulator.reset()
    llm = _family_clients(emulator.url, KEY)[family]
    assert asyncio.run(ask(llm)).text  # the client's connections now belong to this (closed) loop

    async def second_loop() -> LLMError:
        error = await failure(llm)
        return error

    error = asyncio.run(second_loop())
    assert isinstance(error, ProviderUnavailable) and "event loop" in error.message


@pytest.mark.parametrize("url", ["http://127.0.0.1:70000", "http://exa mple.invalid"], ids=["port", "url"])
@pytest.mark.parametrize("family", ["openai", "anthropic", "google"])
async def test_unusable_base_urls_are_llm_errors(family: str, url: str) -> None:
    llm = _family_clients(url, KEY)[family]
    try:
        for stream in (False, True):
            error = await failure(llm, stream=stream)
            assert isinstance(error, ConnectionFailed | ProviderUnavailable) and error.failover
    finally:
        await llm.aclose()


async def test_unexpected_sdk_exception_keeps_only_its_type(chat: OpenAIAdapter,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    async def explode(*_: Any, **__: Any) -> Any:
        raise KeyError(f"Authorization: Bearer {KEY}")

    monkeypatch.setattr(chat._client.chat.completions, "create", explode)
    for stream in (False, True):
        error = await failure(chat, stream=stream)
        assert isinstance(error, ProviderUnavailable) and "KeyError" in error.message
        assert KEY not in str(error) and "Bearer" not in str(error)


async def test_count_tokens_errors_are_clean(emu: VendorEmulator) -> None:
    llm = openai_adapter(emu.url, api="responses", count_tokens_endpoint=True)
    emu.script(Fault.http(500))
    try:
        with pytest.raises(ProviderUnavailable) as info:
            await llm.count_tokens(REQ)
    finally:
        await llm.aclose()
    clean(info.value)


async def test_scripted_reply_still_answers(chat: OpenAIAdapter, emu: VendorEmulator) -> None:
    """The raw fault leaves ordinary scripting untouched (a control for the cases above)."""
    emu.script(Reply(text="fine", usage=ScriptedUsage(2, 1)))
    completion = await chat.complete(REQ)
    assert completion.text == "fine" and completion.usage == Usage(2, 1)
