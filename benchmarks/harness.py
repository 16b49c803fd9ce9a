"""What the suites share: the emulator in a child process, the benchmark prompt, the stack a user
runs (built by the container from environment variables), and each family's raw-SDK calls.

The emulator runs in a child process (in a thread it would share the GIL with the client and swamp
the difference being measured with scheduling noise). It answers the ``SHORT`` model with one
sentence and the ``LONG`` model with 200 text chunks, whatever the vendor protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from llmport.domain import CompletionRequest, Message, TextDelta
from llmport.ports import LLMPort

PROMPT = "Summarise the plot of Hamlet in one sentence."
SHORT_TEXT = "Hamlet avenges his father and everyone dies."
LONG_TEXT = "word " * 200  # streamed as 200 chunks of 5 characters
CHUNKS = 200
SHORT, LONG = "bench-short", "bench-stream"
MID, MID_TEXT = "bench-mid", "word " * 10  # a 10-chunk stream, for the soak
DEADLINE = "60"  # the policy's overall deadline (``policy.timeout``), as the README configures it

Op = Callable[[], Awaitable[object]]


def request(model: str, **fields: Any) -> CompletionRequest:
    """The benchmark prompt as a domain request (``max_tokens=256`` unless given)."""
    return CompletionRequest(model=model, messages=[Message.user(PROMPT)], **{"max_tokens": 256, **fields})


def complete_text(port: LLMPort, req: CompletionRequest) -> Op:
    """llmport's one-shot call: the completion's text."""
    async def op() -> object:
        return (await port.complete(req)).text
    return op


def stream_text(port: LLMPort, req: CompletionRequest) -> Op:
    """llmport's stream, read to the end: the concatenated text deltas."""
    async def op() -> object:
        parts = []
        async with port.stream(req) as events:
            async for event in events:
                if type(event) is TextDelta:
                    parts.append(event.text)
        return "".join(parts)
    return op


@dataclass(frozen=True, slots=True)
class Case:
    """One row of an in-process suite: ``baseline`` and ``ours`` do the same work, ``n`` calls per
    timed batch; both must return ``expect`` first. ``target``: seconds, on llmport's side alone
    (``"absolute"``) or on what it adds to the baseline (``"overhead"``). ``clock``: ``"cpu"``
    (this process's CPU time: for work done in-process, which other processes on a shared machine
    cannot inflate) or ``"wall"`` (for cases that wait on another process, e.g. a Redis server)."""

    name: str
    baseline: Op
    ours: Op
    n: int
    expect: object = None
    target: tuple[str, float] | None = None
    clock: str = "cpu"


async def measure_cases(suite: str, cases: contextlib.AbstractAsyncContextManager[list[Case]],
                        n_rounds: tuple[int, int] = (7, 3)) -> list[Any]:
    """Interleaved rounds of every case's two sides: one row each (medians, ranges, ratio), plus
    a row for its target when it has one."""
    from benchmarks.stats import Result, Stat, cpu_batch, interleave, ratios, rounds, wall_batch

    out = []
    async with cases as table:
        for case in table:
            if case.expect is not None and (await case.baseline(), await case.ours()) != (case.expect, case.expect):
                raise RuntimeError(f"{suite} {case.name}: baseline and llmport disagree on the answer")
            if case.clock == "cpu":
                sides = [cpu_batch(case.baseline, case.n, 1), cpu_batch(case.ours, case.n, 1)]
            else:
                sides = [wall_batch(case.baseline, case.n), wall_batch(case.ours, case.n)]
            b, o = await interleave(sides, rounds(*n_rounds))
            name = f"{case.name} ({case.clock.upper() if case.clock == 'cpu' else case.clock})"
            out.append(Result(suite, name, "us", Stat.of(o), Stat.of(b), ratios(b, o)))
            if case.target is not None:
                kind, limit = case.target
                value = o if kind == "absolute" else [y - x for x, y in zip(b, o, strict=True)]
                out.append(Result(suite, f"{name}: {kind}", "us", Stat.of(value), target=limit))
    return out


# --- the stack a user runs ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Family:
    """One SDK family as a deployment configures it: the provider's environment variables
    (``{url}`` stands for the server's base URL)."""

    name: str
    env: dict[str, str]


