"""What telemetry records besides the span tree: a skipped route (open breaker) as an event on the
request span, breaker state changes counted, response cache hits, cost on spans and in the cost
counter, correlation (request id, tenant, tags), and the counters shared by every ``Telemetry``
on one meter."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from llmport.adapters.cache_memory import MemoryResponseCache
from llmport.adapters.opentelemetry import Telemetry, TelemetryObserver, TracingLLM
from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import AllProvidersFailed, CompletionRequest, Message, ProviderUnavailable
from llmport.domain.catalog import ModelInfo
from llmport.domain.pricing import ModelPrice
from llmport.domain.request import CachePolicy
from llmport.ports import FailoverPolicy, FanoutObserver, PolicyObserver, RetryPolicy, Route, Router, RouteSet
from llmport.ports.breaker import BreakerConfig
from llmport.ports.catalog import LayeredCatalog
from llmport.ports.failover import PolicyConfig
from llmport.ports.metering import MeteredLLM, MeteringObserver
from llmport.ports.response_cache import CachingLLM

from .otel_kit import ANSWER, Otel, ask


def policy(otel: Otel, *routes: Route, observer: PolicyObserver | None = None, **config: Any) -> FailoverPolicy:
    return FailoverPolicy(Router(list(routes), {"a": RouteSet("a", tuple(routes))}),
                          config=PolicyConfig(**{"retry": RetryPolicy(1), **config}),
                          observer=observer or TelemetryObserver(otel.telemetry))


def points(otel: Otel, name: str) -> dict[tuple[Any, ...], float]:
    return {tuple(sorted(p.attributes.items())): p.value for p in otel.metrics().get(name, [])}


async def test_an_open_breaker_is_an_event_on_the_request_span_and_a_counted_transition(otel: Otel) -> None:
    down = Route("p1", "m1", FakeLLM(default=ProviderUnavailable("down", status=503), name="p1"))
    up = Route("p2", "m2", FakeLLM(default=ANSWER, name="p2"))
    llm = TracingLLM(policy(otel, down, up, breaker=BreakerConfig(failure_threshold=1, cooldown=60)), otel.telemetry)
    await llm.complete(ask())  # p1 fails and its breaker opens; p2 answers
    first = otel.request_span()
    opened = [e for e in first.events if e.name == "llmport.breaker"]
    assert [(e.attributes["llmport.route"], e.attributes["llmport.breaker.state"]) for e in opened] == [
        ("p1/m1", "open")]
    otel.spans.clear()
    await llm.complete(ask())  # p1 is skipped: an event, not a span
    second = otel.request_span()
    (skipped,) = [e for e in second.events if e.name == "llmport.route.skipped"]
    assert skipped.attributes["llmport.route"] == "p1/m1" and skipped.attributes["llmport.breaker.state"] == "open"
    assert skipped.attributes["llmport.reason"]  # why it was skipped
    assert [s.attributes["llmport.route"] for s in otel.attempts()] == ["p2/m2"]
    assert points(otel, "llmport.breaker.transitions") == {
        (("llmport.breaker.state", "open"), ("llmport.route", "p1/m1")): 1}
    attempts = points(otel, "llmport.attempts")
    assert attempts[(("llmport.outcome", "skipped"), ("llmport.route", "p1/m1"))] == 1
    assert attempts[(("llmport.outcome", "ok"), ("llmport.route", "p2/m2"))] == 2
    assert points(otel, "llmport.failovers") == {(("llmport.route", "p2/m2"),): 1}  # the skip is no failover


async def test_a_cache_hit_marks_the_request_span_and_is_counted(otel: Otel) -> None:
    observer = TelemetryObserver(otel.telemetry)
    route = Route("p1", "m1", FakeLLM(default=ANSWER, name="p1"))
    cached = CachingLLM(policy(otel, route, observer=observer), MemoryResponseCache(), observer=observer)
    llm = TracingLLM(cached, otel.telemetry)
    request = CompletionRequest(model="a", messages=[Message.user("hi")], cache=CachePolicy(response_ttl=60))
    await llm.complete(request)
    assert otel.request_span().attributes["llmport.cache.hit"] is False
    otel.spans.clear()
    async with llm.stream(request) as events:
        [e async for e in events]
    root = otel.request_span()
    assert root.attributes["llmport.cache.hit"] is True and not otel.attempts()  # no vendor call
    assert points(otel, "llmport.cache.hits") == {(("gen_ai.request.model", "a"),): 1}


def metered(otel: Otel, *routes: Route) -> TracingLLM:
    catalog = LayeredCatalog(None, {"p1/*": ModelInfo("p1", "*", price=ModelPrice.per_mtok(1000, 2000)),
                                    "p2/*": ModelInfo("p2", "*", price=ModelPrice.per_mtok(1000, 2000))})
    metering = MeteringObserver(catalog)
    observer = FanoutObserver(metering, TelemetryObserver(otel.telemetry))
    inner = policy(otel, *routes, observer=observer)
    return TracingLLM(MeteredLLM(inner, metering, routes=lambda m: inner.router.resolve(m).routes), otel.telemetry)


async def test_cost_on_the_request_span_and_in_the_cost_counter(otel: Otel) -> None:
    llm = metered(otel, Route("p1", "m1", FakeLLM(default=ANSWER, name="p1")))  # 3 in, 5 out
    await llm.complete(ask())
    await llm.complete(ask())
    expected = Decimal("0.013")  # 3 x $0.001 + 5 x $0.002
    assert otel.finished()[-1].attributes["llmport.cost_usd"] == pytest.approx(float(expected))
    assert points(otel, "llmport.cost") == {(("gen_ai.request.model", "a"),): pytest.approx(float(2 * expected))}


async def test_a_failed_request_still_counts_its_cost(otel: Otel) -> None:
    llm = metered(otel, Route("p1", "m1", FakeLLM(default=ProviderUnavailable("down"), name="p1")))
    with pytest.raises(AllProvidersFailed):
        await llm.complete(ask())
    root = otel.request_span()
    assert root.attributes["llmport.cost_usd"] > 0  # the lost attempt's input is estimated and priced
    assert points(otel, "llmport.cost")[(("gen_ai.request.model", "a"),)] == root.attributes["llmport.cost_usd"]


async def test_attempt_cost_from_the_described_route_price(otel: Otel) -> None:
    route = Route("p1", "m1", FakeLLM(default=ANSWER, name="p1"), price=ModelPrice.per_mtok(1000, 2000))
    llm = TracingLLM(policy(otel, route), otel.telemetry)
    await llm.complete(ask())
    (attempt,) = otel.attempts()
    assert "llmport.cost_usd" not in attempt.attributes  # the route was not described: no price known
    otel.telemetry.describe([route])
    otel.spans.clear()
    await llm.complete(ask())
    (attempt,) = otel.attempts()
    assert attempt.attributes["llmport.cost_usd"] == pytest.approx(0.013)


async def test_request_id_tenant_and_tags_join_the_spans_to_the_hosts_request(otel: Otel) -> None:
    llm = TracingLLM(policy(otel, Route("p1", "m1", FakeLLM(default=ANSWER, name="p1"))), otel.telemetry)
    request = CompletionRequest(model="a", messages=[Message.user("hi")], tenant_id="acme",
                                metadata={"request_id": "req-42", "feature": "summary"})
    await llm.complete(request)
    root = otel.request_span()
    assert root.attributes["llmport.request_id"] == "req-42" and root.attributes["llmport.tenant"] == "acme"
    assert root.attributes["llmport.tag.feature"] == "summary" and "llmport.tag.request_id" not in root.attributes
    (attempt,) = otel.attempts()
    assert attempt.attributes["llmport.request_id"] == "req-42"


async def test_a_generated_request_id_is_shared_by_the_request_span_and_its_attempts(otel: Otel) -> None:
    llm = TracingLLM(policy(otel, Route("p1", "m1", FakeLLM(default=ANSWER, name="p1"))), otel.telemetry)
    await llm.complete(ask())
    await llm.complete(ask())
    roots = [s for s in otel.finished() if s.name == "chat a"]
    ids = [r.attributes["llmport.request_id"] for r in roots]
    assert len(set(ids)) == 2 and all(len(i) == 16 for i in ids)
    for root in roots:
        (attempt,) = [s for s in otel.finished() if s.parent is not None
                      and s.parent.span_id == root.context.span_id]
        assert attempt.attributes["llmport.request_id"] == root.attributes["llmport.request_id"]


async def test_every_telemetry_on_one_meter_provider_reports_its_counts(otel: Otel) -> None:
    other = Telemetry(otel.tracer_provider, otel.meter_provider)  # a second container in the same process
    for telemetry in (otel.telemetry, other):
        route = Route("p1", "m1", FakeLLM(default=ANSWER, name="p1"))
        llm = TracingLLM(FailoverPolicy(Router([route], {"a": RouteSet("a", (route,))}),
                                        observer=TelemetryObserver(telemetry)), telemetry)
        await llm.complete(ask())
    assert points(otel, "llmport.attempts") == {(("llmport.outcome", "ok"), ("llmport.route", "p1/m1")): 2}


async def test_an_observer_without_a_request_span_still_records_attempts(otel: Otel) -> None:
    llm = policy(otel, Route("p1", "m1", FakeLLM(ProviderUnavailable("down", status=503), default=ANSWER,
                                                 name="p1")), retry=RetryPolicy(2, base_delay=0.0))
    await llm.complete(ask())
    spans = otel.finished()
    assert [s.attributes["llmport.outcome"] for s in spans] == ["error", "ok"]
    assert all(s.parent is None for s in spans)
    assert points(otel, "llmport.retries") == {(("llmport.route", "p1/m1"),): 1}


async def test_without_a_request_span_skips_and_breaker_changes_are_events_on_the_current_span(otel: Otel) -> None:
    down = Route("p1", "m1", FakeLLM(default=ProviderUnavailable("down", status=503), name="p1"))
    up = Route("p2", "m2", FakeLLM(default=ANSWER, name="p2"))
    llm = policy(otel, down, up, breaker=BreakerConfig(failure_threshold=1, cooldown=60))
    with otel.telemetry.tracer.start_as_current_span("GET /chat"):
        await llm.complete(ask())
        await llm.complete(ask())
    (host,) = [s for s in otel.finished() if s.name == "GET /chat"]
    assert [e.name for e in host.events] == ["llmport.breaker", "llmport.route.skipped"]


def test_attribute_sets_are_bounded_and_rebuilt_when_full(otel: Otel) -> None:
    t = otel.telemetry
    first = t.route_attributes("p/m0", "p", "m0")
    assert t.route_attributes("p/m0", "p", "m0") is first  # built once
    for i in range(1, 5000):
        attrs = t.route_attributes(f"p/m{i}", "p", f"m{i}")
        assert attrs["gen_ai.request.model"] == f"m{i}" and attrs["llmport.route"] == f"p/m{i}"
        base, tokens_in, tokens_out = t.series("p", f"m{i}")
        assert (base["gen_ai.request.model"], tokens_in["gen_ai.token.type"], tokens_out["gen_ai.token.type"]) == (
            f"m{i}", "input", "output")
    assert len(t._routes) <= 4096 and len(t._series) <= 4096


async def test_describing_routes_after_calls_gives_later_attempts_their_endpoint(emu: VendorEmulator,
                                                                                 otel: Otel) -> None:
    import openai

    from llmport.adapters.openai import OpenAIAdapter

    client = openai.AsyncOpenAI(api_key="sk-test-describe-key", base_url=f"{emu.url}/v1", max_retries=0)
    route = Route("p1", "gpt-test", OpenAIAdapter(client, provider="p1"))
    llm = TracingLLM(policy(otel, route), otel.telemetry)
    try:
        await llm.complete(ask())
        assert "server.address" not in otel.attempts()[0].attributes
        otel.telemetry.describe([], {"p1": route.adapter})  # by provider: routes named on demand too
        otel.spans.clear()
        await llm.complete(ask())
    finally:
        await llm.aclose()
    (attempt,) = otel.attempts()
    assert (attempt.attributes["server.address"], attempt.attributes["server.port"]) == ("127.0.0.1", emu.port)
