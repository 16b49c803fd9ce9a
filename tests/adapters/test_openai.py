"""What is specific to the OpenAI family: request mapping as it reaches the wire (journal), the
Responses API, enforced parameters, presets and factory, and OpenAI-only error shapes."""

from __future__ import annotations

import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from llmport.adapters.openai import OpenAIAdapter, OpenAIOptions
from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator
from llmport.composition.factories import openai as factory
from llmport.composition.families import provider_settings
from llmport.composition.openai_presets import PRESETS
from llmport.composition.provider_settings import ProviderProblem
from llmport.domain import (
    AuthenticationFailed,
    CompletionRequest,
    ContentFiltered,
    ImagePart,
    InvalidRequest,
    Message,
    ProviderUnavailable,
    RateLimited,
    ReasoningConfig,
    ReasoningPart,
    ResponseFormat,
    StreamInterrupted,
    TextPart,
    Timeout,
    ToolCallPart,
    ToolChoice,
    ToolSpec,
)

KEY = "sk-test-adapter-secret-0123456789"
TOOL = ToolSpec("lookup", "Look something up", {"type": "object", "properties": {"q": {"type": "string"}}})
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
STRICT_SCHEMA = {**SCHEMA, "additionalProperties": False}  # what strict mode sends (adapters.strict_schema)


def make(emu: VendorEmulator, **settings: Any) -> Any:
    values: dict[str, Any] = {"kind": "openai", "api_key": KEY, "base_url": f"{emu.url}/v1", **settings}
    provider = provider_settings(**values)
    return factory.build_adapter("test", factory.build_client("test", provider), provider)


@pytest.fixture
async def chat(emu: VendorEmulator) -> AsyncIterator[Any]:
    adapter = make(emu)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def responses(emu: VendorEmulator) -> AsyncIterator[Any]:
    adapter = make(emu, api="responses")
    yield adapter
    await adapter.aclose()


def conversation(model: str, **kw: Any) -> CompletionRequest:
    return CompletionRequest(
        model=model,
        system="You are terse.",
        messages=[
            Message.user("What is on this?", ImagePart(url="https://example.com/a.png"),
                         ImagePart(data=b"\x89PNG", media_type="image/png")),
            Message.assistant("Let me look.", tool_calls=[ToolCallPart("call_1", "lookup", {"q": "png"})],
                              reasoning=[ReasoningPart("mine", "rs_abc:ENCRYPTED", "openai"),
                                         ReasoningPart("theirs", "anthropic-sig", "anthropic")]),
            Message.tool_result("call_1", "not found", is_error=True),
        ],
        tools=[TOOL], tool_choice=ToolChoice.tool("lookup"), temperature=0.3, top_p=0.9, max_tokens=99,
        tenant_id="tenant-42", metadata={"trace": "t1"}, **kw,
    )


# --- Chat Completions request mapping ----------------------------------------------------------
async def test_chat_request_mapping(chat: Any, emu: VendorEmulator) -> None:
    req = conversation("gpt-4o", stop=["END"], seed=7, response_format=ResponseFormat.json_schema(SCHEMA, name="ans"),
                       reasoning=ReasoningConfig("high"))
    await chat.complete(req)
    body = emu.journal.last.body
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is on this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}}]},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "png"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "[tool error] not found"},
    ]
    assert body["tools"] == [{"type": "function", "function": {"name": "lookup", "description": "Look something up",
                                                                "parameters": TOOL.parameters}}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "ans", "schema": STRICT_SCHEMA, "strict": True}}
    assert (body["temperature"], body["top_p"], body["stop"], body["seed"]) == (0.3, 0.9, ["END"], 7)
    assert body["max_completion_tokens"] == 99 and "max_tokens" not in body
    assert body["reasoning_effort"] == "high"
    # enforced: nothing stored, the tenant is the end user; metadata is kept only with storage
    assert body["store"] is False and body["safety_identifier"] == "tenant-42"
    assert "metadata" not in body and "stream" not in body


async def test_chat_stream_always_asks_for_usage(chat: Any, emu: VendorEmulator) -> None:
    async with chat.stream(CompletionRequest(model="gpt-4o", messages=[Message.user("hi")])) as events:
        [e async for e in events]
    body = emu.journal.last.body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(("model", "field"), [("gpt-4o-mini", "max_tokens"), ("o3-mini", "max_completion_tokens"),
                                              ("gpt-5.1", "max_completion_tokens")])
