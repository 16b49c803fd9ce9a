from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from llmport.adapters.testing import FakeLLM, FakeReply
from llmport.domain import (
    CompletionRequest,
    Message,
    ProviderUnavailable,
    RateLimited,
    StreamEnd,
    StreamInterrupted,
    TextDelta,
    accumulate,
)
from llmport.ports import LLMPort

REQ = CompletionRequest(model="m", messages=[Message.user("hello there")])


async def test_fake_is_an_llm_port_and_answers_in_script_order() -> None:
    fake = FakeLLM("one", RateLimited("slow down", retry_after=2.0), default="again")
    assert isinstance(fake, LLMPort)
    assert (await fake.complete(REQ)).text == "one"
    with pytest.raises(RateLimited) as info:
        await fake.complete(REQ)
    assert info.value.retry_after == 2.0 and info.value.provider == "fake"
    assert (await fake.complete(REQ)).text == "again"
    assert fake.requests == [REQ, REQ, REQ]


async def test_streams_are_chunked_as_scripted_and_fold_to_the_completion() -> None:
    fake = FakeLLM(FakeReply("abcdefghij", chunk_size=3), FakeReply("abcdefghij"))
    async with fake.stream(REQ) as events:
        got = [e async for e in events]
    assert [e.text for e in got if isinstance(e, TextDelta)] == ["abc", "def", "ghi", "j"]
    assert isinstance(got[-1], StreamEnd)
    whole = await fake.complete(REQ)
    assert replace(accumulate(got), response_id=None) == replace(whole, response_id=None)


async def test_failure_after_output_is_stream_interrupted_with_the_partial() -> None:
    fake = FakeLLM(FakeReply("abcdefgh", chunk_size=2, error=RateLimited("late"), fail_after=2))
    seen = []
    with pytest.raises(StreamInterrupted) as info:
        async with fake.stream(REQ) as events:
            async for e in events:
                seen.append(e)
    assert info.value.partial.text == "abcd"
    assert isinstance(info.value.cause, RateLimited)
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "abcd"


async def test_failure_before_output_raises_the_error_itself() -> None:
    fake = FakeLLM(FakeReply(error=RateLimited("early"), fail_after=0))
    with pytest.raises(RateLimited):
        async with fake.stream(REQ) as events:
            [e async for e in events]


async def test_cancelling_a_slow_stream_closes_it() -> None:
    fake = FakeLLM(FakeReply("x" * 100, chunk_size=1, chunk_delay=0.05))

    async def consume() -> None:
        async with fake.stream(REQ) as events:
            async for _ in events:
                pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.12)
    assert fake.open_streams == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.open_streams == 0


async def test_latency_and_count_tokens_and_close() -> None:
    fake = FakeLLM(FakeReply("slow", latency=0.05))
    loop = asyncio.get_running_loop()
    start = loop.time()
    await fake.complete(REQ)
    assert loop.time() - start >= 0.05
    assert await fake.count_tokens(REQ) == len("hello there") // 4
    await fake.aclose()
    with pytest.raises(ProviderUnavailable, match="after aclose"):
        await fake.complete(REQ)


async def test_an_adapter_scrubs_its_own_credentials_from_every_error_whatever_their_shape() -> None:
    key = "gw-7f3a9c1e55d04b2a"  # matches no known key pattern
    fake = FakeLLM(RateLimited(f"quota exceeded for key {key}"),
                   FakeReply("abcdef", chunk_size=2, error=RateLimited(f"lost {key}"), fail_after=1))
    fake.redact([key])
    with pytest.raises(RateLimited) as info:
        await fake.complete(REQ)
    assert key not in str(info.value) and key not in repr(info.value) and key not in str(info.value.args)
    with pytest.raises(StreamInterrupted) as cut:
        async with fake.stream(REQ) as events:
            async for _ in events:
                pass
    assert key not in str(cut.value) and key not in str(cut.value.cause)
