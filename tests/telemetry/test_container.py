"""Telemetry through the container: every SDK family (real SDK, real HTTP, the emulator) traced when
``telemetry.enabled``; with it off, nothing of OpenTelemetry is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest
from dependency_injector import providers

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.composition.container import Container, _settle
from llmport.domain import CompletionRequest, Message, StreamEnd

from ..money.conftest import deployment
from .otel_kit import PROMPT, Otel, no_prompt_anywhere


@pytest.mark.parametrize("name", ["oai", "ant", "gem", "brk"])
async def test_every_family_is_traced_through_the_container(emu: VendorEmulator, name: str) -> None:
    otel = Otel()
    container = Container()
    container.settings.override(providers.Object(deployment(emu, name, telemetry={"enabled": True})))
    container.tracer_provider.override(providers.Object(otel.tracer_provider))
    container.meter_provider.override(providers.Object(otel.meter_provider))
    await _settle(container.init_resources())
    try:
        llm = container.llm()
        request = CompletionRequest(model="default", messages=[Message.user(PROMPT)], max_tokens=20)
        answer = await llm.complete(request)
        async with llm.stream(request) as events:
            seen = [e async for e in events]
    finally:
        await _settle(container.shutdown_resources())
    assert answer.text and isinstance(seen[-1], StreamEnd)
    roots = [s for s in otel.finished() if s.name == "chat default"]
    assert len(roots) == 2 and all(r.attributes["llmport.outcome"] == "ok" for r in roots)
    for root in roots:
        (attempt,) = [s for s in otel.finished() if s.parent is not None
                      and s.parent.span_id == root.context.span_id]
        assert attempt.attributes["gen_ai.provider.name"] == name
        assert attempt.attributes["llmport.request_id"] == root.attributes["llmport.request_id"]
        assert (attempt.attributes["server.address"], attempt.attributes["server.port"]) == ("127.0.0.1", emu.port)
        assert attempt.attributes["llmport.cost_usd"] > 0 and root.attributes["llmport.cost_usd"] > 0
    no_prompt_anywhere(otel, f"test-{name}-key", "secret-example")


def test_off_imports_nothing_of_opentelemetry() -> None:
    code = (
        "import sys, asyncio\n"
        "from llmport.composition.container import Container\n"
        "from llmport.composition.settings import load_settings\n"
        "from dependency_injector import providers\n"
        "c = Container()\n"
        "c.settings.override(providers.Object(load_settings(providers={'p': {'kind': 'openai', 'api_key': 'k',"
        " 'default_model': 'm'}})))\n"
        "from llmport.composition import start, stop\n"
        "async def main():\n"
        "    await start(c)\n"
        "    await stop(c)\n"
        "asyncio.run(main())\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
