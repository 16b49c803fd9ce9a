"""What is specific to the Google GenAI adapter: the request it puts on the wire (seen in the
journal's parsed body), Gemini's quirks (no tool call ids, base64 thought signatures, prompt
blocks, RetryInfo, API_KEY_INVALID as a 400), count_tokens per backend, and the factory."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from llmport.adapters.google_genai import SYNTHETIC_ID_PREFIX, GoogleGenAIAdapter, http_options
from llmport.adapters.testing.emulator import Fault, Reply, ScriptedToolCall, ScriptedUsage, VendorEmulator
from llmport.composition.factories import factory_for
from llmport.composition.families import provider_settings
from llmport.composition.provider_settings import ProviderProblem
from llmport.domain import (
    AuthenticationFailed,
    CompletionRequest,
    ImagePart,
    InvalidRequest,
    Message,
    Overloaded,
    RateLimited,
    ReasoningConfig,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    Timeout,
    ToolCallPart,
    ToolChoice,
    ToolSpec,
    accumulate,
)

MODEL = "gemini-adapter-test"
KEY = "AIza-adapter-secret-0123456789abcdef"
WEATHER = ToolSpec("get_weather", "Weather for a city",
                   {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                    "additionalProperties": False})


@pytest.fixture
async def llm(emu: VendorEmulator) -> AsyncIterator[GoogleGenAIAdapter]:
    adapter = GoogleGenAIAdapter(genai.Client(api_key=KEY, http_options=http_options(base_url=emu.url, timeout=5)),
                                 provider="gemini")
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def vertex(emu: VendorEmulator) -> AsyncIterator[GoogleGenAIAdapter]:
    client = genai.Client(vertexai=True, project="p1", location="us-central1",
                          credentials=Credentials(token="ya29.adapter-token"),  # type: ignore[no-untyped-call]
                          http_options=http_options(base_url=emu.url, timeout=5))
    adapter = GoogleGenAIAdapter(client, provider="vertex")
    yield adapter
    await adapter.aclose()


def ask(*messages: Message, **kw: Any) -> CompletionRequest:
    return CompletionRequest(model=MODEL, messages=messages or [Message.user("hi")], **kw)


def sent(emu: VendorEmulator) -> dict[str, Any]:
    body = emu.journal.last.body
    assert isinstance(body, dict)
    return body


# --- request mapping -------------------------------------------------------------------------
async def test_generation_config_and_system(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}
    await llm.complete(ask(Message.system("also this"), Message.user("hi"), system="be brief", temperature=0.2,
                           top_p=0.9, max_tokens=77, stop=["END"], seed=5,
                           response_format=ResponseFormat.json_schema(schema)))
    body = sent(emu)
    assert body["systemInstruction"]["parts"] == [{"text": "be brief\n\nalso this"}]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    config = body["generationConfig"]
    assert {k: config[k] for k in ("temperature", "topP", "maxOutputTokens", "stopSequences", "seed")} == {
        "temperature": 0.2, "topP": 0.9, "maxOutputTokens": 77, "stopSequences": ["END"], "seed": 5}
    # the OpenAPI response_schema, converted by the SDK's own helper (additionalProperties is not a
    # Gemini API field: dropped outside Vertex AI)
    assert config["responseMimeType"] == "application/json" and "responseJsonSchema" not in config
    assert config["responseSchema"] == {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}}
    assert "thinkingConfig" not in config and "tools" not in body


async def test_plain_json_output_has_no_schema(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    await llm.complete(ask(response_format=ResponseFormat.JSON))
    config = sent(emu)["generationConfig"]
    assert config["responseMimeType"] == "application/json" and "responseJsonSchema" not in config


@pytest.mark.parametrize(("choice", "expected"), [
    (None, None),
    (ToolChoice.AUTO, {"mode": "AUTO"}),
    (ToolChoice.NONE, {"mode": "NONE"}),
    (ToolChoice.REQUIRED, {"mode": "ANY"}),
    (ToolChoice.tool("get_weather"), {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
])
async def test_tools_and_function_calling_config(llm: GoogleGenAIAdapter, emu: VendorEmulator,
                                                 choice: ToolChoice | None, expected: dict[str, Any] | None) -> None:
    await llm.complete(ask(tools=[WEATHER], tool_choice=choice))
    body = sent(emu)
    [declaration] = body["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "get_weather" and declaration["description"] == "Weather for a city"
    assert declaration["parameters_json_schema"] == dict(WEATHER.parameters)  # the JSON schema as is
    assert body.get("toolConfig", {}).get("functionCallingConfig") == expected


@pytest.mark.parametrize(("reasoning", "expected"), [
    (ReasoningConfig("high"), {"include_thoughts": True, "thinking_level": "HIGH"}),
    (ReasoningConfig(None, budget_tokens=2048), {"include_thoughts": True, "thinking_budget": 2048}),
    (ReasoningConfig("low", include_text=False), {"include_thoughts": False, "thinking_level": "LOW"}),
])
async def test_thinking_config(llm: GoogleGenAIAdapter, emu: VendorEmulator, reasoning: ReasoningConfig,
                               expected: dict[str, Any]) -> None:
    await llm.complete(ask(reasoning=reasoning))
    assert sent(emu)["generationConfig"]["thinkingConfig"] == expected


async def test_images_inline_data_url_and_file_uri(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    png = b"\x89PNG\r\n\x1a\n-image"
    data_url = "data:image/jpeg;base64," + base64.b64encode(b"jpeg-bytes").decode()
    await llm.complete(ask(Message.user("what is this?", ImagePart(data=png, media_type="image/png"),
                                        ImagePart(url=data_url), ImagePart(url="gs://bucket/cat.webp"),
                                        ImagePart(url="https://files.example/x", media_type="image/gif"))))
    parts = sent(emu)["contents"][0]["parts"]
    assert parts[0] == {"text": "what is this?"}
    assert parts[1]["inlineData"] == {"data": base64.b64encode(png).decode(), "mime_type": "image/png"}
    assert parts[2]["inlineData"] == {"data": base64.b64encode(b"jpeg-bytes").decode(), "mime_type": "image/jpeg"}
    assert parts[3]["fileData"] == {"file_uri": "gs://bucket/cat.webp", "mime_type": "image/webp"}
    assert parts[4]["fileData"] == {"file_uri": "https://files.example/x", "mime_type": "image/gif"}


async def test_bad_input_fails_before_any_request(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    with pytest.raises(InvalidRequest, match="media type"):
        await llm.complete(ask(Message.user("see", ImagePart(url="https://files.example/no-extension"))))
    with pytest.raises(InvalidRequest, match="base64"):
        await llm.complete(ask(Message.user("see", ImagePart(url="data:image/png;base64,@@@"))))
    call = ToolCallPart("c1", "get_weather", raw_arguments="not json")
    with pytest.raises(InvalidRequest, match="JSON object"):
        await llm.complete(ask(Message.user("hi"), Message.assistant(tool_calls=[call]),
                               Message.tool_result("c1", "x"), tools=[WEATHER]))
    with pytest.raises(InvalidRequest):
        await llm.count_tokens(ask(Message.user("see", ImagePart(url="https://files.example/no-extension"))))
    assert emu.journal.entries() == []


async def test_tool_round_trip_names_ids_and_grouping(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    history = [
        Message.user("Weather in Paris and Oslo?"),
        Message.assistant("Checking.", tool_calls=[
            ToolCallPart("api-id-1", "get_weather", {"city": "Paris"}),
            ToolCallPart(f"{SYNTHETIC_ID_PREFIX}abc_1", "get_weather", {"city": "Oslo"})]),
        Message.tool_result("api-id-1", "18C"),
        Message.tool_result(f"{SYNTHETIC_ID_PREFIX}abc_1", "boom", is_error=True),
    ]
    await llm.complete(ask(*history, tools=[WEATHER]))
    contents = sent(emu)["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]  # both results in one user turn
    assert contents[1]["parts"] == [
        {"text": "Checking."},
        {"functionCall": {"id": "api-id-1", "name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},  # a made-up id is not sent
    ]
    assert contents[2]["parts"] == [
        {"functionResponse": {"id": "api-id-1", "name": "get_weather", "response": {"output": "18C"}}},
        {"functionResponse": {"name": "get_weather", "response": {"error": "boom"}}},
    ]


async def test_tool_call_ids_are_synthesised_per_response(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    reply = Reply(tool_calls=(ScriptedToolCall("get_weather", {"city": "A"}),
                              ScriptedToolCall("get_weather", {"city": "B"})))
    emu.script(reply, reply)
    first = await llm.complete(ask(Message.user("one"), tools=[WEATHER]))
    second = await llm.complete(ask(Message.user("two"), tools=[WEATHER]))
    ids = [c.id for c in first.tool_calls + second.tool_calls]
    assert len(set(ids)) == 4 and all(i.startswith(SYNTHETIC_ID_PREFIX) for i in ids)
    assert first.tool_calls[0].id == f"{SYNTHETIC_ID_PREFIX}{first.response_id}_0"


async def test_thought_signature_round_trips_byte_for_byte(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    wire_signature = base64.b64encode(b"\x00opaque\xffsignature").decode()
    emu.script(Reply(text="42.", reasoning="Six sevens.", reasoning_signature=wire_signature,
                     usage=ScriptedUsage(5, 30, reasoning_tokens=20)))
    whole = await llm.complete(ask(reasoning=ReasoningConfig("low")))
    assert whole.reasoning == (ReasoningPart("Six sevens.", wire_signature, "google"),)
    assert (whole.usage.output_tokens, whole.usage.reasoning_tokens) == (30, 20)
    foreign = ReasoningPart("other vendor", "sig-x", "anthropic")
    follow = Message(whole.to_message().role, (foreign, *whole.to_message().parts))
    await llm.complete(ask(Message.user("q"), follow, Message.user("and doubled?")))
    model_turn = sent(emu)["contents"][1]
    assert model_turn["parts"] == [{"text": "Six sevens.", "thought": True, "thoughtSignature": wire_signature},
                                   {"text": "42."}]


async def test_bare_signature_travels_on_the_next_part(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    signature = base64.b64encode(b"call-signature").decode()
    turn = Message.assistant(tool_calls=[ToolCallPart("c1", "get_weather", {"city": "Rome"})],
                             reasoning=[ReasoningPart("", signature, "google")])
    await llm.complete(ask(Message.user("Rome?"), turn, Message.tool_result("c1", "20C"), tools=[WEATHER]))
    assert sent(emu)["contents"][1]["parts"] == [
        {"functionCall": {"id": "c1", "name": "get_weather", "args": {"city": "Rome"}}, "thoughtSignature": signature}]


# --- responses and quirks --------------------------------------------------------------------
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_prompt_block_is_a_content_filter_stop(llm: GoogleGenAIAdapter, emu: VendorEmulator,
                                                     streaming: bool) -> None:
    # One rule for every family: a filtered answer is a completion (with its usage), not an error.
    emu.script(Fault.http(200, "PROMPT_BLOCKED", "PROHIBITED_CONTENT"))
    if streaming:
        async with llm.stream(ask()) as events:
            completion = accumulate([e async for e in events])
    else:
        completion = await llm.complete(ask())
    assert (completion.stop_reason.kind, completion.stop_reason.raw) == ("content_filter", "PROHIBITED_CONTENT")
    assert completion.parts == ()


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_filtered_answer_without_output_is_a_content_filter_stop(llm: GoogleGenAIAdapter,
                                                                       emu: VendorEmulator, streaming: bool) -> None:
    emu.script(Reply(stop="content_filter"))
    if streaming:
        async with llm.stream(ask()) as events:
            completion = accumulate([e async for e in events])
    else:
        completion = await llm.complete(ask())
    assert (completion.stop_reason.kind, completion.stop_reason.raw) == ("content_filter", "SAFETY")
    assert completion.text == "" and completion.usage.reported


async def test_filtered_answer_with_output_is_returned(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    emu.script(Reply(text="Here is part", stop="content_filter"))
    completion = await llm.complete(ask())
    assert completion.text == "Here is part"
    assert (completion.stop_reason.kind, completion.stop_reason.raw) == ("content_filter", "SAFETY")


async def test_vendor_error_quirks(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    emu.script(Fault.http(400, "API_KEY_INVALID"), Fault.rate_limited(retry_after_ms=2500), Fault.http(529),
               Fault.http(504))
    key = await _error(llm)
    assert isinstance(key, AuthenticationFailed) and key.status == 400 and key.vendor_code == "API_KEY_INVALID"
    assert KEY not in str(key) and KEY not in repr(key)
    limited = await _error(llm)
    assert isinstance(limited, RateLimited) and limited.retry_after == pytest.approx(2.5)
    assert limited.vendor_type == "RESOURCE_EXHAUSTED"
    overloaded = await _error(llm)
    assert isinstance(overloaded, Overloaded) and overloaded.status == 503
    deadline = await _error(llm)
    assert isinstance(deadline, Timeout) and deadline.status == 504


async def _error(llm: GoogleGenAIAdapter) -> Exception:
    with pytest.raises(Exception) as info:  # noqa: PT011 - each caller checks the exact class
        await llm.complete(ask())
    return info.value


async def test_attempt_timeout_is_the_sdk_request_timeout(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    await llm.complete(ask(attempt_timeout=2.5))
    assert emu.journal.last.headers["x-server-timeout"] == "3"  # the SDK's per-request timeout, rounded up
    await llm.complete(ask())
    assert emu.journal.last.headers["x-server-timeout"] == "5"  # the client's default


async def test_stream_reasoning_and_calls_fold_to_complete(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    reply = Reply(text="Let me check.", reasoning="I should call the tool twice.", chunk_size=5,
                  tool_calls=(ScriptedToolCall("get_weather", {"city": "A"}),
                              ScriptedToolCall("get_weather", {"city": "B"})),
                  usage=ScriptedUsage(40, 60, cached_input_tokens=10, reasoning_tokens=25))
    emu.script(reply, reply)
    req = ask(tools=[WEATHER], reasoning=ReasoningConfig("medium"))
    whole = await llm.complete(req)
    async with llm.stream(req) as events:
        streamed = accumulate([e async for e in events])
    assert streamed == whole  # ids included: synthesised from the same response id
    assert whole.stop_reason.kind == "tool_use" and len(whole.tool_calls) == 2


# --- count_tokens ----------------------------------------------------------------------------
async def test_count_tokens_gemini_api_counts_the_system_prompt_as_a_turn(llm: GoogleGenAIAdapter,
                                                                          emu: VendorEmulator) -> None:
    emu.script(Reply(usage=ScriptedUsage(input_tokens=17)))
    assert await llm.count_tokens(ask(system="You are terse.", tools=[WEATHER])) == 17
    entry = emu.journal.last
    assert entry.endpoint == "count_tokens"
    assert entry.body == {"contents": [{"role": "user", "parts": [{"text": "You are terse."}]},
                                       {"role": "user", "parts": [{"text": "hi"}]}]}


async def test_count_tokens_vertex_sends_system_and_tools(vertex: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    emu.script(Reply(usage=ScriptedUsage(input_tokens=23)))
    assert await vertex.count_tokens(ask(system="You are terse.", tools=[WEATHER])) == 23
    body = sent(emu)
    assert body["systemInstruction"]["parts"] == [{"text": "You are terse."}]
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert "/projects/p1/locations/us-central1/publishers/google/models/" in emu.journal.last.path


# --- composition -----------------------------------------------------------------------------
async def test_factory_builds_a_gemini_client_with_retries_off(emu: VendorEmulator) -> None:
    factory = factory_for("google")
    settings = provider_settings(kind="google", api_key=KEY, base_url=emu.url, timeout=3, max_connections=4,  # type: ignore[arg-type]
                                extra_headers={"x-team": "search"})
    client = factory.build_client("gem", settings)
    llm = factory.build_adapter("gem", client, settings)
    assert KEY not in repr(llm) and KEY not in repr(settings)
    emu.script(Fault.http(503), then=Reply(text="fine"))
    with pytest.raises(Exception):  # noqa: B017,PT011 - the class is not the point: one call, no retry
        await llm.complete(ask())
    assert (await llm.complete(ask())).text == "fine"
    entries = emu.journal.entries()
    assert len(entries) == 2 and entries[-1].headers["x-team"] == "search"
    await factory.close_client(client)


def test_factory_vertex_kind_needs_project_and_location(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    factory = factory_for("vertex")
    client = factory.build_client("vx", provider_settings(kind="vertex", project="proj", location="europe-west1"))
    assert client.vertexai and client._api_client.project == "proj"
    assert client._api_client.location == "europe-west1"
    express = factory.build_client("vx", provider_settings(kind="vertex", api_key="vertex-express-key"))  # type: ignore[arg-type]
    assert express.vertexai
    with pytest.raises(ValueError, match="needs a location"):
        factory.build_client("vx", provider_settings(kind="vertex", project="proj"))
    with pytest.raises(ProviderProblem, match="no API key"):
        factory.build_client("gem", provider_settings(kind="google"))


def test_http_options_turn_retries_off_and_pick_httpx2() -> None:
    options = http_options(timeout=2.5)
    assert options.retry_options == types.HttpRetryOptions(attempts=1)
    assert options.timeout == 2500
    transport = (options.async_client_args or {})["transport"]
    assert isinstance(transport, httpx2.AsyncHTTPTransport)  # aiohttp is never chosen behind our back
    client = genai.Client(api_key=KEY, http_options=options)
    http = client._api_client._async_httpx_client
    assert http is not None and http._transport is transport


async def test_turns_left_empty_are_dropped(llm: GoogleGenAIAdapter, emu: VendorEmulator) -> None:
    turn = Message.assistant(reasoning=[ReasoningPart("from another vendor", "sig", "openai")])
    await llm.complete(ask(Message.user("a"), turn, Message.user("b")))
    assert [c["role"] for c in sent(emu)["contents"]] == ["user", "user"]
    with pytest.raises(InvalidRequest):
        await llm.complete(ask(Message.user(TextPart(""))))


async def test_vertex_credentials_failing_on_the_first_request_are_authentication_failures(
        emu: VendorEmulator, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The Vertex client resolves application default credentials lazily, on its first request.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    client = genai.Client(vertexai=True, project="proj", location="us-central1",
                          http_options=http_options(base_url=emu.url, timeout=5))
    adapter = GoogleGenAIAdapter(client, provider="vertex")
    req = CompletionRequest("gemini-test", [Message.user("x")])
    try:
        with pytest.raises(AuthenticationFailed, match="DefaultCredentialsError") as info:
            await adapter.complete(req)
        assert info.value.provider == "vertex"
        with pytest.raises(AuthenticationFailed):
            async with adapter.stream(req) as events:
                async for _ in events:
                    pass
        with pytest.raises(AuthenticationFailed):
            await adapter.count_tokens(req)
        assert emu.journal.entries() == []
    finally:
        await adapter.aclose()