FAMILIES: tuple[Family, ...] = (
    Family("openai-chat", {"KIND": "openai", "API_KEY": "sk-bench-key", "BASE_URL": "{url}/v1"}),
    Family("openai-responses", {"KIND": "openai", "API_KEY": "sk-bench-key", "BASE_URL": "{url}/v1",
                                "API": "responses"}),
    Family("anthropic", {"KIND": "anthropic", "API_KEY": "sk-ant-bench", "BASE_URL": "{url}"}),
    Family("google", {"KIND": "google", "API_KEY": "bench-google-key", "BASE_URL": "{url}"}),
    Family("bedrock", {"KIND": "bedrock", "BASE_URL": "{url}", "REGION": "us-east-1",
                       "AWS_ACCESS_KEY_ID": "AKIABENCHBENCHBENCH0", "AWS_SECRET_ACCESS_KEY": "bench-secret"}),
)


def stack_env(family: Family, url: str, *, deadline: str | None = DEADLINE) -> dict[str, str]:
    """The environment of a one-provider deployment (provider ``p``), aliases ``short`` and
    ``long`` for the two benchmark models, default logging, and the policy deadline."""
    env = {f"LLMPORT_PROVIDERS__P__{k}": v.format(url=url) for k, v in family.env.items()}
    env["LLMPORT_ALIASES__SHORT"] = f"p/{SHORT}"
    env["LLMPORT_ALIASES__LONG"] = f"p/{LONG}"
    env["LLMPORT_ALIASES__MID"] = f"p/{MID}"
    if deadline is not None:
        env["LLMPORT_POLICY__TIMEOUT"] = deadline
    return env


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` holds exactly these ``LLMPORT_*`` variables within."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("LLMPORT_")}
    for k in saved:
        del os.environ[k]
    os.environ.update(env)
    try:
        yield
    finally:
        for k in env:
            os.environ.pop(k, None)
        os.environ.update(saved)


@contextlib.asynccontextmanager
async def container_stack(env: dict[str, str], *,
                          started: Callable[[Any], Awaitable[None]] | None = None) -> AsyncIterator[LLMPort]:
    """``container.llm()`` as a host builds it from ``env``: settings, logging at its default
    level (info, JSON lines to stderr, here a null device so the terminal stays readable),
    clients, adapters, policy. ``started(container)`` runs once the container has started."""
    from llmport.composition.container import Container

    null = open(os.devnull, "w")  # noqa: ASYNC230, SIM115 - a device: no blocking I/O
    with environment(env), null, contextlib.redirect_stderr(null):
        container = Container()
        result = container.init_resources()
        if result is not None:
            await result
        try:
            if started is not None:
                await started(container)
            yield container.llm()
        finally:
            result = container.shutdown_resources()
            if result is not None:
                await result


# --- the raw SDKs ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Raw:
    """A family's raw-SDK side: one short completion's text, one long stream's text, and the
    adapter llmport puts over the same client."""

    complete: Op
    stream: Op
    adapter: LLMPort
    close: Callable[[], Awaitable[None]]


def raw_sdk(family: str, url: str) -> Raw:
    """What a caller writes against the family's SDK directly (retries off, as llmport's)."""
    return _RAW[family](url)


def _openai(url: str, api: str) -> Raw:
    import openai

    from llmport.adapters.openai import OpenAIAdapter, OpenAIOptions

    client = openai.AsyncOpenAI(api_key="sk-bench-key", base_url=f"{url}/v1", max_retries=0)
    messages: Any = [{"role": "user", "content": PROMPT}]
    items: Any = [{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}]
    adapter = OpenAIAdapter(client, provider="p", options=OpenAIOptions(api=api))  # type: ignore[arg-type]

    async def chat_complete() -> object:
        r = await client.chat.completions.create(model=SHORT, messages=messages, max_tokens=256, store=False)
        return r.choices[0].message.content

    async def chat_stream() -> object:
        stream = await client.chat.completions.create(model=LONG, messages=messages, max_tokens=256, store=False,
                                                      stream=True, stream_options={"include_usage": True})
        parts = []
        async with stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
        return "".join(parts)

    async def responses_complete() -> object:
        r = await client.responses.create(model=SHORT, input=items, max_output_tokens=256, store=False)
        return r.output_text

    async def responses_stream() -> object:
        stream = await client.responses.create(model=LONG, input=items, max_output_tokens=256, store=False,
                                               stream=True)
        parts = []
        async with stream:
            async for event in stream:
                if event.type == "response.output_text.delta":
                    parts.append(event.delta)
        return "".join(parts)

    if api == "chat":
        return Raw(chat_complete, chat_stream, adapter, client.close)
    return Raw(responses_complete, responses_stream, adapter, client.close)


def _anthropic(url: str) -> Raw:
    import anthropic

    from llmport.adapters.anthropic import AnthropicAdapter

    client = anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=url, max_retries=0)
    messages: Any = [{"role": "user", "content": PROMPT}]

    async def complete() -> object:
        r = await client.messages.create(model=SHORT, messages=messages, max_tokens=256)
        return "".join(b.text for b in r.content if b.type == "text")

    async def stream() -> object:
        parts = []
        events = await client.messages.create(model=LONG, messages=messages, max_tokens=256, stream=True)
        async with events:
            async for event in events:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    parts.append(event.delta.text)
        return "".join(parts)

    return Raw(complete, stream, AnthropicAdapter(client, provider="p"), client.close)


def _google(url: str) -> Raw:
    from google import genai
    from google.genai import types

    from llmport.adapters.google_genai import GoogleGenAIAdapter, http_options

    client = genai.Client(api_key="bench-google-key", http_options=http_options(base_url=url))
    contents: Any = [types.Content(role="user", parts=[types.Part(text=PROMPT)])]
    config = types.GenerateContentConfig(max_output_tokens=256)

    async def complete() -> object:
        r = await client.aio.models.generate_content(model=SHORT, contents=contents, config=config)
        return r.text

    async def stream() -> object:
        parts = []
        async for chunk in await client.aio.models.generate_content_stream(model=LONG, contents=contents,
                                                                           config=config):
            text = chunk.text
            if text:
                parts.append(text)
        return "".join(parts)

    async def close() -> None:
        await client.aio.aclose()
        client.close()

    return Raw(complete, stream, GoogleGenAIAdapter(client, provider="p"), close)


def _bedrock(url: str) -> Raw:
    """boto3 is synchronous: the least any async caller writes is the call on a worker thread, the
    stream read there too with each event handed to the loop as it arrives."""
    import concurrent.futures

    import boto3
    from botocore.config import Config

    from llmport.adapters.bedrock import BedrockConverseAdapter

    workers = 4
    client = boto3.session.Session(aws_access_key_id="AKIABENCHBENCHBENCH0", aws_secret_access_key="bench-secret",
                                   region_name="us-east-1").client(
        "bedrock-runtime", endpoint_url=url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=workers))
    pool = concurrent.futures.ThreadPoolExecutor(workers)
    messages: Any = [{"role": "user", "content": [{"text": PROMPT}]}]

    def sync_complete() -> str:
        r = client.converse(modelId=SHORT, messages=messages, inferenceConfig={"maxTokens": 256})
        return "".join(b.get("text", "") for b in r["output"]["message"]["content"])

    async def complete() -> object:
        return await asyncio.get_running_loop().run_in_executor(pool, sync_complete)

    async def stream() -> object:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def pump() -> None:
            r = client.converse_stream(modelId=LONG, messages=messages, inferenceConfig={"maxTokens": 256})
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

    adapter = BedrockConverseAdapter(client, provider="p", max_workers=workers)

    async def close() -> None:
        pool.shutdown()
        client.close()

    return Raw(complete, stream, adapter, close)


_RAW: dict[str, Callable[[str], Raw]] = {
    "openai-chat": lambda url: _openai(url, "chat"),
    "openai-responses": lambda url: _openai(url, "responses"),
    "anthropic": _anthropic,
    "google": _google,
    "bedrock": _bedrock,
}


# --- the emulator child ---------------------------------------------------------------------
@contextlib.contextmanager
def emulator() -> Iterator[str]:
    """A VendorEmulator in a child process, every vendor protocol; yields its base URL and stops
    it (by closing the child's stdin) on exit."""
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.harness"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        url = child.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the emulator child process did not start")
        yield url
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _serve() -> None:
    """The child's side of :func:`emulator`: serve until stdin closes."""
    from llmport.adapters.testing.emulator import Reply, ScriptedUsage, VendorEmulator

    with VendorEmulator() as emu:
        emu.script(then=Reply(text=SHORT_TEXT, usage=ScriptedUsage(12, 9)), model=SHORT)
        emu.script(then=Reply(text=LONG_TEXT, chunk_size=5, usage=ScriptedUsage(12, 200)), model=LONG)
        emu.script(then=Reply(text=MID_TEXT, chunk_size=5, usage=ScriptedUsage(12, 10)), model=MID)
        print(emu.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    _serve()
