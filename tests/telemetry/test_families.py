"""The span tree of every adapter family (real SDK, real HTTP, the emulator) beyond a success: a
retry, a failover to another provider, a hedge, a stream cut after output and a cancellation,
recorded by the OpenTelemetry SDK's in-memory exporter; attempt spans name the vendor endpoint
(``server.address``/``server.port``) and carry no prompt and no credential."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from llmport.adapters.testing.emulator import Fault, Reply, ScriptedUsage, VendorEmulator
from llmport.domain import AllProvidersFailed, StreamInterrupted
from llmport.domain.pricing import ModelPrice
from llmport.ports import FailoverPolicy, HedgeConfig, LLMPort, RetryPolicy, Route, Router, RouteSet
from llmport.ports.failover import PolicyConfig

from ..contract.harness import Harness
from ..contract.harness_anthropic import HARNESSES as ANTHROPIC
from ..contract.harness_bedrock import HARNESSES as BEDROCK
from ..contract.harness_google import HARNESSES as GOOGLE
from ..contract.harness_openai import HARNESSES as OPENAI
from .otel_kit import Otel, ask, no_prompt_anywhere

# One harness per SDK family; the credentials each uses, which no attribute may carry.
FAMILIES = [OPENAI[0], ANTHROPIC[0], GOOGLE[0], BEDROCK[0]]
SECRETS = ("sk-test-contract-key", "sk-ant-test-key", "AIza-test-key-for-the-emulator")
PRICE = ModelPrice.per_mtok(1.0, 2.0)
TEXT = "one two three four five six seven eight"

pytestmark = pytest.mark.parametrize("harness", FAMILIES, ids=[h.name for h in FAMILIES])


class Deployment:
    """Routes ``p1`` and ``p2`` (each its own adapter on its own emulator tag), traced."""

    def __init__(self, emu: VendorEmulator, harness: Harness, **config: Any) -> None:
        from llmport.adapters.opentelemetry import TelemetryObserver, TracingLLM

        self.otel = Otel()
        self.harness = harness
        self.routes = [Route(tag, harness.model, harness.build(emu.url_for(tag)), price=PRICE) for tag in ("p1", "p2")]
        self.otel.telemetry.describe(self.routes)
        policy = FailoverPolicy(Router(self.routes, {"a": RouteSet("a", tuple(self.routes))}),
                                config=PolicyConfig(retry=RetryPolicy(2, base_delay=0.0), **config),
                                observer=TelemetryObserver(self.otel.telemetry))
        self.llm: LLMPort = TracingLLM(policy, self.otel.telemetry)

    async def aclose(self) -> None:
        await self.llm.aclose()
        self.otel.tracer_provider.shutdown()

    def attempts(self) -> list[ReadableSpan]:
        return sorted(self.otel.attempts(), key=lambda s: s.start_time or 0)

    def counter(self, name: str) -> float:
        return sum(p.value for p in self.otel.metrics().get(name, []))

    def check_hygiene(self, emu: VendorEmulator) -> None:
        """Every attempt span names the emulator as its server; no prompt, no credential anywhere."""
        host, port = emu.url.removeprefix("http://").rsplit(":", 1)
        for span in self.attempts():
            assert span.attributes["server.address"] == host and span.attributes["server.port"] == int(port)
            assert span.parent is not None and span.end_time is not None
        no_prompt_anywhere(self.otel, *SECRETS)


@pytest.fixture
async def deployment(emu: VendorEmulator, harness: Harness) -> AsyncIterator[Deployment]:
    d = Deployment(emu, harness)
    yield d
    await d.aclose()


async def read(llm: LLMPort) -> list[Any]:
    async with llm.stream(ask()) as events:
        return [e async for e in events]


async def test_success(emu: VendorEmulator, harness: Harness, deployment: Deployment) -> None:
    emu.script(Reply(text=TEXT, usage=ScriptedUsage(input_tokens=1000, output_tokens=500)), tag="p1")
    await read(deployment.llm)
    (attempt,) = deployment.attempts()
    a = attempt.attributes
    assert attempt.name == f"chat {harness.model}" and a["gen_ai.provider.name"] == "p1"
    assert a["llmport.outcome"] == "ok" and a["gen_ai.usage.output_tokens"] == 500
    assert a["llmport.cost_usd"] == pytest.approx(0.002)  # 1000 in at $1/Mtok + 500 out at $2/Mtok
    root = deployment.otel.request_span()
    assert root.attributes["llmport.route"] == f"p1/{harness.model}" and root.attributes["gen_ai.response.id"]
    assert root.attributes["gen_ai.usage.input_tokens"] == 1000
    assert deployment.otel.metrics()["gen_ai.client.operation.time_to_first_chunk"]
    deployment.check_hygiene(emu)


async def test_retry(emu: VendorEmulator, harness: Harness, deployment: Deployment) -> None:
    emu.script(Fault(status=503), Reply(text=TEXT), tag="p1")
    await read(deployment.llm)
    first, second = deployment.attempts()
    assert first.attributes["llmport.outcome"] == "error" and first.status.status_code is StatusCode.ERROR
    assert first.attributes["http.response.status_code"] == 503 and first.attributes["error.type"]
    assert "llmport.cost_usd" not in first.attributes  # an HTTP error answer has no usage to price
    assert (second.attributes["llmport.attempt"], second.attributes["llmport.outcome"]) == (2, "ok")
    assert deployment.counter("llmport.retries") == 1 and deployment.counter("llmport.failovers") == 0
    deployment.check_hygiene(emu)


async def test_failover(emu: VendorEmulator, harness: Harness, deployment: Deployment) -> None:
    emu.script(then=Fault(status=503), tag="p1")
    emu.script(Reply(text=TEXT), tag="p2")
    await read(deployment.llm)
    assert [s.attributes["gen_ai.provider.name"] for s in deployment.attempts()] == ["p1", "p1", "p2"]
    assert deployment.otel.request_span().attributes["llmport.route"] == f"p2/{harness.model}"
    assert deployment.counter("llmport.failovers") == 1
    outcomes = {p.attributes["llmport.outcome"]: p.value for p in deployment.otel.metrics()["llmport.attempts"]}
    assert outcomes == {"error": 2, "ok": 1}
    deployment.check_hygiene(emu)


async def test_every_route_failing(emu: VendorEmulator, harness: Harness, deployment: Deployment) -> None:
    emu.script(then=Fault(status=503))
    with pytest.raises(AllProvidersFailed):
        await read(deployment.llm)
    root = deployment.otel.request_span()
    assert root.status.status_code is StatusCode.ERROR and root.attributes["error.type"] == "AllProvidersFailed"
    assert [e.name for e in root.events] == ["exception"]
    assert len(deployment.attempts()) == 4
    deployment.check_hygiene(emu)


async def test_hedge(emu: VendorEmulator, harness: Harness) -> None:
    d = Deployment(emu, harness, hedge=HedgeConfig(delay=0.05))
    try:
        emu.script(Reply(text=TEXT, latency=2.0), tag="p1")
        emu.script(Reply(text=TEXT), tag="p2")
        await read(d.llm)
        spans = {s.attributes["gen_ai.provider.name"]: s for s in d.attempts()}
        assert spans["p2"].attributes["llmport.hedge"] is True and spans["p2"].attributes["llmport.outcome"] == "ok"
        assert spans["p1"].attributes["llmport.outcome"] in ("lost", "cancelled")
        assert d.otel.request_span().attributes["llmport.route"] == f"p2/{harness.model}"
        assert d.counter("llmport.failovers") == 0  # a hedge that wins is no failover
        d.check_hygiene(emu)
    finally:
        await d.aclose()


async def test_stream_cut_after_output(emu: VendorEmulator, harness: Harness, deployment: Deployment) -> None:
    emu.script(Fault(kind="cut", after_chunks=2), Reply(text=TEXT), tag="p1")
    seen: list[Any] = []
    with pytest.raises(StreamInterrupted):
        async with deployment.llm.stream(ask()) as events:
            async for event in events:
                seen.append(event)
    assert seen  # output reached the caller before the cut: no retry
    (attempt,) = deployment.attempts()
    assert attempt.attributes["llmport.outcome"] == "interrupted" and attempt.status.status_code is StatusCode.ERROR
    root = deployment.otel.request_span()
    assert root.attributes["error.type"] == "StreamInterrupted" and root.status.status_code is StatusCode.ERROR
    deployment.check_hygiene(emu)


async def test_cancellation(emu: VendorEmulator, harness: Harness, deployment: Deployment) -> None:
    emu.script(Reply(text=TEXT, latency=5.0), tag="p1")
    task = asyncio.create_task(deployment.llm.complete(ask()))
    # the request reached the vendor (the journal is waited on in a thread: the loop must run the call)
    await asyncio.to_thread(emu.journal.wait_for, lambda j: bool(j.entries(tag="p1")), 10.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (attempt,) = deployment.attempts()
    assert attempt.attributes["llmport.outcome"] == "cancelled" and attempt.status.status_code is not StatusCode.ERROR
    root = deployment.otel.request_span()
    assert root.attributes["llmport.outcome"] == "cancelled" and root.status.status_code is not StatusCode.ERROR
    deployment.check_hygiene(emu)
