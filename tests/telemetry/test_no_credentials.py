"""No credential in any span attribute or event, whatever the key and the base URL's user-info,
even when the vendor echoes the key in its error and content capture is on (property test over
the real OpenAI SDK against the emulator, built as the container builds it)."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmport.adapters.opentelemetry import TelemetryObserver, TracingLLM
from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator
from llmport.composition.factories import openai as factory
from llmport.composition.families import provider_settings
from llmport.domain import AllProvidersFailed
from llmport.ports import FailoverPolicy, LLMPort, Route, Router, RouteSet

from .otel_kit import Otel, ask

_KEY = string.ascii_letters + string.digits + "_-"
keys = st.text(_KEY, min_size=12, max_size=40).map(lambda s: f"sk-{s}")
# With a digit or symbol: hypothesis also tries words from the code under test, and a password that is
# a plain word of llmport's own messages ("attempts") would be "found" in them.
passwords = st.text(string.ascii_letters + string.digits + "~!$*", min_size=8, max_size=24).filter(
    lambda p: any(c in string.digits + "~!$*" for c in p))


def adapter(emu: VendorEmulator, tag: str, key: str, password: str) -> LLMPort:
    url = emu.url_for(tag).replace("http://", f"http://gateway-user:{password}@")
    provider = provider_settings(kind="openai", api_key=key, base_url=f"{url}/v1")
    built = factory.build_adapter(tag, factory.build_client(tag, provider), provider)
    built.redact(provider.secret_values())  # type: ignore[attr-defined]  # as the container does
    return built


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=keys, password=passwords)
async def test_no_credential_in_any_attribute(emu: VendorEmulator, key: str, password: str) -> None:
    emu.reset()
    otel = Otel(capture_content=True)
    routes = [Route(tag, "gpt-test", adapter(emu, tag, key, password)) for tag in ("p1", "p2")]
    otel.telemetry.describe(routes)
    llm = TracingLLM(FailoverPolicy(Router(routes, {"a": RouteSet("a", tuple(routes))}),
                                    observer=TelemetryObserver(otel.telemetry)), otel.telemetry)
    echo = Fault.http(401, "invalid_api_key", f"Incorrect API key provided: {key} (user gateway-user:{password})")
    try:
        emu.script(echo, tag="p1")  # p1 refuses the key and echoes it; p2 answers
        emu.script(Reply(text="fine"), tag="p2")
        await llm.complete(ask())
        emu.script(then=echo)  # then both refuse: the request span records the exception
        try:
            await llm.complete(ask())
        except AllProvidersFailed:
            pass
        else:
            raise AssertionError("every route refused the key, yet the call succeeded")
    finally:
        await llm.aclose()
        otel.tracer_provider.shutdown()
    assert {s.attributes.get("server.address") for s in otel.finished()} >= {"127.0.0.1"}
    assert any(e.name == "exception" for s in otel.finished() for e in s.events)
    no_secret_anywhere(otel, key, password)


def no_secret_anywhere(otel: Otel, *secrets: str) -> None:
    """Every attribute and event attribute free of ``secrets`` (the prompt may appear: capture is on)."""
    for span in otel.finished():
        values = [*span.attributes.values(), *(v for e in span.events for v in (e.attributes or {}).values())]
        for value in values:
            for secret in secrets:
                assert secret not in str(value), (span.name, value)
