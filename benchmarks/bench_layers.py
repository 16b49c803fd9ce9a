"""Where a call's microseconds go above the adapter: CPU time per ``complete`` over an adapter that
answers at once (after one suspension, as a network call would), through each layer the container
stacks, interleaved. No SDK, no network, no other process: what is left is llmport's own cost.

Rows, each against the adapter alone: the bare policy (one route, no observer, no deadline); with a
deadline (``policy.timeout``); with the logging observer at its default level; the container's
policy (its observers: logging and metering); the container's metering step over it; the whole
``container.llm()`` (loop guard, pipeline steps). The differences between rows are what each layer
costs; ``calls`` shows the same stack against the raw SDK over loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from benchmarks.harness import FAMILIES, SHORT, SHORT_TEXT, Op, environment, request, stack_env
from benchmarks.stats import Result, Stat, cpu_batch, interleave, rounds
from llmport.domain import Completion, CompletionRequest, StopReason, StreamEvent, TextPart, Usage
from llmport.ports import FailoverPolicy, PolicyConfig, Route

CALLS = 2000
ANSWER = Completion((TextPart(SHORT_TEXT),), StopReason("end_turn", "stop"), Usage(12, 9), "p", SHORT)


class Instant:
    """An ``LLMPort`` that answers every request with ``ANSWER`` after one suspension."""

    async def complete(self, request: CompletionRequest) -> Completion:
        await asyncio.sleep(0)
        return ANSWER

    def stream(self, request: CompletionRequest) -> contextlib.AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        raise NotImplementedError

    async def count_tokens(self, request: CompletionRequest) -> int:
        return 0

    async def aclose(self) -> None:
        pass


def _text(port: Any, req: CompletionRequest) -> Op:
    async def op() -> object:
        return (await port.complete(req)).text
    return op


async def _measure() -> list[Result]:
    from dependency_injector import providers

    from llmport.composition.container import Container
    from llmport.composition.policy_factory import StructlogObserver

    instant = Instant()
    route = Route("p", SHORT, instant)
    direct = request(f"p/{SHORT}")
    null = open(os.devnull, "w")  # noqa: ASYNC230, SIM115 - a device: no blocking I/O
    with environment(stack_env(FAMILIES[0], "http://127.0.0.1:9")), null, contextlib.redirect_stderr(null):
        container = Container()
        container.adapters.override(providers.Object(lambda settings, clients: {"p": instant}))
        await container.init_resources()  # type: ignore[misc]
        try:
            runtime = container.runtime()
            sides = {
                "adapter alone": _text(instant, request(SHORT)),
                "bare policy": _text(FailoverPolicy.of(route), direct),
                "+ deadline": _text(FailoverPolicy.of(route, config=PolicyConfig(timeout=60)), direct),
                "+ logging observer": _text(FailoverPolicy.of(route, config=PolicyConfig(timeout=60),
                                                              observer=StructlogObserver()), direct),
                "container policy": _text(runtime.policy, request("short")),
                "+ metering step": _text(runtime.metered, request("short")),
                "full stack": _text(container.llm(), request("short")),
            }
            for op in sides.values():
                for _ in range(100):
                    if await op() != SHORT_TEXT:
                        raise RuntimeError("layers: a layer changed the answer")
            samples = await interleave([cpu_batch(op, CALLS, 1) for op in sides.values()], rounds(7, 3))
        finally:
            await container.shutdown_resources()  # type: ignore[misc]
    base = samples[0]
    rows = [Result("layers", "adapter alone (CPU)", "us", Stat.of(base))]
    for name, values in list(zip(sides, samples, strict=True))[1:]:
        rows.append(Result("layers", f"{name}: above the adapter (CPU)", "us",
                           Stat.of([v - b for b, v in zip(base, values, strict=True)])))
    return rows


def run() -> list[Result]:
    return asyncio.run(_measure())