async def test_max_tokens_field_follows_the_model_family(emu: VendorEmulator, model: str, field: str) -> None:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=f"{emu.url}/v1", max_retries=0)
    adapter = OpenAIAdapter(client, options=OpenAIOptions(max_tokens_param=None))
    await adapter.complete(CompletionRequest(model=model, messages=[Message.user("hi")], max_tokens=10))
    body = emu.journal.last.body
    assert body[field] == 10 and len({"max_tokens", "max_completion_tokens"} & set(body)) == 1
    await adapter.aclose()


async def test_json_object_format(chat: Any, emu: VendorEmulator) -> None:
    await chat.complete(CompletionRequest(model="gpt-4o", messages=[Message.user("json")],
                                          response_format=ResponseFormat.JSON))
    assert emu.journal.last.body["response_format"] == {"type": "json_object"}


async def test_store_is_sent_only_when_the_deployment_opts_in(emu: VendorEmulator) -> None:
    adapter = make(emu, store=True)
    await adapter.complete(CompletionRequest(model="gpt-4o", messages=[Message.user("hi")], metadata={"k": "v"}))
    body = emu.journal.last.body
    assert body["store"] is True and body["metadata"] == {"k": "v"}
    await adapter.aclose()


# --- Responses API -----------------------------------------------------------------------------
async def test_responses_request_mapping(responses: Any, emu: VendorEmulator) -> None:
    req = conversation("gpt-5", response_format=ResponseFormat.json_schema(SCHEMA), reasoning=ReasoningConfig("low"))
    await responses.complete(req)
    body = emu.journal.last.body
    assert body["instructions"] == "You are terse."
    assert body["input"] == [
        {"role": "user", "content": [
            {"type": "input_text", "text": "What is on this?"},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw==", "detail": "auto"}]},
        {"type": "reasoning", "id": "rs_abc", "summary": [{"type": "summary_text", "text": "mine"}],
         "encrypted_content": "ENCRYPTED"},  # another vendor's reasoning is dropped
        {"role": "assistant", "content": "Let me look."},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"q": "png"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "[tool error] not found"},
    ]
    assert body["tools"] == [{"type": "function", "name": "lookup", "description": "Look something up",
                              "parameters": TOOL.parameters, "strict": False}]
    assert body["tool_choice"] == {"type": "function", "name": "lookup"}
    assert body["text"] == {"format": {"type": "json_schema", "name": "response", "schema": STRICT_SCHEMA,
                                       "strict": True}}
    assert body["max_output_tokens"] == 99
    assert body["reasoning"] == {"effort": "low", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["store"] is False and body["safety_identifier"] == "tenant-42"
    assert body["metadata"] == {"trace": "t1"}


@pytest.mark.parametrize("field", [{"stop": ["END"]}, {"seed": 1}])
async def test_responses_rejects_what_it_cannot_send_before_any_call(responses: Any, emu: VendorEmulator,
                                                                     field: dict[str, Any]) -> None:
    req = CompletionRequest(model="gpt-5", messages=[Message.user("hi")], **field)
    with pytest.raises(InvalidRequest) as info:
        await responses.complete(req)
    assert info.value.field == next(iter(field))
    with pytest.raises(InvalidRequest):
        async with responses.stream(req) as events:
            [e async for e in events]
    assert emu.journal.entries() == []


async def test_count_tokens_uses_the_input_tokens_endpoint(responses: Any, emu: VendorEmulator) -> None:
    n = await responses.count_tokens(CompletionRequest(model="gpt-5", system="sys", messages=[Message.user("x" * 80)],
                                                       tools=[TOOL]))
    entry = emu.journal.last
    assert entry.endpoint == "count_tokens" and entry.path == "/v1/responses/input_tokens"
    assert entry.body["instructions"] == "sys" and entry.body["tools"][0]["name"] == "lookup"
    assert n > 20


# --- errors ------------------------------------------------------------------------------------
async def test_content_filter_error_is_content_filtered(emu: VendorEmulator) -> None:
    adapter = make(emu, kind="azure_openai", endpoint=emu.url, base_url=None)
    emu.script(Fault.http(400, "content_filter", "The response was filtered due to the prompt triggering "
                                                "Azure OpenAI's content management policy."), vendor="openai")
    with pytest.raises(ContentFiltered) as info:
        await adapter.complete(CompletionRequest(model="dep", messages=[Message.user("bad")]))
    assert info.value.status == 400 and info.value.vendor_code == "content_filter"
    await adapter.aclose()


async def test_in_stream_rate_limit_maps_by_code(chat: Any, emu: VendorEmulator) -> None:
    emu.script(Fault.stream_error(1, "rate_limit_exceeded", "Rate limit reached"), vendor="openai")
    with pytest.raises(RateLimited):
        async with chat.stream(CompletionRequest(model="gpt-4o", messages=[Message.user("hi")])) as events:
            [e async for e in events]


async def test_responses_error_event_after_output_is_interrupted(responses: Any, emu: VendorEmulator) -> None:
    emu.script(Fault.stream_error(6, "server_error", "boom", reply=Reply(text="abcdefghijkl", chunk_size=3)),
               vendor="openai")
    with pytest.raises(StreamInterrupted) as info:
        async with responses.stream(CompletionRequest(model="gpt-5", messages=[Message.user("hi")])) as events:
            [e async for e in events]
    assert info.value.partial.text == "abcdef" and isinstance(info.value.cause, ProviderUnavailable)


async def test_adapter_turns_sdk_retries_off(emu: VendorEmulator) -> None:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=f"{emu.url}/v1", max_retries=3)
    adapter = OpenAIAdapter(client)
    emu.script(Fault.http(503), then=Reply(text="late"), vendor="openai")
    with pytest.raises(ProviderUnavailable):
        await adapter.complete(CompletionRequest(model="gpt-4o", messages=[Message.user("hi")]))
    assert len(emu.journal.entries()) == 1
    await adapter.aclose()


async def test_a_passed_deadline_fails_before_any_call(chat: Any, emu: VendorEmulator) -> None:
    req = CompletionRequest(model="gpt-4o", messages=[Message.user("hi")], deadline=time.monotonic() - 1)
    with pytest.raises(Timeout):
        await chat.complete(req)
    assert emu.journal.entries() == []


async def test_the_key_never_shows(emu: VendorEmulator) -> None:
    emu.script(Fault.http(401, message=f"Incorrect API key provided: {KEY}."), vendor="openai")
    adapter = make(emu)
    with pytest.raises(AuthenticationFailed) as info:
        await adapter.complete(CompletionRequest(model="gpt-4o", messages=[Message.user("hi")]))
    shown = [str(info.value), repr(info.value), repr(adapter), info.value.message,
             "".join(traceback.format_exception(info.value))]
    assert not any(KEY in s for s in shown)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    await adapter.aclose()


# --- composition: Azure, presets ----------------------------------------------------------------
async def test_azure_factory_paths(emu: VendorEmulator) -> None:
    adapter = make(emu, kind="azure_openai", endpoint=emu.url, base_url=None, api_key="azure-key")
    await adapter.complete(CompletionRequest(model="prod-gpt4o", messages=[Message.user("hi")], tenant_id="t",
                                             max_tokens=5))
    entry = emu.journal.last
    assert entry.path == "/openai/deployments/prod-gpt4o/chat/completions"
    assert entry.query["api-version"] == factory.DEFAULT_AZURE_API_VERSION
    assert entry.headers["api-key"] == "[REDACTED]"
    assert entry.body["user"] == "t" and entry.body["store"] is False and entry.body["max_tokens"] == 5
    await adapter.aclose()


async def test_deepseek_preset_quirks_and_reasoning(emu: VendorEmulator) -> None:
    adapter = make(emu, kind="openai_compatible", preset="deepseek")
    emu.script(Reply(text="4", reasoning="2+2 is 4"), vendor="openai")
    completion = await adapter.complete(CompletionRequest(model="deepseek-reasoner", messages=[Message.user("2+2?")],
                                                          tenant_id="t", reasoning=ReasoningConfig()))
    assert completion.reasoning[0].text == "2+2 is 4" and completion.reasoning[0].provider == "openai"
    body = emu.journal.last.body
    assert not {"store", "user", "safety_identifier", "reasoning_effort"} & set(body)
    # reasoning is not sent back on Chat Completions
    await adapter.complete(CompletionRequest(model="deepseek-reasoner", messages=[
        Message.user("2+2?"), completion.to_message(), Message.user("and 3+3?")]))
    assert emu.journal.last.body["messages"][1] == {"role": "assistant", "content": "4"}
    await adapter.aclose()


async def test_keyless_local_preset(emu: VendorEmulator) -> None:
    adapter = make(emu, kind="openai_compatible", preset="ollama", api_key=None)
    completion = await adapter.complete(CompletionRequest(model="llama3.2", messages=[Message.user("hi")]))
    assert completion.parts and isinstance(completion.parts[0], TextPart)
    await adapter.aclose()


def test_preset_needs_its_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    with pytest.raises(ProviderProblem, match="GROQ_API_KEY"):
        factory.build_client("groq", provider_settings(kind="openai_compatible", preset="groq"))
    monkeypatch.setenv("GROQ_API_KEY", "gsk_" + "a" * 20)
    client = factory.build_client("groq", provider_settings(kind="openai_compatible", preset="groq"))
    assert str(client.base_url).startswith(PRESETS["groq"].base_url) and client.max_retries == 0
    assert "gsk_" not in repr(factory.build_adapter("groq", client, provider_settings(kind="openai_compatible",
                                                                                      preset="groq")))


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="groq"):
        factory.build_client("x", provider_settings(kind="openai_compatible", preset="nope", api_key="k"))


