"""The synchronous facade's added cost: ``SyncLLM.complete`` from a caller thread against the same
container's async ``LLMPort`` awaited on the facade's own loop, in the same run (interleaved rounds).
The llm is a ``FakeLLM`` so that the figure is the facade's hand-off alone (submit, wake the loop,
run the task, hand the result back), not the network."""

from __future__ import annotations

import time
from collections.abc import Callable

from dependency_injector import providers

from benchmarks.harness import request
from benchmarks.stats import Result, Stat, ratios, rounds
from llmport.adapters.testing import FakeLLM
from llmport.composition import Container, load_settings
from llmport.composition.sync_llm import SyncLLM

CALLS = 2000
TARGET = 50e-6  # seconds added per call


def _async_side(llm: SyncLLM) -> Callable[[], float]:
    runtime = llm._ready()  # the facade's loop: the async port measured where it runs
    req = request("default")

    async def batch() -> float:
        port = runtime.llm
        start = time.perf_counter()
        for _ in range(CALLS):
            await port.complete(req)
        return (time.perf_counter() - start) / CALLS

    return lambda: runtime.call(batch(), None)


def _sync_side(llm: SyncLLM) -> Callable[[], float]:
    req = request("default")

    def batch() -> float:
        start = time.perf_counter()
        for _ in range(CALLS):
            llm.complete(req)
        return (time.perf_counter() - start) / CALLS

    return batch


def run() -> list[Result]:
    container = Container()
    # one provider so that start-up checks pass; it is never called (the llm is the fake)
    settings = load_settings(providers={"p": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                                              "api_key": "sk-bench-key"}}, logging={"level": "error"})
    container.settings.override(providers.Object(settings))
    container.llm.override(providers.Object(FakeLLM(default="ok")))
    with container.sync_llm() as llm:
        sides = [_async_side(llm), _sync_side(llm)]
        samples: list[list[float]] = [[], []]
        for r in range(rounds(15, 5)):
            for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                samples[i].append(sides[i]())
    base, ours = samples
    return [
        Result("sync", "SyncLLM.complete vs async port (FakeLLM)", "us", Stat.of(ours), Stat.of(base),
               ratios(base, ours)),
        Result("sync", "SyncLLM added cost per call", "us", Stat.of([o - b for b, o in zip(base, ours, strict=True)]),
               target=TARGET),
    ]
