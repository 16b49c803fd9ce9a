"""The emulator's Gemini API / Vertex AI wire through the RAW ``google-genai`` SDK (retries off): the
objects it builds for every scenario, and its documented exception for every fault."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator
from llmport.adapters.testing.emulator.script import ScriptedToolCall, ScriptedUsage

MODEL = "gemini-wire-test"
KEY = "AIza-wire-secret-0123456789abcdef"


def options(url: str, **kw: Any) -> types.HttpOptions:
    return types.HttpOptions(base_url=url, retry_options=types.HttpRetryOptions(attempts=1), **kw)


@pytest.fixture
async def client(emu: VendorEmulator) -> AsyncIterator[genai.Client]:
    c = genai.Client(api_key=KEY, http_options=options(emu.url, timeout=5000))
    yield c
    await c.aio.aclose()


def vertex_client(emu: VendorEmulator) -> genai.Client:
    return genai.Client(vertexai=True, project="wire-project", location="europe-west4",
                        credentials=Credentials(token="ya29.wire-token"),  # type: ignore[no-untyped-call]
                        http_options=options(emu.url, timeout=5000))


async def generate(client: genai.Client, **config: Any) -> types.GenerateContentResponse:
    return await client.aio.models.generate_content(model=MODEL, contents="hi", config=config or None)  # type: ignore[arg-type]


async def chunks(client: genai.Client, **config: Any) -> list[types.GenerateContentResponse]:
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents="hi", config=config or None)  # type: ignore[arg-type]
    return [c async for c in stream]


def parts_of(response: types.GenerateContentResponse) -> list[types.Part]:
    assert response.candidates and response.candidates[0].content
    return response.candidates[0].content.parts or []


# --- answers ---------------------------------------------------------------------------------
async def test_text_reply_usage_and_journal(emu: VendorEmulator, client: genai.Client) -> None:
    emu.script(Reply(text="Hello there", usage=ScriptedUsage(100, 7, cached_input_tokens=30)))
    response = await generate(client, system_instruction="be brief", temperature=0.3)
    assert response.text == "Hello there"
    [candidate] = response.candidates or []
    assert candidate.finish_reason == types.FinishReason.STOP and candidate.content is not None
    assert candidate.content.role == "model"
    assert response.model_version == MODEL and response.response_id
    u = response.usage_metadata
    assert u is not None
    assert (u.prompt_token_count, u.candidates_token_count, u.cached_content_token_count, u.total_token_count) == (
        100, 7, 30, 107)
    entry = emu.journal.last
    assert (entry.vendor, entry.endpoint, entry.model, entry.stream) == ("google", "generate", MODEL, False)
    assert entry.path == f"/v1/models/{MODEL}:generateContent"
    assert entry.headers["x-goog-api-key"] == "[REDACTED]" and KEY not in json.dumps(entry.headers)
    assert entry.body["systemInstruction"]["parts"] == [{"text": "be brief"}]
    assert entry.body["generationConfig"]["temperature"] == 0.3


async def test_same_request_gets_the_same_response_id_streamed_or_not(emu: VendorEmulator,
                                                                       client: genai.Client) -> None:
    whole = await generate(client)
    streamed = await chunks(client)
    assert whole.response_id and {c.response_id for c in streamed} == {whole.response_id}


async def test_stream_chunks_in_order(emu: VendorEmulator, client: genai.Client) -> None:
    emu.script(Reply(text="abcdefghij", chunk_size=4, usage=ScriptedUsage(12, 3)))
    got = await chunks(client)
    assert [parts_of(c)[0].text for c in got] == ["abcd", "efgh", "ij"]
    assert [c.candidates[0].finish_reason for c in got] == [None, None, types.FinishReason.STOP]  # type: ignore[index]
    assert got[0].usage_metadata is not None and got[0].usage_metadata.prompt_token_count == 12
    final = got[-1].usage_metadata
    assert final is not None and (final.prompt_token_count, final.candidates_token_count) == (12, 3)
    entry = emu.journal.last
    assert entry.endpoint == "stream" and entry.stream and entry.query == {"alt": "sse"}
    assert entry.ended == "complete" and entry.frames_sent == 3


async def test_sse_frames_are_data_lines_ending_at_eof(emu: VendorEmulator) -> None:
    emu.script(Reply(text="abc", chunk_size=1))
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    async with httpx2.AsyncClient(base_url=emu.url) as http:
        r = await http.post(f"/v1beta/models/{MODEL}:streamGenerateContent", params={"alt": "sse"}, json=body,
                            headers={"x-goog-api-key": KEY})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in r.text.split("\r\n\r\n") if f]
    assert len(frames) == 3 and all(f.startswith("data: ") and "\n" not in f for f in frames)
    data = [json.loads(f.removeprefix("data: ")) for f in frames]
    assert [d["candidates"][0]["content"]["parts"] for d in data] == [[{"text": c}] for c in "abc"]
    assert data[-1]["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" in data[-1]


async def test_function_calls_whole_and_streamed(emu: VendorEmulator, client: genai.Client) -> None:
    reply = Reply(text="Checking.", tool_calls=(ScriptedToolCall("get_weather", {"city": "Paris"}),
                                                ScriptedToolCall("get_time", {"tz": "CET"})))
    emu.script(reply, reply)
    tools = [types.Tool(function_declarations=[types.FunctionDeclaration(name="get_weather"),
                                               types.FunctionDeclaration(name="get_time")])]
    config = {"tools": tools, "automatic_function_calling": {"disable": True}}
    response = await generate(client, **config)
    calls = response.function_calls or []
    assert [(c.name, c.args, c.id) for c in calls] == [("get_weather", {"city": "Paris"}, None),
                                                      ("get_time", {"tz": "CET"}, None)]
    assert response.candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    got = await chunks(client, **config)
    streamed = [p.function_call for c in got for p in parts_of(c) if p.function_call]
    assert [(c.name, c.args) for c in streamed] == [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]
    assert "functionDeclarations" in json.dumps(emu.journal.last.body)


async def test_thought_parts_and_signatures(emu: VendorEmulator, client: genai.Client) -> None:
    reply = Reply(text="42.", reasoning="Six times seven.", reasoning_signature="c2lnbmF0dXJl", chunk_size=4,
                  usage=ScriptedUsage(10, 20, reasoning_tokens=15))
    emu.script(reply, reply)
    response = await generate(client)
    thought, text = parts_of(response)
    assert (thought.thought, thought.text, thought.thought_signature) == (True, "Six times seven.", b"signature")
    assert (text.thought, text.text) == (None, "42.")
    u = response.usage_metadata
    assert u is not None and (u.candidates_token_count, u.thoughts_token_count, u.total_token_count) == (5, 15, 30)
    got = [parts_of(c)[0] for c in await chunks(client)]
    thoughts = [p for p in got if p.thought]
    assert "".join(p.text or "" for p in thoughts) == "Six times seven."
    assert [p.thought_signature for p in thoughts][-1] == b"signature"
    assert all(p.thought_signature is None for p in thoughts[:-1])


async def test_safety_block_has_no_content(emu: VendorEmulator, client: genai.Client) -> None:
    emu.script(Reply(stop="content_filter"))
    response = await generate(client)
    [candidate] = response.candidates or []
    assert candidate.finish_reason == types.FinishReason.SAFETY and candidate.content is None
    assert candidate.safety_ratings and candidate.safety_ratings[0].blocked


async def test_max_tokens_finish_reason(emu: VendorEmulator, client: genai.Client) -> None:
    emu.script(Reply(text="trunc", stop="max_tokens"))
    response = await generate(client, max_output_tokens=5)
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS  # type: ignore[index]
    assert emu.journal.last.body["generationConfig"]["maxOutputTokens"] == 5


async def test_count_tokens(emu: VendorEmulator, client: genai.Client) -> None:
    emu.script(Reply(usage=ScriptedUsage(input_tokens=42)))
    counted = await client.aio.models.count_tokens(model=MODEL, contents="how many tokens?")
    assert counted.total_tokens == 42
    entry = emu.journal.last
    assert (entry.endpoint, entry.path) == ("count_tokens", f"/v1/models/{MODEL}:countTokens")
    estimated = await client.aio.models.count_tokens(model=MODEL, contents="x" * 400)
    assert estimated.total_tokens == 100  # unscripted: ~4 characters a token


async def test_v1beta_paths(emu: VendorEmulator) -> None:
    c = genai.Client(api_key=KEY, http_options=options(emu.url, api_version="v1beta"))
    assert (await generate(c)).text
    assert [p.text for x in await chunks(c) for p in parts_of(x)]
    assert [e.path for e in emu.journal.entries()] == [f"/v1beta/models/{MODEL}:generateContent",
                                                       f"/v1beta/models/{MODEL}:streamGenerateContent"]
    await c.aio.aclose()


async def test_vertex_paths(emu: VendorEmulator) -> None:
    c = vertex_client(emu)
    emu.script(Reply(text="from vertex"), Reply(text="streamed"), Reply(usage=ScriptedUsage(input_tokens=9)))
    assert (await generate(c)).text == "from vertex"
    assert "".join(p.text or "" for x in await chunks(c) for p in parts_of(x)) == "streamed"
    assert (await c.aio.models.count_tokens(model=MODEL, contents="hi")).total_tokens == 9
    prefix = f"/v1beta1/projects/wire-project/locations/europe-west4/publishers/google/models/{MODEL}"
    assert [e.path for e in emu.journal.entries()] == [
        f"{prefix}:generateContent", f"{prefix}:streamGenerateContent", f"{prefix}:countTokens"]
    assert all(e.model == MODEL and e.headers["authorization"] == "[REDACTED]" for e in emu.journal.entries())
    await c.aio.aclose()


async def test_missing_credentials_and_bad_requests_are_rejected(emu: VendorEmulator) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    async with httpx2.AsyncClient(base_url=emu.url) as http:
        no_key = await http.post(f"/v1/models/{MODEL}:generateContent", json=body)
        empty = await http.post(f"/v1/models/{MODEL}:generateContent", json={"contents": []},
                                headers={"x-goog-api-key": KEY})
        bad_role = await http.post(f"/v1/models/{MODEL}:generateContent", headers={"x-goog-api-key": KEY},
                                   json={"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]})
    assert no_key.status_code == 403 and no_key.json()["error"]["status"] == "PERMISSION_DENIED"
    assert empty.status_code == 400 and "contents is not specified" in empty.json()["error"]["message"]
    assert bad_role.status_code == 400 and bad_role.json()["error"]["status"] == "INVALID_ARGUMENT"


# --- failures --------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "exc_type", "name"), [
    (400, errors.ClientError, "INVALID_ARGUMENT"),
    (401, errors.ClientError, "UNAUTHENTICATED"),
    (403, errors.ClientError, "PERMISSION_DENIED"),
    (404, errors.ClientError, "NOT_FOUND"),
    (429, errors.ClientError, "RESOURCE_EXHAUSTED"),
    (500, errors.ServerError, "INTERNAL"),
    (503, errors.ServerError, "UNAVAILABLE"),
    (504, errors.ServerError, "DEADLINE_EXCEEDED"),
])
@pytest.mark.parametrize("streaming", [False, True], ids=["generate", "stream"])
async def test_http_errors(emu: VendorEmulator, client: genai.Client, status: int, exc_type: type[Exception],
                           name: str, streaming: bool) -> None:
    emu.script(Fault.http(status))
    with pytest.raises(exc_type) as info:
        await (chunks(client) if streaming else generate(client))
    error = info.value
    assert isinstance(error, errors.APIError)
    assert (error.code, error.status) == (status, name) and error.message
    assert len(emu.journal.entries()) == 1  # retries off: asked once


async def test_rate_limit_says_when_in_retry_info(emu: VendorEmulator, client: genai.Client) -> None:
    emu.script(Fault.rate_limited(7), Fault.rate_limited(retry_after_ms=1500))
    for expected in ("7s", "1.5s"):
        with pytest.raises(errors.ClientError) as info:
            await generate(client)
        [detail] = info.value.details["error"]["details"]
        assert detail == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": expected}
        assert info.value.response is not None and "retry-after" not in info.value.response.headers


async def test_context_length_overload_and_invalid_key(emu: VendorEmulator, client: genai.Client) -> None:
    emu.script(Fault.context_length(), Fault.http(529), Fault.http(400, "API_KEY_INVALID"))
    with pytest.raises(errors.ClientError) as context:
        await generate(client)
    assert context.value.code == 400 and "exceeds the maximum number of tokens" in (context.value.message or "")
    with pytest.raises(errors.ServerError) as overloaded:
        await generate(client)
    assert overloaded.value.code == 503 and "overloaded" in (overloaded.value.message or "")
    with pytest.raises(errors.ClientError) as key:
        await generate(client)
    assert key.value.code == 400 and key.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


async def test_hang_times_out_with_the_transport_exception(emu: VendorEmulator) -> None:
    c = genai.Client(api_key=KEY, http_options=options(emu.url, timeout=200))
    emu.script(Fault.hang(), Fault.hang())
    with pytest.raises(httpx2.ReadTimeout):
        await generate(c)
    with pytest.raises(httpx2.ReadTimeout):
        await chunks(c)
    for entry in emu.journal.entries():
        await emu.journal.await_closed(entry)
    await c.aio.aclose()


async def test_reset_is_a_transport_error(emu: VendorEmulator, client: genai.Client) -> None:
    emu.script(Fault.reset(), Fault.reset())
    with pytest.raises(httpx2.TransportError):
        await generate(client)
    with pytest.raises(httpx2.TransportError):
        await chunks(client)
    assert len(emu.journal.entries()) == 2


async def test_cut_stream_raises_after_partial_output(emu: VendorEmulator, client: genai.Client) -> None:
    emu.script(Fault.cut(2, reply=Reply(text="abcdefghijkl", chunk_size=3)))
    got: list[str] = []
    with pytest.raises(httpx2.RemoteProtocolError):
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="hi")
        async for c in stream:
            got.append(parts_of(c)[0].text or "")
    assert got == ["abc", "def"]
    assert emu.journal.last.ended == "cut"


async def test_malformed_frame(emu: VendorEmulator, client: genai.Client) -> None:
    emu.script(Fault.malformed(1, reply=Reply(text="abcdef", chunk_size=2)))
    with pytest.raises(errors.UnknownApiResponseError):
        await chunks(client)


@pytest.mark.parametrize("after", [0, 2])
async def test_in_stream_errors(emu: VendorEmulator, client: genai.Client, after: int) -> None:
    reply = Reply(text="abcdefgh", chunk_size=2)
    emu.script(Fault.stream_error(after, reply=reply),
               Fault.stream_error(after, "context_length_exceeded", reply=reply))
    got: list[str] = []

    async def read() -> None:
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="hi")
        async for c in stream:
            got.append(parts_of(c)[0].text or "")

    with pytest.raises(errors.ServerError) as server:
        await read()
    assert (server.value.code, server.value.status) == (500, "INTERNAL")
    assert got == ["ab", "cd"][:after]
    with pytest.raises(errors.ClientError) as client_error:
        await read()
    assert client_error.value.code == 400 and "exceeds the maximum" in (client_error.value.message or "")


# --- cancellation and closing ----------------------------------------------------------------
async def test_cancelling_the_reader_disconnects(emu: VendorEmulator, client: genai.Client) -> None:
    emu.script(Reply(text="x" * 400, chunk_size=4, chunk_delay=0.02))
    first = asyncio.Event()

    async def read() -> None:
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="hi")
        async for _ in stream:
            first.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    entry = await emu.journal.await_disconnected(emu.journal.last)
    assert entry.ended == "disconnected" and entry.frames_sent < 100


async def test_closing_the_client_disconnects_an_abandoned_stream(emu: VendorEmulator) -> None:
    c = genai.Client(api_key=KEY, http_options=options(emu.url))
    emu.script(Reply(text="x" * 400, chunk_size=4, chunk_delay=0.02))
    stream = await c.aio.models.generate_content_stream(model=MODEL, contents="hi")
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    await c.aio.aclose()
    entry = await emu.journal.await_disconnected(emu.journal.last)
    assert entry.frames_sent < 100
