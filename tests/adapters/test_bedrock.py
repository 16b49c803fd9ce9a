"""Bedrock-only behaviour of ``BedrockConverseAdapter``: the Converse request as it reaches the wire,
the bounded thread pool, cancellation of the pump thread, and the composition factory."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmport.adapters.bedrock import BedrockConverseAdapter
from llmport.adapters.testing.emulator import Fault, Reply, ScriptedUsage, VendorEmulator
from llmport.composition.factories import bedrock as factory
from llmport.composition.families import provider_settings
from llmport.domain import (
    AuthenticationFailed,
    CachePolicy,
    CompletionRequest,
    ImagePart,
    InvalidRequest,
    Message,
    ProviderUnavailable,
    RateLimited,
    ReasoningConfig,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    Timeout,
    ToolCallPart,
    ToolChoice,
    ToolSpec,
)
from tests.contract.harness_bedrock import MODEL, bedrock_client

WEATHER = ToolSpec("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}})
PNG = b"\x89PNG\r\n\x1a\nfake"


@pytest.fixture
async def llm(emu: VendorEmulator) -> AsyncIterator[BedrockConverseAdapter]:
    adapter = BedrockConverseAdapter(bedrock_client(emu.url), max_workers=4,
                                     additional_model_request_fields={"top_k": 40})
    yield adapter
    await adapter.aclose()


def sent(emu: VendorEmulator) -> dict[str, Any]:
    body = emu.journal.entries(vendor="bedrock")[-1].body
    assert isinstance(body, dict)
    return body


async def test_request_mapping(llm: BedrockConverseAdapter, emu: VendorEmulator) -> None:
    req = CompletionRequest(
        MODEL, [Message(role="system", parts=(TextPart("Also be kind."),)), Message.user("Weather?")],
        system="Be brief.", tools=[WEATHER], tool_choice=ToolChoice.tool("get_weather"), temperature=0.3, top_p=0.9,
        max_tokens=77, stop=["END"], metadata={"tenant": "t1"}, seed=7,
    )
    await llm.complete(req)
    body = sent(emu)
    assert body["system"] == [{"text": "Be brief.\n\nAlso be kind."}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "Weather?"}]}]
    assert body["inferenceConfig"] == {"maxTokens": 77, "temperature": 0.3, "topP": 0.9, "stopSequences": ["END"]}
    assert body["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather for a city",
                                "inputSchema": {"json": dict(WEATHER.parameters)}}}],
        "toolChoice": {"tool": {"name": "get_weather"}},
    }
    assert body["additionalModelRequestFields"] == {"top_k": 40}
    assert body["requestMetadata"] == {"tenant": "t1"}
    assert "seed" not in json.dumps(body)


@pytest.mark.parametrize(("choice", "wire"), [(ToolChoice.AUTO, {"auto": {}}), (ToolChoice.REQUIRED, {"any": {}})])
async def test_tool_choices(llm: BedrockConverseAdapter, emu: VendorEmulator, choice: ToolChoice,
                            wire: dict[str, Any]) -> None:
    await llm.complete(CompletionRequest(MODEL, [Message.user("x")], tools=[WEATHER], tool_choice=choice))
    assert sent(emu)["toolConfig"]["toolChoice"] == wire


async def test_tool_choice_none_sends_no_tools(llm: BedrockConverseAdapter, emu: VendorEmulator) -> None:
    await llm.complete(CompletionRequest(MODEL, [Message.user("x")], tools=[WEATHER], tool_choice=ToolChoice.NONE))
    assert "toolConfig" not in sent(emu)


async def test_tool_choice_none_with_tool_history_is_invalid_before_any_call(
        llm: BedrockConverseAdapter, emu: VendorEmulator) -> None:
    req = CompletionRequest(MODEL, tools=[WEATHER], tool_choice=ToolChoice.NONE, messages=[
        Message.user("x"), Message.assistant(tool_calls=[ToolCallPart("t1", "get_weather", {})]),
        Message.tool_result("t1", "sunny")])
    with pytest.raises(InvalidRequest, match="tool_choice"):
        await llm.complete(req)
    assert emu.journal.entries(vendor="bedrock") == []


async def test_tool_results_merge_into_one_user_turn(llm: BedrockConverseAdapter, emu: VendorEmulator) -> None:
    req = CompletionRequest(MODEL, tools=[WEATHER], messages=[
        Message.user("Paris and Oslo?"),
        Message.assistant("Checking.", tool_calls=[ToolCallPart("t1", "get_weather", {"city": "Paris"}),
                                                   ToolCallPart("t2", "get_weather", {}, raw_arguments="[1, 2]")]),
        Message.tool_result("t1", "18C"),
        Message.tool_result("t2", "no such city", is_error=True),
        Message.user("Thanks"),
    ])
    await llm.complete(req)
    messages = sent(emu)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == [
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "t2", "name": "get_weather", "input": [1, 2]}},  # passed back as sent
    ]
    assert messages[2]["content"] == [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "18C"}]}},
        {"toolResult": {"toolUseId": "t2", "content": [{"text": "no such city"}], "status": "error"}},
        {"text": "Thanks"},
    ]


async def test_images(llm: BedrockConverseAdapter, emu: VendorEmulator) -> None:
    data_url = "data:image/jpeg;base64," + base64.b64encode(b"jpegbytes").decode()
    await llm.complete(CompletionRequest(MODEL, [Message.user(
        "what?", ImagePart(data=PNG, media_type="image/png"), ImagePart(url=data_url),
        ImagePart(url="s3://bucket/cat.webp"))]))
    content = sent(emu)["messages"][0]["content"]
    assert content[1] == {"image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}}
    assert content[2] == {"image": {"format": "jpeg", "source": {"bytes": base64.b64encode(b"jpegbytes").decode()}}}
    assert content[3] == {"image": {"format": "webp", "source": {"s3Location": {"uri": "s3://bucket/cat.webp"}}}}


@pytest.mark.parametrize("image", [ImagePart(url="https://example.com/cat.png"),
                                   ImagePart(data=b"x", media_type="image/tiff")])
async def test_unsupported_images_are_invalid_before_any_call(llm: BedrockConverseAdapter, emu: VendorEmulator,
                                                              image: ImagePart) -> None:
    with pytest.raises(InvalidRequest):
        await llm.complete(CompletionRequest(MODEL, [Message.user("what?", image)]))
    assert emu.journal.entries(vendor="bedrock") == []


async def test_reasoning_request_and_history(llm: BedrockConverseAdapter, emu: VendorEmulator) -> None:
    req = CompletionRequest(MODEL, reasoning=ReasoningConfig(budget_tokens=2000), max_tokens=5000, messages=[
        Message.user("q"),
        Message.assistant("a", reasoning=[ReasoningPart("mine", "sig-b", "bedrock"),
                                          ReasoningPart("theirs", "sig-o", "openai"),
                                          ReasoningPart("", base64.b64encode(b"secret").decode(), "bedrock",
                                                        redacted=True)]),
        Message.user("and?"),
    ])
    await llm.complete(req)
    body = sent(emu)
    assert body["additionalModelRequestFields"] == {"top_k": 40,
                                                    "thinking": {"type": "enabled", "budget_tokens": 2000}}
    assert body["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "mine", "signature": "sig-b"}}},
        {"reasoningContent": {"redactedContent": base64.b64encode(b"secret").decode()}},
        {"text": "a"},
    ]


async def test_prompt_cache_points_and_json_schema(llm: BedrockConverseAdapter, emu: VendorEmulator) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    await llm.complete(CompletionRequest(MODEL, [Message.user("one"), Message.assistant("two"), Message.user("3")],
                                         system="sys", tools=[WEATHER], cache=CachePolicy(prompt_cache="auto"),
                                         response_format=ResponseFormat.json_schema(schema, name="num")))
    body = sent(emu)
    point = {"cachePoint": {"type": "default"}}
    assert body["system"][-1] == point and body["toolConfig"]["tools"][-1] == point
    assert body["messages"][-1]["content"] == [{"text": "3"}, point]
    assert point not in body["messages"][0]["content"]
    text_format = body["outputConfig"]["textFormat"]
    assert text_format["type"] == "json_schema"
    # closed objects: Bedrock's structured output takes nothing else (adapters.strict_schema)
    assert json.loads(text_format["structure"]["jsonSchema"]["schema"]) == {**schema, "additionalProperties": False}


def test_automatic_cache_points_need_a_user_turn() -> None:
    """No user turn: automatic caching marks no message (only the last user turn gets a point)."""
    adapter = BedrockConverseAdapter(object())
    request = CompletionRequest(MODEL, [Message.assistant("only")], cache=CachePolicy(prompt_cache="auto"))
    assert adapter._params(request)["messages"] == [{"role": "assistant", "content": [{"text": "only"}]}]


async def test_empty_assistant_turn_is_dropped(llm: BedrockConverseAdapter, emu: VendorEmulator) -> None:
    await llm.complete(CompletionRequest(MODEL, [Message.user("a"), Message(role="assistant", parts=(TextPart(""),)),
                                                     Message.user("b")]))
    assert sent(emu)["messages"] == [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]


async def test_count_tokens_falls_back_to_an_estimate_where_unsupported(
        llm: BedrockConverseAdapter, emu: VendorEmulator) -> None:
    emu.script(Fault.http(400, "ValidationException", "The provided model doesn't support counting tokens."),
               vendor="bedrock")
    req = CompletionRequest(MODEL, [Message.user("word " * 100)])
    first = await llm.count_tokens(req)
    assert first >= 100
    assert await llm.count_tokens(req) == first
    assert len(emu.journal.entries(vendor="bedrock", endpoint="count_tokens")) == 1  # remembered


async def test_stream_stall_beyond_attempt_timeout(llm: BedrockConverseAdapter, emu: VendorEmulator) -> None:
    emu.script(Reply(text="abcdefgh" * 4, chunk_size=4, chunk_delay=3.0), vendor="bedrock")
    started = time.perf_counter()
    with pytest.raises(Timeout):
        async with llm.stream(CompletionRequest(MODEL, [Message.user("x")], attempt_timeout=0.3)) as events:
            async for _ in events:
                pass
    assert time.perf_counter() - started < 2.5  # not the next frame, the timeout ended it
    await emu.journal.await_closed(emu.journal.entries(vendor="bedrock")[-1])


async def test_cancelled_pump_thread_ends_quietly_and_frees_its_slot(emu: VendorEmulator) -> None:
    errors: list[Any] = []
    previous = threading.excepthook
    threading.excepthook = errors.append
    adapter = BedrockConverseAdapter(bedrock_client(emu.url), max_workers=1)
    try:
        emu.script(Reply(text="x" * 400, chunk_size=2, chunk_delay=0.5), vendor="bedrock")
        started = asyncio.Event()

        async def consume() -> None:
            async with adapter.stream(CompletionRequest(MODEL, [Message.user("x")])) as events:
                async for _ in events:
                    started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await emu.journal.await_closed(emu.journal.entries(vendor="bedrock")[0])
        # the only worker is free again: the pump thread really finished
        completion = await asyncio.wait_for(adapter.complete(CompletionRequest(MODEL, [Message.user("y")])), 2)
        assert completion.text
    finally:
        await adapter.aclose()
        threading.excepthook = previous
    assert errors == []


async def test_aclose_closes_open_streams(emu: VendorEmulator) -> None:
    adapter = BedrockConverseAdapter(bedrock_client(emu.url), max_workers=2)
    emu.script(Reply(text="x" * 400, chunk_size=2, chunk_delay=0.2), vendor="bedrock")
    stream = adapter.stream(CompletionRequest(MODEL, [Message.user("x")]))
    await stream.__anext__()
    await adapter.aclose()
    await emu.journal.await_closed(emu.journal.entries(vendor="bedrock")[0])
    with pytest.raises(ProviderUnavailable, match="closed"):
        await adapter.complete(CompletionRequest(MODEL, [Message.user("x")]))
    with pytest.raises(ProviderUnavailable, match="closed"):
        async with adapter.stream(CompletionRequest(MODEL, [Message.user("x")])) as events:
            await asyncio.wait_for(events.__anext__(), 2)
    await stream.aclose()


async def test_aclose_fails_queued_calls_without_cancelling_their_callers(emu: VendorEmulator) -> None:
    adapter = BedrockConverseAdapter(bedrock_client(emu.url), max_workers=1)
    emu.script(Reply(text="slow", latency=0.3), then=Reply(text="never"), vendor="bedrock")
    req = CompletionRequest(MODEL, [Message.user("x")])
    calls = [asyncio.create_task(adapter.complete(req)) for _ in range(3)]
    await emu.journal.await_for(lambda j: len(j.entries(vendor="bedrock")) == 1)
    await adapter.aclose()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert not any(isinstance(r, asyncio.CancelledError) for r in results)
    assert all(isinstance(r, ProviderUnavailable) for r in results[1:]), results


async def test_a_thousand_concurrent_callers(emu: VendorEmulator) -> None:
    workers = 8
    adapter = BedrockConverseAdapter(bedrock_client(emu.url, pool=workers), max_workers=workers)
    emu.script(then=Reply(text="ok", latency=0.01, usage=ScriptedUsage(1, 1)), vendor="bedrock")
    before = threading.active_count()
    peak = before
    lags: list[float] = []
    done = False

    async def ticker() -> None:
        nonlocal peak
        while not done:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - start - 0.005)
            peak = max(peak, threading.active_count())

    tick = asyncio.create_task(ticker())
    try:
        results = await asyncio.gather(*(adapter.complete(CompletionRequest(MODEL, [Message.user(f"n{i}")]))
                                         for i in range(1000)))
    finally:
        done = True
        await tick
        await adapter.aclose()
    assert all(r.text == "ok" for r in results)
    assert len(emu.journal.entries(vendor="bedrock")) == 1000
    assert peak <= before + workers + 2
    lags.sort()
    print(f"\n1000 callers: peak threads +{peak - before}, loop lag p50 {lags[len(lags) // 2] * 1000:.2f} ms, "
          f"max {lags[-1] * 1000:.1f} ms over {len(lags)} ticks")
    assert len(lags) > 10 and lags[len(lags) // 2] < 0.1  # the loop kept turning while 1000 calls were queued


def settings(emu: VendorEmulator, **kw: Any) -> Any:
    return provider_settings(kind="bedrock", base_url=emu.url, region="eu-west-1",
                            aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="wJalrXUtnFEMI/K7MDENG",
                            timeout=5, max_workers=3, **kw)


async def test_factory_client_never_retries_even_when_the_environment_asks(
        emu: VendorEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    s = settings(emu, additional_model_request_fields={"top_k": 5})
    client = factory.build_client("aws", s)
    adapter = factory.build_adapter("aws", client, s)
    try:
        emu.script(Fault.http(503), Fault.http(429), vendor="bedrock")
        with pytest.raises(ProviderUnavailable) as info:
            await adapter.complete(CompletionRequest(MODEL, [Message.user("x")]))
        assert info.value.provider == "aws"
        with pytest.raises(RateLimited):
            await adapter.complete(CompletionRequest(MODEL, [Message.user("x")]))
        assert len(emu.journal.entries(vendor="bedrock")) == 2
        assert sent(emu)["additionalModelRequestFields"] == {"top_k": 5}
        assert client.meta.region_name == "eu-west-1"
        assert client.meta.config.max_pool_connections == 3
        assert client.meta.config.read_timeout == 5
        for text in (repr(adapter), repr(client), str(emu.journal.last.headers)):
            assert "AKIAIOSFODNN7EXAMPLE" not in text and "wJalrXUtnFEMI" not in text
    finally:
        await adapter.aclose()


def test_factory_uses_a_named_profile(emu: VendorEmulator, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[profile llmport-test]\nregion = ap-south-1\n"
                      "aws_access_key_id = AKIAPROFILEEXAMPLE12\naws_secret_access_key = profile-secret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    client = factory.build_client("aws", provider_settings(kind="bedrock", profile="llmport-test", base_url=emu.url))
    try:
        assert client.meta.region_name == "ap-south-1"
        client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}])
        assert "Credential=[REDACTED]" in emu.journal.last.headers["authorization"]
    finally:
        asyncio.run(factory.close_client(client))


async def test_redacted_reasoning_with_a_broken_signature_is_an_invalid_request(
        llm: BedrockConverseAdapter, emu: VendorEmulator) -> None:
    broken = ReasoningPart("", "not base64!", "bedrock", redacted=True)
    req = CompletionRequest(MODEL, [Message.user("a"), Message.assistant("b", reasoning=[broken]), Message.user("c")])
    with pytest.raises(InvalidRequest, match="base64"):
        await llm.complete(req)
    assert emu.journal.entries(vendor="bedrock") == []


# First call hands out credentials that are already expired; every refresh then fails, as an
# expired SSO session or a broken credential_process does in the middle of a deployment's life.
_EXPIRING_CREDENTIALS = """#!/bin/sh
if [ -e "$0.used" ]; then echo "refresh failed" >&2; exit 1; fi
touch "$0.used"
echo '{"Version": 1, "AccessKeyId": "AKIAPROCESSEXAMPLE12", "SecretAccessKey": "process-secret-value",
 "Expiration": "2000-01-01T00:00:00Z"}'
