"""BedrockConverseAdapter against raw boto3, same client, same emulator, same run.

boto3 is synchronous, so the raw baseline is what any async caller must write at the least: the
boto3 call run on a worker thread from the event loop (``run_in_executor``). For ``stream`` the
baseline reads all 200 events in ONE thread hop and hands the list back at the end (nothing reaches
the loop incrementally), so it is a lower bound the adapter, which delivers each event to the loop
as it arrives, can only approach; a third row compares against the usual hand-written wrapper that
hands each event to the loop with ``call_soon_threadsafe``. Timing and emulator: see
``benchmarks.harness``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import boto3
from botocore.config import Config

from benchmarks.harness import LONG_TEXT, PROMPT, SHORT_TEXT, Case, complete_text, request, run_suite, stream_text
from llmport.adapters.bedrock import BedrockConverseAdapter

SHORT, LONG = "anthropic.bench-short-v1:0", "anthropic.bench-stream-v1:0"
MESSAGES: Any = [{"role": "user", "content": [{"text": PROMPT}]}]
WORKERS = 4


@asynccontextmanager
async def cases(url: str) -> AsyncIterator[list[Case]]:
    client = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                                   region_name="us-east-1").client(
        "bedrock-runtime", endpoint_url=url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=WORKERS))
    adapter = BedrockConverseAdapter(client, provider="bedrock", max_workers=WORKERS)
    pool = concurrent.futures.ThreadPoolExecutor(WORKERS)
    loop = asyncio.get_running_loop()

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

    ours_stream = stream_text(adapter, request(LONG))
    yield [
        Case("complete", raw_complete, complete_text(adapter, request(SHORT)), 30, SHORT_TEXT),
        Case("stream 200 chunks", raw_stream, ours_stream, 6, LONG_TEXT),
        Case("stream, per-event baseline", raw_stream_per_event, ours_stream, 6, LONG_TEXT),
    ]
    await adapter.aclose()
    pool.shutdown()


def run() -> list[tuple[str, float, float]]:
    return run_suite("bedrock", "bedrock", SHORT, LONG, cases)


if __name__ == "__main__":
    run()
