"""BedrockConverseAdapter against raw boto3, same client, same emulator, same run.

boto3 is synchronous, so the raw baseline is what any async caller must write at the least: the
boto3 call run on a worker thread from the event loop (``run_in_executor``). For ``stream`` the
baseline reads all 200 events in ONE thread hop and hands the list back at the end (nothing reaches
the loop incrementally), so it is a lower bound the adapter, which delivers each event to the loop
as it arrives, can only approach; a third row compares against the usual hand-written wrapper that
hands each event to the loop with ``call_soon_threadsafe``. Raw and adapter batches are interleaved,
their order alternating per round, after a warm-up; each side's figure is its fastest single
operation (noise only ever adds time). The emulator runs in a child process so it does not share the
GIL with the client.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import boto3
from botocore.config import Config

from llmport.adapters.bedrock import BedrockConverseAdapter
from llmport.domain import CompletionRequest, Message, TextDelta

SHORT, LONG = "anthropic.bench-short-v1:0", "anthropic.bench-stream-v1:0"
EMULATOR = f"""
import sys
from llmport.adapters.testing.emulator import Reply, ScriptedUsage, VendorEmulator
with VendorEmulator() as emu:
    emu.script(then=Reply(text="Hamlet avenges his father and everyone dies.", usage=ScriptedUsage(12, 9)),
               vendor="bedrock", model="{SHORT}")
    emu.script(then=Reply(text="word " * 200, chunk_size=5, usage=ScriptedUsage(12, 200)),
               vendor="bedrock", model="{LONG}")
    print(emu.url, flush=True)
    sys.stdin.read()
"""
PROMPT = "Summarise the plot of Hamlet in one sentence."
MESSAGES = [{"role": "user", "content": [{"text": PROMPT}]}]
ROUNDS = 15
WORKERS = 4
Op = Callable[[], Awaitable[object]]


async def _batch(op: Op, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await op()
        times.append(time.perf_counter() - start)
    return times


async def _compare(raw: Op, ours: Op, n: int) -> tuple[float, float]:
    for _ in range(3):
        await raw()
        await ours()
    raw_times: list[float] = []
    ours_times: list[float] = []
    for i in range(ROUNDS):
        first, second = (raw, ours) if i % 2 == 0 else (ours, raw)
        a = await _batch(first, n)
        b = await _batch(second, n)
        raw_times += a if first is raw else b
        ours_times += b if first is raw else a
    return min(raw_times), min(ours_times)


def _client(url: str) -> Any:
    return boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                                 region_name="us-east-1").client(
        "bedrock-runtime", endpoint_url=url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=WORKERS))


async def _run(url: str) -> list[tuple[str, float, float]]:
    client = _client(url)
    adapter = BedrockConverseAdapter(client, provider="bedrock", max_workers=WORKERS)
    pool = concurrent.futures.ThreadPoolExecutor(WORKERS)
    loop = asyncio.get_running_loop()
    short = CompletionRequest(model=SHORT, messages=[Message.user(PROMPT)], max_tokens=256)
    long = CompletionRequest(model=LONG, messages=[Message.user(PROMPT)], max_tokens=256)

    def sync_complete() -> str:
        r = client.converse(modelId=SHORT, messages=MESSAGES, inferenceConfig={"maxTokens": 256})
        return "".join(b.get("text", "") for b in r["output"]["message"]["content"])

    def sync_stream() -> str:
        r = client.converse_stream(modelId=LONG, messages=MESSAGES, inferenceConfig={"maxTokens": 256})
        parts = []
        for event in r["stream"]:
            delta = event.get("contentBlockDelta")
            if delta is not None and "text" in delta["delta"]:
                parts.append(delta["delta"]["text"])
        return "".join(parts)

    async def raw_complete() -> object:
        return await loop.run_in_executor(pool, sync_complete)

    async def raw_stream() -> object:
        return await loop.run_in_executor(pool, sync_stream)

    async def raw_stream_per_event() -> object:
        """The usual hand-written wrapper: each event handed to the loop as it arrives."""
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def pump() -> None:
            r = client.converse_stream(modelId=LONG, messages=MESSAGES, inferenceConfig={"maxTokens": 256})
            for event in r["stream"]:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        done = loop.run_in_executor(pool, pump)
        parts = []
        while (event := await queue.get()) is not None:
            delta = event.get("contentBlockDelta")
            if delta is not None and "text" in delta["delta"]:
                parts.append(delta["delta"]["text"])
        await done
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

    if await ours_stream() != await raw_stream() or len(str(await raw_stream())) != 1000:
        raise RuntimeError("the adapter and raw boto3 disagree on the streamed text")
    results = [("complete", *await _compare(raw_complete, ours_complete, 30)),
               ("stream 200 chunks", *await _compare(raw_stream, ours_stream, 6)),
               ("stream, per-event baseline", *await _compare(raw_stream_per_event, ours_stream, 6))]
    await adapter.aclose()
    pool.shutdown()
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
        print(f"bedrock {case:<28} raw {raw * 1e3:8.3f} ms  adapter {ours * 1e3:8.3f} ms  ratio {ours / raw:.3f}x")
    return rows


if __name__ == "__main__":
    run()
