"""AnthropicAdapter against the raw ``anthropic`` SDK, same client, same emulator, same run.

Cases: ``complete`` (one short answer) and ``stream`` (200 text chunks, read to the end). Raw and
adapter batches are interleaved, their order alternating per round, after a warm-up; each side's
figure is its fastest single operation (timeit's rule: noise only ever adds time). The emulator
runs in a child process: in a thread it would share the GIL with the client and swamp the
difference being measured with scheduling noise.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic

from llmport.adapters.anthropic import AnthropicAdapter
from llmport.domain import CompletionRequest, Message, TextDelta

SHORT, LONG = "claude-bench-short", "claude-bench-stream"
# The child: an emulator answering SHORT with one sentence and LONG with 200 chunks, until stdin closes.
EMULATOR = f"""
import sys
from llmport.adapters.testing.emulator import Reply, ScriptedUsage, VendorEmulator
with VendorEmulator() as emu:
    emu.script(then=Reply(text="Hamlet avenges his father and everyone dies.", usage=ScriptedUsage(12, 9)),
               vendor="anthropic", model="{SHORT}")
    emu.script(then=Reply(text="word " * 200, chunk_size=5, usage=ScriptedUsage(12, 200)),
               vendor="anthropic", model="{LONG}")
    print(emu.url, flush=True)
    sys.stdin.read()
"""
PROMPT = "Summarise the plot of Hamlet in one sentence."
ROUNDS = 15
Op = Callable[[], Awaitable[object]]


async def _batch(op: Op, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await op()
        times.append(time.perf_counter() - start)
    return times


async def _compare(raw: Op, ours: Op, n: int) -> tuple[float, float]:
    """Interleaved batches (order alternating per round); each side's figure is its fastest
    operation, the estimate least disturbed by other work on a shared machine."""
    for _ in range(3):  # warm-up: connections, caches, lazy imports
        await raw()
        await ours()
    raw_times: list[float] = []
    ours_times: list[float] = []
    for i in range(ROUNDS):
        if i % 2 == 0:
            raw_times += await _batch(raw, n)
            ours_times += await _batch(ours, n)
        else:
            ours_times += await _batch(ours, n)
            raw_times += await _batch(raw, n)
    return min(raw_times), min(ours_times)


async def _run(url: str) -> list[tuple[str, float, float]]:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=url, max_retries=0)
    adapter = AnthropicAdapter(client, provider="anthropic")
    short = CompletionRequest(model=SHORT, messages=[Message.user(PROMPT)], max_tokens=256)
    long = CompletionRequest(model=LONG, messages=[Message.user(PROMPT)], max_tokens=256)
    raw_messages = [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}]

    async def raw_complete() -> object:
        message = await client.messages.create(model=SHORT, max_tokens=256, messages=raw_messages)  # type: ignore[arg-type]
        return "".join(b.text for b in message.content if b.type == "text")

    async def raw_stream() -> object:
        stream: Any = await client.messages.create(model=LONG, max_tokens=256, messages=raw_messages,  # type: ignore[arg-type]
                                              stream=True)
        parts = []
        try:
            async for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    parts.append(event.delta.text)
        finally:
            await stream.close()
        return "".join(parts)

    async def ours_complete() -> object:
        return (await adapter.complete(short)).text

    async def ours_stream() -> object:
        parts = []
        async with adapter.stream(long) as events:
            async for event in events:
                if type(event) is TextDelta:
                    parts.append(event.text)
        return "".join(parts)

    results = []
    results.append(("complete", *await _compare(raw_complete, ours_complete, 40)))
    if await ours_stream() != await raw_stream() or len(str(await raw_stream())) != 1000:
        raise RuntimeError("the adapter and the raw SDK disagree on the streamed text")
    results.append(("stream 200 chunks", *await _compare(raw_stream, ours_stream, 8)))
    await adapter.aclose()
    return results


def run() -> list[tuple[str, float, float]]:
    child = subprocess.Popen([sys.executable, "-c", EMULATOR], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the emulator child process did not start")
        rows = asyncio.run(_run(url))
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
    for case, raw, ours in rows:
        print(f"anthropic {case:<20} raw {raw * 1e3:8.3f} ms  adapter {ours * 1e3:8.3f} ms  ratio {ours / raw:.3f}x")
    return rows


if __name__ == "__main__":
    run()