"""


async def test_credentials_failing_at_call_time_are_authentication_failures(
        emu: VendorEmulator, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "creds.sh"
    script.write_text(_EXPIRING_CREDENTIALS)
    script.chmod(0o755)
    config = tmp_path / "config"
    config.write_text(f"[profile refreshing]\nregion = eu-west-1\ncredential_process = {script}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    s = provider_settings(kind="bedrock", profile="refreshing", base_url=emu.url, timeout=5)
    adapter = factory.build_adapter("aws", factory.build_client("aws", s), s)
    try:
        req = CompletionRequest(MODEL, [Message.user("x")])
        with pytest.raises(AuthenticationFailed, match="CredentialRetrievalError") as info:
            await adapter.complete(req)
        assert info.value.provider == "aws"
        with pytest.raises(AuthenticationFailed):
            async with adapter.stream(req) as events:
                async for _ in events:
                    pass
        assert emu.journal.entries(vendor="bedrock") == []
    finally:
        await adapter.aclose()


async def _stuck_before_send(emu: VendorEmulator) -> tuple[BedrockConverseAdapter, threading.Event]:
    """An adapter whose client blocks before its request goes out (a hook on the real client),
    where the SDK's read timeout cannot help, until the event is set."""
    release = threading.Event()
    client = bedrock_client(emu.url)
    client.meta.events.register("before-send.bedrock-runtime", lambda **_: release.wait(30))
    return BedrockConverseAdapter(client, max_workers=2), release


