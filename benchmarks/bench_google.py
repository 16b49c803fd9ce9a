"""GoogleGenAIAdapter against the raw ``google-genai`` SDK, same client, same emulator, same run.

Cases: ``complete`` (one short answer) and ``stream`` (200 text chunks, read to the end). The raw
calls pass the same config the adapter sends (automatic function calling off, the same output
limit), so the figures compare translation cost only. Timing and emulator: see ``benchmarks.harness``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from google import genai

from benchmarks.harness import LONG_TEXT, PROMPT, SHORT_TEXT, Case, complete_text, request, run_suite, stream_text
from llmport.adapters.google_genai import GoogleGenAIAdapter, http_options

SHORT, LONG = "gemini-bench-short", "gemini-bench-stream"
CONTENTS: Any = [{"role": "user", "parts": [{"text": PROMPT}]}]
CONFIG: Any = {"automatic_function_calling": {"disable": True}, "max_output_tokens": 256}


@asynccontextmanager
async def cases(url: str) -> AsyncIterator[list[Case]]:
    client = genai.Client(api_key="AIza-bench-key", http_options=http_options(base_url=url, timeout=30))
    models = client.aio.models
    adapter = GoogleGenAIAdapter(client, provider="google")

    async def raw_complete() -> object:
        response = await models.generate_content(model=SHORT, contents=CONTENTS, config=CONFIG)
        return "".join(p.text or "" for p in response.candidates[0].content.parts)  # type: ignore[index,union-attr]

    async def raw_stream() -> object:
        parts: list[str] = []
        async for chunk in await models.generate_content_stream(model=LONG, contents=CONTENTS, config=CONFIG):
            candidate = chunk.candidates[0]  # type: ignore[index]
            if candidate.content and candidate.content.parts:
                parts.extend(p.text or "" for p in candidate.content.parts)
        return "".join(parts)

    yield [
        Case("complete", raw_complete, complete_text(adapter, request(SHORT)), 40, SHORT_TEXT),
        Case("stream 200 chunks", raw_stream, stream_text(adapter, request(LONG)), 6, LONG_TEXT),
    ]
    await adapter.aclose()


def run() -> list[tuple[str, float, float]]:
    return run_suite("google", "google", SHORT, LONG, cases)


if __name__ == "__main__":
    run()