def test_every_named_preset_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {"groq", "deepseek", "mistral", "openrouter", "together", "fireworks", "xai", "perplexity",
                "cerebras", "deepinfra", "ollama"}
    assert expected <= set(PRESETS)
    for name, found in PRESETS.items():
        if found.key_env:
            monkeypatch.setenv(found.key_env, "test-key-value")
        client = factory.build_client(name, provider_settings(kind="openai_compatible", preset=name))
        assert client.max_retries == 0 and str(client.base_url).rstrip("/") == found.base_url.rstrip("/")


# --- shapes the emulator's script model cannot produce (parsed into the SDK's own types) ---------
def test_refusal_is_a_content_filter_stop() -> None:
    from openai.types.chat import ChatCompletion

    response = ChatCompletion.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."}}],
    })
    adapter = OpenAIAdapter(openai.AsyncOpenAI(api_key=KEY, base_url="http://127.0.0.1:9", max_retries=0))
    completion = adapter._chat_completion(response)
    assert completion.text == "I can't help with that."
    assert (completion.stop_reason.kind, completion.stop_reason.raw) == ("content_filter", "refusal")


def test_deepseek_cache_hits_count_as_cached_input() -> None:
    from openai.types import CompletionUsage

    from llmport.adapters.openai import _chat_usage

    usage = CompletionUsage.model_validate({"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110,
                                            "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36})
    assert _chat_usage(usage).cached_input_tokens == 64


CHAT_REPLY = ('{"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test", "choices": [{"index": 0, '
              '"message": {"role": "assistant", "content": "plain answer"}, "finish_reason": "stop"}], '
              '"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}')


@pytest.mark.parametrize("wire", [True, False], ids=["wire", "sdk"])
async def test_a_reply_without_choices_names_the_request_id_from_the_headers(emu: VendorEmulator,
                                                                             wire: bool) -> None:
    adapter = make(emu)
    adapter.wire_replies = wire
    emu.script(Fault.raw('{"id": "chatcmpl-1", "choices": []}', headers={"x-request-id": "req_from_header"}))
    try:
        with pytest.raises(ProviderUnavailable, match="no choices") as info:
            await adapter.complete(CompletionRequest("gpt-test", [Message.user("hi")]))
    finally:
        await adapter.aclose()
    assert info.value.request_id == "req_from_header"


@pytest.mark.parametrize("wire", [True, False], ids=["wire", "sdk"])
async def test_a_json_reply_under_another_content_type_is_read_as_the_sdk_reads_it(emu: VendorEmulator,
                                                                                   wire: bool) -> None:
    adapter = make(emu)
    adapter.wire_replies = wire
    emu.script(Fault.raw(CHAT_REPLY, media_type="text/plain"))
    try:
        completion = await adapter.complete(CompletionRequest("gpt-test", [Message.user("hi")]))
    finally:
        await adapter.aclose()
    assert (completion.text, completion.usage.input_tokens, completion.usage.output_tokens) == ("plain answer", 3, 2)
    assert completion.response_id == "chatcmpl-1"


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_whole_replies_skip_the_sdk_models(emu: VendorEmulator, api: str) -> None:
    """The wire path hands the translation views over the JSON, never the SDK's pydantic models."""
    from llmport.adapters.sse import Reply as WireReply

    adapter = make(emu, api=api)
    seen: list[type] = []
    parse = adapter._chat_completion if api == "chat" else adapter._responses_completion

    def spy(response: Any) -> Any:
        seen.append(type(response))
        return parse(response)

    setattr(adapter, "_chat_completion" if api == "chat" else "_responses_completion", spy)
    emu.script(Reply("from the wire"))
    try:
        completion = await adapter.complete(CompletionRequest("gpt-test", [Message.user("hi")]))
    finally:
        await adapter.aclose()
    assert completion.text == "from the wire" and seen == [WireReply]


def test_deepseek_cache_hits_count_on_the_wire_path_too() -> None:
    from llmport.adapters.openai import _chat_usage
    from llmport.adapters.sse import Frame

    usage = Frame({"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110,
                   "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36})
    assert _chat_usage(usage).cached_input_tokens == 64
