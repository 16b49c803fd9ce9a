"""Replies that break the vendor's own schema, through every harness: always a failover-eligible
``LLMError`` (the provider's failure, never ``InvalidRequest``), whole or streamed, with no SDK
exception in its chain (issue 11)."""

from __future__ import annotations

import pytest

from llmport.adapters.testing.emulator import Fault, VendorEmulator
from llmport.domain import CompletionRequest, InvalidRequest, LLMError, Message, accumulate

from .harness import Harness

BODIES = {
    "empty object": "{}",
    "array": "[]",
    "null": "null",
    "unknown fields": '{"weird": 1}',
    "not JSON": "not json",
    "empty body": "",
    "bad UTF-8": b'{"id": "\xff\xfe", "choices": []}',
    "every field of the wrong type": '{"id": 5, "choices": [{"message": 5}], "content": 7, "candidates": "x", '
                                     '"output": {"message": 3}, "stopReason": 1}',
}


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
async def test_a_reply_breaking_the_schema_is_a_failover_error(harness: Harness, emu: VendorEmulator, body: str | bytes,
                                                               stream: bool) -> None:
    llm = harness.build(emu.url)
    emu.script(Fault.raw(body), vendor=harness.vendor)
    request = CompletionRequest(model=harness.model, messages=[Message.user("hi")])
    try:
        with pytest.raises(LLMError) as info:
            if stream:
                async with llm.stream(request) as events:
                    accumulate([e async for e in events])
            else:
                await llm.complete(request)
    finally:
        await llm.aclose()
    error = info.value
    assert not isinstance(error, InvalidRequest) and error.failover
    assert error.__cause__ is None and error.__context__ is None
