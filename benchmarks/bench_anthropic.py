"""AnthropicAdapter against the raw ``anthropic`` SDK, same client, same emulator, same run.

Cases: ``complete`` (one short answer) and ``stream`` (200 text chunks, read to the end). Timing and
emulator: see ``benchmarks.harness``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic

from benchmarks.harness import LONG_TEXT, PROMPT, SHORT_TEXT, Case, complete_text, request, run_suite, stream_text
from llmport.adapters.anthropic import AnthropicAdapter

SHORT, LONG = "claude-bench-short", "claude-bench-stream"
MESSAGES: Any = [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}]


@asynccontextmanager
async def cases(url: str) -> AsyncIterator[list[Case]]:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=url, max_retries=0)
    adapter = AnthropicAdapter(client, provider="anthropic")

    async def raw_complete() -> object:
        message = await client.messages.create(model=SHORT, max_tokens=256, messages=MESSAGES)
        return "".join(b.text for b in message.content if b.type == "text")

    async def raw_stream() -> object:
        stream = await client.messages.create(model=LONG, max_tokens=256, messages=MESSAGES, stream=True)
        parts = []
        try:
            async for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    parts.append(event.delta.text)
        finally:
            await stream.close()
        return "".join(parts)

    yield [
        Case("complete", raw_complete, complete_text(adapter, request(SHORT)), 40, SHORT_TEXT),
        Case("stream 200 chunks", raw_stream, stream_text(adapter, request(LONG)), 8, LONG_TEXT),
    ]
    await adapter.aclose()


def run() -> list[tuple[str, float, float]]:
    return run_suite("anthropic", "anthropic", SHORT, LONG, cases)


if __name__ == "__main__":
    run()
