"""The emulator's Bedrock Converse wire, through raw boto3 (retries off): objects and exceptions
exactly as boto3 produces them from the real service."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
import urllib3.exceptions
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch
from botocore.exceptions import ClientError, ConnectionClosedError, EventStreamError, ReadTimeoutError

from llmport.adapters.testing.emulator import Fault, Reply, ScriptedToolCall, ScriptedUsage, VendorEmulator

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hello there"}]}]


@pytest.fixture
def brt(emu: VendorEmulator) -> Any:
    client = boto3.session.Session(
        aws_access_key_id="AKIAEXAMPLEEXAMPLE12", aws_secret_access_key="testing", region_name="us-east-1",
    ).client("bedrock-runtime", endpoint_url=emu.url,
             config=Config(retries={"total_max_attempts": 1}, read_timeout=0.5, connect_timeout=1.0))
    yield client
    client.close()


def stream_events(brt: Any, **kw: Any) -> list[dict[str, Any]]:
    return list(brt.converse_stream(modelId=MODEL, messages=MESSAGES, **kw)["stream"])


def test_converse_text_usage_and_metrics(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Reply(text="Hi!", usage=ScriptedUsage(12, 3)), vendor="bedrock")
    r = brt.converse(modelId=MODEL, messages=MESSAGES, system=[{"text": "be brief"}])
    assert r["output"] == {"message": {"role": "assistant", "content": [{"text": "Hi!"}]}}
    assert r["stopReason"] == "end_turn"
    assert r["usage"] == {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15}
    assert r["metrics"]["latencyMs"] >= 0
    entry = emu.journal.last
    assert (entry.vendor, entry.endpoint, entry.model, entry.stream) == ("bedrock", "converse", MODEL, False)
    assert entry.body["system"] == [{"text": "be brief"}]
    assert entry.headers["authorization"].startswith("AWS4-HMAC-SHA256")
    assert "AKIAEXAMPLEEXAMPLE12" not in str(entry.headers)
    assert r["ResponseMetadata"]["RequestId"]


def test_default_answer_estimates_usage(brt: Any, emu: VendorEmulator) -> None:
    r = brt.converse(modelId=MODEL, messages=MESSAGES)
    assert "hello there" in r["output"]["message"]["content"][0]["text"]
    assert r["usage"]["inputTokens"] >= 1 and r["usage"]["outputTokens"] >= 1


def test_cache_usage_splits_input(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Reply(text="ok", usage=ScriptedUsage(100, 5, cached_input_tokens=60, cache_write_tokens=10)),
               vendor="bedrock")
    usage = brt.converse(modelId=MODEL, messages=MESSAGES)["usage"]
    assert usage == {"inputTokens": 30, "outputTokens": 5, "totalTokens": 105, "cacheReadInputTokens": 60,
                     "cacheWriteInputTokens": 10}


def test_tool_use_and_reasoning_blocks(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Reply(text="calling", reasoning="let me think", reasoning_signature="sig==",
                     tool_calls=(ScriptedToolCall("get_weather", {"city": "Paris"}, id="tooluse_1"),)),
               vendor="bedrock")
    r = brt.converse(modelId=MODEL, messages=MESSAGES)
    assert r["output"]["message"]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "let me think", "signature": "sig=="}}},
        {"text": "calling"},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
    ]
    assert r["stopReason"] == "tool_use"


@pytest.mark.parametrize(("stop", "wire"), [("max_tokens", "max_tokens"), ("stop_sequence", "stop_sequence"),
                                            ("content_filter", "content_filtered"), ("end_turn", "end_turn")])
def test_stop_reasons(brt: Any, emu: VendorEmulator, stop: Any, wire: str) -> None:
    emu.script(Reply(text="x", stop=stop), Reply(text="x", stop=stop), vendor="bedrock")
    assert brt.converse(modelId=MODEL, messages=MESSAGES)["stopReason"] == wire
    assert stream_events(brt)[-2] == {"messageStop": {"stopReason": wire}}


def test_stream_event_sequence(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Reply(text="Hello world", chunk_size=5, reasoning="hmm", reasoning_signature="s",
                     tool_calls=(ScriptedToolCall("f", {"a": 1}, id="tooluse_9"),), usage=ScriptedUsage(7, 4)),
               vendor="bedrock")
    events = stream_events(brt)
    assert events == [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"reasoningContent": {"text": "hmm"}}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"reasoningContent": {"signature": "s"}}, "contentBlockIndex": 0}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": "Hello"}, "contentBlockIndex": 1}},
        {"contentBlockDelta": {"delta": {"text": " worl"}, "contentBlockIndex": 1}},
        {"contentBlockDelta": {"delta": {"text": "d"}, "contentBlockIndex": 1}},
        {"contentBlockStop": {"contentBlockIndex": 1}},
        {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "tooluse_9", "name": "f"}}, "contentBlockIndex": 2}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"a":'}}, "contentBlockIndex": 2}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": ' 1}'}}, "contentBlockIndex": 2}},
        {"contentBlockStop": {"contentBlockIndex": 2}},
        {"messageStop": {"stopReason": "tool_use"}},
        {"metadata": {"usage": {"inputTokens": 7, "outputTokens": 4, "totalTokens": 11}, "metrics": {"latencyMs": 1}}},
    ]
    entry = emu.journal.last
    assert (entry.endpoint, entry.stream, entry.ended) == ("converse_stream", True, "complete")


def test_generated_tool_ids_match_between_converse_and_stream(brt: Any, emu: VendorEmulator) -> None:
    reply = Reply(tool_calls=(ScriptedToolCall("f", {"a": 1}),))
    emu.script(reply, reply, vendor="bedrock")
    whole = brt.converse(modelId=MODEL, messages=MESSAGES)["output"]["message"]["content"][0]["toolUse"]["toolUseId"]
    start = next(e for e in stream_events(brt) if "contentBlockStart" in e)
    assert whole.startswith("tooluse_")
    assert start["contentBlockStart"]["start"]["toolUse"]["toolUseId"] == whole


def test_count_tokens(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Reply(usage=ScriptedUsage(input_tokens=321)), vendor="bedrock")
    r = brt.count_tokens(modelId=MODEL, input={"converse": {"messages": MESSAGES}})
    assert r["inputTokens"] == 321
    assert emu.journal.last.endpoint == "count_tokens"
    estimated = brt.count_tokens(modelId=MODEL, input={"converse": {"messages": MESSAGES,
                                                                      "system": [{"text": "x" * 400}]}})
    assert estimated["inputTokens"] >= 100


def test_model_ids_with_colons_and_arns_route(brt: Any, emu: VendorEmulator) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
    brt.converse(modelId=arn, messages=MESSAGES)
    assert emu.journal.last.model == arn


@pytest.mark.parametrize(("status", "code"), [
    (400, "ValidationException"), (401, "UnrecognizedClientException"), (403, "AccessDeniedException"),
    (404, "ResourceNotFoundException"), (408, "ModelTimeoutException"), (429, "ThrottlingException"),
    (500, "InternalServerException"), (503, "ServiceUnavailableException"), (424, "ModelErrorException"),
])
def test_http_errors(brt: Any, emu: VendorEmulator, status: int, code: str) -> None:
    emu.script(Fault.http(status), Fault.http(status), vendor="bedrock")
    for call in (lambda: brt.converse(modelId=MODEL, messages=MESSAGES),
                 lambda: brt.converse_stream(modelId=MODEL, messages=MESSAGES)):
        with pytest.raises(ClientError) as caught:
            call()
        error = caught.value.response
        assert error["Error"]["Code"] == code
        assert error["Error"]["Message"]
        assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert len(emu.journal.entries(vendor="bedrock")) == 2  # retries off: one request each


def test_model_not_ready_and_throttling_with_retry_after(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Fault.http(429, "ModelNotReadyException"), Fault.rate_limited(2.5), vendor="bedrock")
    with pytest.raises(ClientError) as caught:
        brt.converse(modelId=MODEL, messages=MESSAGES)
    assert caught.value.response["Error"]["Code"] == "ModelNotReadyException"
    with pytest.raises(ClientError) as caught:
        brt.converse(modelId=MODEL, messages=MESSAGES)
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "2.5"


def test_context_length_is_a_validation_exception(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Fault.context_length(), vendor="bedrock")
    with pytest.raises(ClientError) as caught:
        brt.converse(modelId=MODEL, messages=MESSAGES)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "context length" in caught.value.response["Error"]["Message"]


def test_invalid_conversation_is_rejected(brt: Any, emu: VendorEmulator) -> None:
    with pytest.raises(ClientError) as caught:
        brt.converse(modelId=MODEL, messages=[{"role": "assistant", "content": [{"text": "x"}]}])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError, match="alternate"):
        brt.converse(modelId=MODEL, messages=MESSAGES + MESSAGES)
    tool_turns = [*MESSAGES, {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": "f",
                                                                          "input": {}}}]}]
    with pytest.raises(ClientError, match="toolConfig"):
        brt.converse(modelId=MODEL, messages=tool_turns)
    assert emu.journal.last.ended == "invalid"


def test_hang_times_out(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Fault.hang(), vendor="bedrock")
    with pytest.raises(ReadTimeoutError):
        brt.converse(modelId=MODEL, messages=MESSAGES)
    emu.journal.wait_disconnected(emu.journal.last)


def test_reset_before_answer(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Fault.reset(), vendor="bedrock")
    with pytest.raises(ConnectionClosedError):
        brt.converse(modelId=MODEL, messages=MESSAGES)


def test_cut_mid_stream(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Fault.cut(3, reply=Reply(text="abcdefghijklmnop", chunk_size=4)), vendor="bedrock")
    seen: list[dict[str, Any]] = []
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for event in brt.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]:
            seen.append(event)
    assert [e["contentBlockDelta"]["delta"]["text"] for e in seen[1:]] == ["abcd", "efgh"]


def test_malformed_frame(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Fault.malformed(2), vendor="bedrock")
    with pytest.raises(ChecksumMismatch):
        stream_events(brt)


@pytest.mark.parametrize(("given", "code"), [
    (None, "modelStreamErrorException"), ("throttlingException", "throttlingException"),
    ("ServiceUnavailableException", "serviceUnavailableException"), ("validationException", "validationException"),
    ("internalServerException", "internalServerException"), ("overloaded_error", "modelStreamErrorException"),
])
def test_in_stream_exceptions(brt: Any, emu: VendorEmulator, given: str | None, code: str) -> None:
    emu.script(Fault.stream_error(2, given, "boom"), vendor="bedrock")
    seen: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as caught:
        for event in brt.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]:
            seen.append(event)
    assert caught.value.response["Error"] == {"Code": code, "Message": "boom"}
    assert len(seen) == 2


def test_closing_the_stream_disconnects(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Reply(text="x" * 200, chunk_size=2, chunk_delay=0.05), vendor="bedrock")
    stream = brt.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]
    iterator = iter(stream)
    next(iterator)
    next(iterator)
    stream.close()
    entry = emu.journal.last
    emu.journal.wait_disconnected(entry)
    emu.journal.wait_closed(entry)
    assert entry.ended == "disconnected"
    assert entry.frames_sent < 100


def test_close_from_another_thread_ends_a_blocked_read(brt: Any, emu: VendorEmulator) -> None:
    emu.script(Reply(text="x" * 20, chunk_size=2, chunk_delay=5.0), vendor="bedrock")
    stream = brt.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.extend(stream)
        except Exception as exc:  # the "arbitrary urllib3 error" an adapter must swallow
            outcome.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    emu.journal.wait_for(lambda j: j.last.frames_sent >= 1)
    stream._raw_stream.connection.sock.shutdown(2)
    stream.close()
    reader.join(2.0)
    assert not reader.is_alive()
    emu.journal.wait_disconnected(emu.journal.last)
