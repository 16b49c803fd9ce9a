"""OpenAIAdapter against the raw ``openai`` SDK, same client, same emulator, same run.

Cases: ``complete`` (one short answer) and ``stream`` (200 text chunks, read to the end), over Chat
Completions and over the Responses API. Timing and emulator: see ``benchmarks.harness``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai

from benchmarks.harness import LONG_TEXT, PROMPT, SHORT_TEXT, Case, complete_text, request, run_suite, stream_text
from llmport.adapters.openai import OpenAIAdapter, OpenAIOptions

SHORT, LONG = "gpt-bench-short", "gpt-bench-stream"
CHAT_MESSAGES: Any = [{"role": "user", "content": PROMPT}]
RESPONSES_INPUT: Any = [{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}]


@asynccontextmanager
async def cases(url: str) -> AsyncIterator[list[Case]]:
    client = openai.AsyncOpenAI(api_key="sk-bench-key", base_url=f"{url}/v1", max_retries=0)
    chat = OpenAIAdapter(client, provider="openai")
    responses = OpenAIAdapter(client, provider="openai", options=OpenAIOptions(api="responses"))

    async def raw_chat_complete() -> object:
        r = await client.chat.completions.create(model=SHORT, messages=CHAT_MESSAGES, max_tokens=256, store=False)
        return r.choices[0].message.content

    async def raw_chat_stream() -> object:
        stream = await client.chat.completions.create(model=LONG, messages=CHAT_MESSAGES, max_tokens=256,
                                                      store=False, stream=True,
                                                      stream_options={"include_usage": True})
        parts = []
        try:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
        finally:
            await stream.close()
        return "".join(parts)

    async def raw_responses_complete() -> object:
        r = await client.responses.create(model=SHORT, input=RESPONSES_INPUT, max_output_tokens=256, store=False)
        return r.output_text

    async def raw_responses_stream() -> object:
        stream = await client.responses.create(model=LONG, input=RESPONSES_INPUT, max_output_tokens=256,
                                               store=False, stream=True)
        parts = []
        try:
            async for event in stream:
                if event.type == "response.output_text.delta":
                    parts.append(event.delta)
        finally:
            await stream.close()
        return "".join(parts)

    yield [
        Case("chat complete", raw_chat_complete, complete_text(chat, request(SHORT)), 40, SHORT_TEXT),
        Case("chat stream 200 chunks", raw_chat_stream, stream_text(chat, request(LONG)), 4, LONG_TEXT),
        Case("responses complete", raw_responses_complete, complete_text(responses, request(SHORT)), 40,
             SHORT_TEXT),
        Case("responses stream 200 chunks", raw_responses_stream, stream_text(responses, request(LONG)), 4,
             LONG_TEXT),
    ]
    await client.close()


def run() -> list[tuple[str, float, float]]:
    return run_suite("openai", "openai", SHORT, LONG, cases)


if __name__ == "__main__":
    run()
