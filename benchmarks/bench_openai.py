"""OpenAIAdapter against the raw ``openai`` SDK, same client, same emulator, same run.

Cases: ``complete`` (one short answer) and ``stream`` (200 text chunks, read to the end), over Chat
Completions and over the Responses API. Raw and adapter batches are interleaved, their order
alternating per round, after a warm-up; each side's figure is the minimum over rounds of the
median time of one operation in a batch.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import openai

from llmport.adapters.openai import OpenAIAdapter, OpenAIOptions
from llmport.adapters.testing.emulator import Reply, ScriptedUsage, VendorEmulator
from llmport.domain import CompletionRequest, Message, TextDelta

MODEL = "gpt-bench"
PROMPT = "Summarise the plot of Hamlet in one sentence."
ROUNDS = 7
Op = Callable[[], Awaitable[object]]


async def _batch(op: Op, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await op()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def _compare(raw: Op, ours: Op, n: int) -> tuple[float, float]:
    for _ in range(3):  # warm-up: connections, caches, lazy imports
        await raw()
        await ours()
    raw_best = ours_best = float("inf")
    for i in range(ROUNDS):
        pair = (raw, ours) if i % 2 == 0 else (ours, raw)
        first = await _batch(pair[0], n)
        second = await _batch(pair[1], n)
        r, o = (first, second) if i % 2 == 0 else (second, first)
        raw_best, ours_best = min(raw_best, r), min(ours_best, o)
    return raw_best, ours_best


async def _run(emu: VendorEmulator) -> list[tuple[str, float, float]]:
    client = openai.AsyncOpenAI(api_key="sk-bench-key", base_url=f"{emu.url}/v1", max_retries=0)
    chat = OpenAIAdapter(client, provider="openai")
    responses = OpenAIAdapter(client, provider="openai", options=OpenAIOptions(api="responses"))
    request = CompletionRequest(model=MODEL, messages=[Message.user(PROMPT)], max_tokens=256)
    raw_messages: Any = [{"role": "user", "content": PROMPT}]
    raw_input: Any = [{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}]

    async def raw_chat_complete() -> object:
        r = await client.chat.completions.create(model=MODEL, messages=raw_messages, max_tokens=256, store=False)
        return r.choices[0].message.content

    async def raw_chat_stream() -> object:
        stream = await client.chat.completions.create(model=MODEL, messages=raw_messages, max_tokens=256,
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
        r = await client.responses.create(model=MODEL, input=raw_input, max_output_tokens=256, store=False)
        return r.output_text

    async def raw_responses_stream() -> object:
        stream = await client.responses.create(model=MODEL, input=raw_input, max_output_tokens=256, store=False,
                                               stream=True)
        parts = []
        try:
            async for event in stream:
                if event.type == "response.output_text.delta":
                    parts.append(event.delta)
        finally:
            await stream.close()
        return "".join(parts)

    def ours_complete(adapter: OpenAIAdapter) -> Op:
        async def op() -> object:
            return (await adapter.complete(request)).text
        return op

    def ours_stream(adapter: OpenAIAdapter) -> Op:
        async def op() -> object:
            parts = []
            async with adapter.stream(request) as events:
                async for event in events:
                    if type(event) is TextDelta:
                        parts.append(event.text)
            return "".join(parts)
        return op

    short = Reply(text="Hamlet avenges his father and everyone dies.", usage=ScriptedUsage(12, 9))
    long = Reply(text="word " * 200, chunk_size=5, usage=ScriptedUsage(12, 200))
    cases: list[tuple[str, Reply, Op, Op, int]] = [
        ("chat complete", short, raw_chat_complete, ours_complete(chat), 40),
        ("chat stream 200 chunks", long, raw_chat_stream, ours_stream(chat), 6),
        ("responses complete", short, raw_responses_complete, ours_complete(responses), 40),
        ("responses stream 200 chunks", long, raw_responses_stream, ours_stream(responses), 6),
    ]
    results = []
    for name, reply, raw, ours, n in cases:
        emu.reset()
        emu.script(then=reply, vendor="openai")
        assert await raw() == await ours() == reply.text
        results.append((name, *await _compare(raw, ours, n)))
    await client.close()
    return results


def run() -> list[tuple[str, float, float]]:
    with VendorEmulator() as emu:
        rows = asyncio.run(_run(emu))
    for case, raw, ours in rows:
        print(f"openai {case:<28} raw {raw * 1e3:8.3f} ms  adapter {ours * 1e3:8.3f} ms  ratio {ours / raw:.3f}x")
    return rows


if __name__ == "__main__":
    run()