async def test_a_call_stuck_before_sending_ends_at_the_backstop_as_a_timeout(emu: VendorEmulator) -> None:
    llm, release = await _stuck_before_send(emu)
    try:
        started = time.perf_counter()
        with pytest.raises(Timeout, match=r"attempt timeout of 0\.2s"):
            await llm.complete(CompletionRequest(MODEL, [Message.user("x")], attempt_timeout=0.2))
        assert time.perf_counter() - started >= 1.2  # the limit and the backstop's grace, not earlier
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]  # the alarm's cancel undone
    finally:
        release.set()
        await llm.aclose()


async def test_a_caller_cancelling_a_limited_call_gets_its_cancellation(emu: VendorEmulator) -> None:
    llm, release = await _stuck_before_send(emu)
    try:
        call = asyncio.ensure_future(llm.complete(CompletionRequest(MODEL, [Message.user("x")], attempt_timeout=5)))
        await asyncio.sleep(0.2)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert call.cancelled()
    finally:
        release.set()
        await llm.aclose()


async def test_a_limited_call_that_answers_leaves_no_alarm_behind(llm: BedrockConverseAdapter) -> None:
    for _ in range(3):
        answer = await llm.complete(CompletionRequest(MODEL, [Message.user("x")], attempt_timeout=5))
        assert answer.text
    alarms = llm._alarm_set
    assert alarms is not None and len(alarms) == 0
    await asyncio.sleep(0)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
