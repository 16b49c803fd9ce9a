"""GoogleGenAIAdapter against the raw ``google-genai`` SDK, same client, same emulator, same run.

Cases: ``complete`` (one short answer) and ``stream`` (200 text chunks, read to the end). The raw
calls pass the same config the adapter sends (automatic function calling off, the same output
limit), so the figures compare translation cost only. Raw and adapter batches are interleaved, their
order alternating per round, after a warm-up; each side's figure is the minimum over rounds of the
median time of one operation in a batch.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from google import genai

from llmport.adapters.google_genai import GoogleGenAIAdapter, http_options
from llmport.adapters.testing.emulator import Reply, ScriptedUsage, VendorEmulator
from llmport.domain import CompletionRequest, Message, TextDelta

MODEL = "gemini-bench"
PROMPT = "Summarise the plot of Hamlet in one sentence."
ROUNDS = 9
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
    client = genai.Client(api_key="AIza-bench-key", http_options=http_options(base_url=emu.url, timeout=30))
    models = client.aio.models
    adapter = GoogleGenAIAdapter(client, provider="google")
    request = CompletionRequest(model=MODEL, messages=[Message.user(PROMPT)], max_tokens=256)
    contents: Any = [{"role": "user", "parts": [{"text": PROMPT}]}]
    config: Any = {"automatic_function_calling": {"disable": True}, "max_output_tokens": 256}

    async def raw_complete() -> object:
        response = await models.generate_content(model=MODEL, contents=contents, config=config)
        return "".join(p.text or "" for p in response.candidates[0].content.parts)  # type: ignore[index,union-attr]

    async def raw_stream() -> object:
        parts: list[str] = []
        async for chunk in await models.generate_content_stream(model=MODEL, contents=contents, config=config):
            candidate = chunk.candidates[0]  # type: ignore[index]
            if candidate.content and candidate.content.parts:
                parts.extend(p.text or "" for p in candidate.content.parts)
        return "".join(parts)

    async def ours_complete() -> object:
        return (await adapter.complete(request)).text

    async def ours_stream() -> object:
        parts = []
        async with adapter.stream(request) as events:
            async for event in events:
                if type(event) is TextDelta:
                    parts.append(event.text)
        return "".join(parts)

    results = []
    emu.reset()
    emu.script(then=Reply(text="Hamlet avenges his father and everyone dies.", usage=ScriptedUsage(12, 9)),
               vendor="google")
    results.append(("complete", *await _compare(raw_complete, ours_complete, 40)))
    emu.reset()
    emu.script(then=Reply(text="word " * 200, chunk_size=5, usage=ScriptedUsage(12, 200)), vendor="google")
    assert len(await ours_stream()) == 1000 == len(await raw_stream())  # type: ignore[arg-type]
    results.append(("stream 200 chunks", *await _compare(raw_stream, ours_stream, 6)))
    await adapter.aclose()
    return results


def run() -> list[tuple[str, float, float]]:
    with VendorEmulator() as emu:
        rows = asyncio.run(_run(emu))
    for case, raw, ours in rows:
        print(f"google {case:<20} raw {raw * 1e3:8.3f} ms  adapter {ours * 1e3:8.3f} ms  ratio {ours / raw:.3f}x")
    return rows


if __name__ == "__main__":
    run()
