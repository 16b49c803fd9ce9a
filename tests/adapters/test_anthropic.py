"""What is Anthropic-specific in ``AnthropicAdapter``: the request body the real SDK sends (seen in
the emulator's journal), JSON via a forced tool, thinking round trips, prompt caching, refusals,
overload errors, and the composition factory for the three provider kinds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from llmport.adapters.anthropic import AnthropicAdapter
from llmport.adapters.testing.emulator import Fault, Reply, ScriptedToolCall, ScriptedUsage, VendorEmulator
from llmport.composition.factories import anthropic as factory
from llmport.composition.families import provider_settings
from llmport.domain import (
    AuthenticationFailed,
    CachePolicy,
    CompletionRequest,
    ImagePart,
    InvalidRequest,
    Message,
    Overloaded,
    ProviderUnavailable,
    ReasoningConfig,
    ReasoningPart,
    ResponseFormat,
    StreamInterrupted,
    TextDelta,
    Timeout,
    ToolCallPart,
    ToolChoice,
    ToolSpec,
    accumulate,
)

MODEL = "claude-adapter-test"
KEY = "sk-ant-api03-very-secret-key-value"
WEATHER = ToolSpec("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}})


@pytest.fixture
async def llm(emu: VendorEmulator) -> AsyncIterator[AnthropicAdapter]:
    adapter = AnthropicAdapter(anthropic.AsyncAnthropic(api_key=KEY, base_url=emu.url, max_retries=0),
                               provider="claude", default_max_tokens=1000)
    yield adapter
    await adapter.aclose()


def req(*messages: Message, **kw: Any) -> CompletionRequest:
    return CompletionRequest(model=MODEL, messages=messages or [Message.user("hi")], **kw)


def sent(emu: VendorEmulator) -> dict[str, Any]:
    body = emu.journal.last.body
    assert isinstance(body, dict)
    return body


async def stream_all(llm: AnthropicAdapter, request: CompletionRequest) -> list[Any]:
    async with llm.stream(request) as events:
        return [e async for e in events]


async def test_system_top_level_and_turns_merged(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    await llm.complete(req(
        Message.system("Be brief."),
        Message.user("Weather in Paris?"),
        Message.assistant("Let me check.", tool_calls=[ToolCallPart("toolu_1", "get_weather", {"city": "Paris"}),
                                                       ToolCallPart("toolu_2", "get_weather", {"city": "Oslo"})]),
        Message.tool_result("toolu_1", "18C"),
        Message.tool_result("toolu_2", "unknown city", is_error=True),
        Message.user("And tomorrow?"),
        system="You are a weather bot.", tools=[WEATHER],
    ))
    body = sent(emu)
    assert body["system"] == "You are a weather bot.\n\nBe brief."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Oslo"}},
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "unknown city", "is_error": True},
        {"type": "text", "text": "And tomorrow?"},
    ]
    assert body["max_tokens"] == 1000  # the configured default: the API requires max_tokens


async def test_sampling_parameters_and_tenant(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    await llm.complete(req(temperature=0.3, top_p=0.9, max_tokens=77, stop=["END", "STOP"], tenant_id="tenant-7"))
    body = sent(emu)
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.3, 0.9, 77)
    assert body["stop_sequences"] == ["END", "STOP"]
    assert body["metadata"] == {"user_id": "tenant-7"}
    assert "thinking" not in body and "tools" not in body and "system" not in body


async def test_out_of_range_temperature_fails_before_the_network(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    with pytest.raises(InvalidRequest) as info:
        await llm.complete(req(temperature=1.5))
    assert info.value.field == "temperature"
    assert len(emu.journal) == 0


async def test_images(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    await llm.complete(req(Message.user(
        "what are these?",
        ImagePart(url="https://example.com/cat.png"),
        ImagePart(data=b"\x89PNG-bytes", media_type="image/png"),
        ImagePart(url="data:image/jpeg;base64,QUJD"),
    )))
    blocks = sent(emu)["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    assert blocks[2] == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                     "data": "iVBORy1ieXRlcw=="}}
    assert blocks[3] == {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}}


@pytest.mark.parametrize(("choice", "wire"), [
    (ToolChoice.AUTO, {"type": "auto"}),
    (ToolChoice.NONE, {"type": "none"}),
    (ToolChoice.REQUIRED, {"type": "any"}),
    (ToolChoice.tool("get_weather"), {"type": "tool", "name": "get_weather"}),
])
async def test_tools_and_tool_choice(llm: AnthropicAdapter, emu: VendorEmulator, choice: ToolChoice,
                                     wire: dict[str, str]) -> None:
    await llm.complete(req(tools=[WEATHER], tool_choice=choice))
    body = sent(emu)
    assert body["tools"] == [{"name": "get_weather", "description": "Weather for a city",
                              "input_schema": dict(WEATHER.parameters)}]
    assert body["tool_choice"] == wire


async def test_json_output_through_a_forced_tool(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    answer = Reply(tool_calls=(ScriptedToolCall("result", {"answer": 42}),), chunk_size=4)
    emu.script(answer, answer)
    request = req(response_format=ResponseFormat.json_schema(schema, name="result"))
    whole = await llm.complete(request)
    body = sent(emu)
    assert body["tool_choice"] == {"type": "tool", "name": "result"}
    assert body["tools"][0]["name"] == "result" and body["tools"][0]["input_schema"] == schema
    assert json.loads(whole.text) == {"answer": 42}
    assert whole.tool_calls == () and whole.stop_reason.kind == "end_turn"
    events = await stream_all(llm, request)
    assert sum(isinstance(e, TextDelta) for e in events) > 1
    streamed = accumulate(events)
    assert streamed.text == whole.text and streamed.tool_calls == () and streamed.stop_reason == whole.stop_reason


async def test_json_output_with_tools_uses_structured_outputs(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    emu.script(Reply(text='{"ok": true}'))
    completion = await llm.complete(req(tools=[WEATHER], response_format=ResponseFormat.JSON))
    body = sent(emu)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    assert [t["name"] for t in body["tools"]] == ["get_weather"] and "tool_choice" not in body
    assert completion.text == '{"ok": true}'


async def test_thinking_request_and_signature_round_trip(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    emu.script(Reply(text="42", reasoning="6*7", reasoning_signature="EqQBCkgIAhABGAIiQ..."))
    first = await llm.complete(req(reasoning=ReasoningConfig(budget_tokens=2000)))
    assert sent(emu)["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert sent(emu)["max_tokens"] == 3000  # the budget did not fit the default: raised, not truncated
    assert first.reasoning == (ReasoningPart("6*7", "EqQBCkgIAhABGAIiQ...", "anthropic"),)
    foreign = ReasoningPart("openai thoughts", "enc-openai", "openai")
    redacted = ReasoningPart("", "redacted-blob", "anthropic", redacted=True)
    await llm.complete(req(
        Message.user("6*7?"), first.to_message(),
        Message.assistant("x", reasoning=[foreign, redacted]), Message.user("again"),
        reasoning=ReasoningConfig(budget_tokens=1024, include_text=False)))
    body = sent(emu)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024, "display": "omitted"}
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "6*7", "signature": "EqQBCkgIAhABGAIiQ..."},
        {"type": "text", "text": "42"},
        {"type": "redacted_thinking", "data": "redacted-blob"},  # merged turn; the openai part is dropped
        {"type": "text", "text": "x"},
    ]


async def test_reasoning_budget_must_fit_an_explicit_max_tokens(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    with pytest.raises(InvalidRequest):
        await llm.complete(req(max_tokens=500, reasoning=ReasoningConfig(budget_tokens=1024)))
    assert len(emu.journal) == 0


async def test_prompt_cache_breakpoints(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    eph = {"type": "ephemeral"}
    await llm.complete(req(Message.user("long document", cache_breakpoint=True), Message.assistant("noted"),
                           Message.user("question"), system="sys", tools=[WEATHER],
                           cache=CachePolicy(prompt_cache="auto")))
    body = sent(emu)
    assert body["system"] == [{"type": "text", "text": "sys", "cache_control": eph}]
    assert body["tools"][-1]["cache_control"] == eph
    assert body["messages"][0]["content"][-1]["cache_control"] == eph
    assert body["messages"][2]["content"][-1] == {"type": "text", "text": "question", "cache_control": eph}
    await llm.complete(req(Message.user("q")))
    assert "cache_control" not in json.dumps(sent(emu))  # off unless asked


async def test_too_many_cache_breakpoints_is_invalid(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    turns = [m for i in range(5) for m in (Message.user(f"u{i}", cache_breakpoint=True), Message.assistant("a"))]
    with pytest.raises(InvalidRequest, match="breakpoints"):
        await llm.complete(req(*turns, Message.user("last")))
    assert len(emu.journal) == 0


async def test_refusal_without_output_is_a_content_filter_stop(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    # One rule for every family: a filtered answer is a completion (with its usage), not an error.
    refusal = Reply(text="", stop="content_filter", usage=ScriptedUsage(12, 0))
    emu.script(refusal, refusal)
    whole = await llm.complete(req())
    streamed = accumulate(await stream_all(llm, req()))
    for completion in (whole, streamed):
        assert (completion.stop_reason.kind, completion.stop_reason.raw) == ("content_filter", "refusal")
        assert completion.text == "" and completion.usage.input_tokens == 12 and completion.usage.reported


async def test_overloaded_529_and_in_stream(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    text = Reply(text="abcdefghijkl", chunk_size=3)
    emu.script(Fault.http(529), Fault.stream_error(0, reply=text), Fault.stream_error(2, reply=text))
    with pytest.raises(Overloaded) as info:
        await llm.complete(req())
    assert info.value.status == 529 and info.value.vendor_type == "overloaded_error" and info.value.request_id
    with pytest.raises(Overloaded) as info:
        await stream_all(llm, req())
    assert info.value.vendor_type == "overloaded_error"
    with pytest.raises(StreamInterrupted) as interrupted:
        await stream_all(llm, req())
    assert interrupted.value.partial.text == "abcdef" and isinstance(interrupted.value.cause, Overloaded)


@pytest.mark.parametrize(("status", "expected"), [(413, InvalidRequest), (504, Timeout)])
async def test_other_statuses(llm: AnthropicAdapter, emu: VendorEmulator, status: int, expected: type) -> None:
    emu.script(Fault.http(status))
    with pytest.raises(expected):
        await llm.complete(req())


async def test_injected_client_with_retries_gets_them_turned_off(emu: VendorEmulator) -> None:
    adapter = AnthropicAdapter(anthropic.AsyncAnthropic(api_key=KEY, base_url=emu.url))  # SDK default: 2 retries
    emu.script(Fault.http(503), then=Reply(text="late"))
    with pytest.raises(ProviderUnavailable):
        await adapter.complete(req())
    assert len(emu.journal) == 1
    await adapter.aclose()


async def test_secrets_never_in_errors_or_repr(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    emu.script(Fault.http(401, message=f"invalid x-api-key {KEY}"))
    with pytest.raises(AuthenticationFailed) as info:
        await llm.complete(req())
    assert KEY not in str(info.value) and KEY not in repr(info.value) and KEY not in repr(llm)
    assert KEY not in json.dumps(emu.journal.last.headers)


# --- composition -----------------------------------------------------------------------------
async def test_factory_first_party_and_vertex_against_the_emulator(emu: VendorEmulator) -> None:
    cases = [
        provider_settings(kind="anthropic", api_key=KEY, base_url=emu.url, default_max_tokens=321, timeout=5),
        provider_settings(kind="anthropic_vertex", region="europe-west1", project="proj-1", api_key="ya29.tok",
                         base_url=f"{emu.url}/v1"),
    ]
    for settings in cases:
        client = factory.build_client("claude", settings)
        assert client.max_retries == 0
        adapter = factory.build_adapter("claude", client, settings)
        emu.script(Reply(text="built"), Fault.http(503), Reply(usage=ScriptedUsage(input_tokens=5)))
        completion = await adapter.complete(req())
        assert completion.text == "built" and completion.provider == "claude"
        with pytest.raises(ProviderUnavailable):
            await adapter.complete(req())
        assert await adapter.count_tokens(req()) == 5
        await factory.close_client(client)
    entries = emu.journal.entries(vendor="anthropic")
    assert entries[0].body["max_tokens"] == 321 and entries[0].path == "/v1/messages"
    assert len(entries) == 6  # no retries anywhere
    assert entries[3].path == "/v1/projects/proj-1/locations/europe-west1/publishers/anthropic/models/" \
                              f"{MODEL}:rawPredict"


async def test_factory_bedrock_construction_and_estimated_count() -> None:
    settings = provider_settings(kind="anthropic_bedrock", region="eu-central-1", aws_access_key_id="AKIATESTKEY",
                                aws_secret_access_key="bedrock-secret-value", timeout=12, connect_timeout=3)
    client = factory.build_client("claude-bedrock", settings)
    assert isinstance(client, anthropic.AsyncAnthropicBedrock)
    assert client.aws_region == "eu-central-1" and client.max_retries == 0
    assert str(client.base_url).startswith("https://bedrock-runtime.eu-central-1.amazonaws.com")
    assert client.timeout.read == 12 and client.timeout.connect == 3  # type: ignore[union-attr]
    adapter = factory.build_adapter("claude-bedrock", client, settings)
    assert "bedrock-secret-value" not in repr(adapter) and "bedrock-secret-value" not in repr(client)
    # Bedrock has no count-tokens endpoint for Claude in this SDK: an estimate, without any request
    short, longer = await adapter.count_tokens(req()), await adapter.count_tokens(req(Message.user("hi " * 400)))
    assert 0 < short < longer
    await factory.close_client(client)


async def test_factory_vertex_needs_a_region() -> None:
    with pytest.raises(ValueError, match="region"):
        factory.build_client("v", provider_settings(kind="anthropic_vertex", project="p"))


async def test_cancelled_count_tokens_leaves_nothing_running(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    emu.script(Fault.hang())
    task = asyncio.create_task(llm.count_tokens(req()))
    await emu.journal.await_for(lambda j: len(j) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await emu.journal.await_disconnected(emu.journal.last)


async def test_finished_streams_keep_their_connection_for_reuse(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    # Closing the response at message_stop, before the body's end is read, makes httpx drop the
    # connection: every stream would then pay for a new one.
    emu.script(then=Reply(text="reused " * 5, chunk_size=4))
    for _ in range(3):
        assert accumulate(await stream_all(llm, req())).text == "reused " * 5
    await llm.complete(req())
    entries = emu.journal.entries(vendor="anthropic")
    assert len(entries) == 4 and len({e.client for e in entries}) == 1


async def test_stall_mid_stream_times_out_with_the_partial(llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    # The SDK does not wrap errors raised while a stream is read (here httpx2's ReadTimeout).
    emu.script(Reply(chunks=("first ", "second"), chunk_delay=1.0))
    with pytest.raises(StreamInterrupted) as info:
        await stream_all(llm, req(attempt_timeout=0.2))
    assert info.value.partial.text == "first " and isinstance(info.value.cause, Timeout)
    await emu.journal.await_disconnected(emu.journal.last)


async def test_tool_arguments_that_are_not_an_object_fail_before_the_network(
        llm: AnthropicAdapter, emu: VendorEmulator) -> None:
    # Another vendor's model produced a JSON array; sending ``{}`` instead would rewrite history.
    call = ToolCallPart("c1", "f", {}, "[1, 2]")
    req = CompletionRequest(MODEL, [Message.user("x"), Message.assistant(tool_calls=[call]),
                                    Message.tool_result("c1", "ok"), Message.user("y")])
    with pytest.raises(InvalidRequest, match="not a JSON object"):
        await llm.complete(req)
    assert emu.journal.entries(vendor="anthropic") == []


async def test_platform_credentials_failing_per_request_are_authentication_failures(
        emu: VendorEmulator, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Claude on Bedrock signs each request with AWS credentials fetched at that moment.
    config = tmp_path / "config"
    config.write_text("[profile broken]\nregion = eu-west-1\ncredential_process = /bin/false\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for env in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(env, raising=False)
    req = CompletionRequest(MODEL, [Message.user("x")])
    for profile in ("broken", None):  # a failing credential_process; no credentials at all
        adapter = AnthropicAdapter(anthropic.AsyncAnthropicBedrock(aws_region="eu-west-1", aws_profile=profile,
                                                                    base_url=emu.url, max_retries=0))
        try:
            with pytest.raises(AuthenticationFailed, match="credentials"):
                await adapter.complete(req)
            with pytest.raises(AuthenticationFailed):
                async with adapter.stream(req) as events:
                    async for _ in events:
                        pass
        finally:
            await adapter.aclose()
    assert emu.journal.entries() == []


async def test_bedrock_estimate_counts_an_inline_image_at_a_flat_cost() -> None:
    # No count endpoint on Bedrock: an image must not be counted as its base64 text (~1 token per 3 bytes).
    client = anthropic.AsyncAnthropicBedrock(aws_region="eu-west-1", aws_access_key="AKIATESTKEY",
                                             aws_secret_key="secret-value", max_retries=0)
    adapter = AnthropicAdapter(client)
    image = ImagePart(data=bytes(300_000), media_type="image/png")
    try:
        text_only = await adapter.count_tokens(req(Message.user("what is this?")))
        with_image = await adapter.count_tokens(req(Message.user("what is this?", image)))
        assert text_only < with_image < text_only + 5_000
    finally:
        await adapter.aclose()


def test_on_bedrock_only_credential_errors_are_authentication_failures() -> None:
    from botocore.exceptions import ChecksumError, NoCredentialsError, SSOTokenLoadError

    from llmport.domain import AuthenticationFailed, CompletionRequest, Message, ProviderUnavailable

    client = anthropic.AsyncAnthropicBedrock(aws_region="us-east-1", aws_access_key="AKIATESTKEY",
                                             aws_secret_key="not-a-real-secret")
    adapter = AnthropicAdapter(client)
    request = CompletionRequest(model="m", messages=[Message.user("hi")])
    assert isinstance(adapter._map_error(NoCredentialsError(), request), AuthenticationFailed)
    assert isinstance(adapter._map_error(SSOTokenLoadError(error_msg="expired"), request), AuthenticationFailed)
    corrupt = ChecksumError(checksum_type="crc32", expected_checksum="1", actual_checksum="2")
    assert isinstance(adapter._map_error(corrupt, request), ProviderUnavailable)


def _tool_reply(tool_input: str) -> str:
    return ('{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-adapter-test", '
            '"content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": ' + tool_input + '}], '
            '"stop_reason": "tool_use", "usage": {"input_tokens": 4, "output_tokens": 3}}')


@pytest.mark.parametrize("wire", [True, False], ids=["wire", "sdk"])
async def test_tool_input_arrives_as_a_plain_mapping_on_both_paths(llm: AnthropicAdapter, emu: VendorEmulator,
                                                                   wire: bool) -> None:
    llm.wire_replies = wire
    emu.script(Fault.raw(_tool_reply('{"city": "Oslo", "when": {"day": 1}}')))
    completion = await llm.complete(req(tools=[WEATHER]))
    call = completion.tool_calls[0]
    assert (call.id, call.name, dict(call.arguments)) == ("toolu_1", "get_weather",
                                                          {"city": "Oslo", "when": {"day": 1}})
    assert completion.stop_reason.kind == "tool_use"


@pytest.mark.parametrize("wire", [True, False], ids=["wire", "sdk"])
@pytest.mark.parametrize("tool_input", ['"Oslo"', "[1]", "null"])
async def test_tool_input_that_is_not_an_object_is_the_providers_failure(llm: AnthropicAdapter, emu: VendorEmulator,
                                                                         wire: bool, tool_input: str) -> None:
    llm.wire_replies = wire
    emu.script(Fault.raw(_tool_reply(tool_input)))
    with pytest.raises(ProviderUnavailable, match="tool_use input that is not an object"):
        await llm.complete(req(tools=[WEATHER]))
