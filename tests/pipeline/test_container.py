"""The pipeline as the container builds it from settings, against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from dependency_injector import providers

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Reply
from llmport.adapters.testing.fake import FakeLLM
from llmport.composition import Container, start, stop
from llmport.composition.settings import SettingsError, load_settings
from llmport.domain import CachePolicy, Completion, CompletionRequest, Message
from llmport.ports.context import CallableContextSource, ContextEnricher, Snippet
from llmport.ports.metering import MeteredLLM
from llmport.ports.pipeline import LLMStep, evolve, innermost
from llmport.ports.response_cache import CachingLLM

from ..money.conftest import deployment, stack

ALIAS = {"smart": ["oai/gpt-4o"]}


def ask(text: str = "How do we deploy?", **kw: object) -> CompletionRequest:
    return CompletionRequest(model="smart", messages=[Message.user(text)], **kw)  # type: ignore[arg-type]


def chat_calls(emu: VendorEmulator) -> list[object]:
    return [e for e in emu.journal.entries(vendor="openai") if e.endpoint == "chat"]


async def test_the_container_assembles_enrichment_cache_budgets_policy(emu: VendorEmulator, tmp_path: Path) -> None:
    (tmp_path / "deploy.md").write_text("---\ntenants: [acme]\n---\nDeploy with the blue-green runbook.",
                                        encoding="utf-8")
    emu.script(then=Reply("Blue-green, as the runbook says."), tag="oai")
    settings = deployment(emu, "oai", aliases=ALIAS, cache={"aliases": {"smart": {"ttl": 60}}},
                          context={"directory": str(tmp_path), "max_tokens": 200})
    async with stack(settings) as c:
        llm = c.llm()
        chain = []
        port = llm.inner  # the container's llm guards the event loop in front of the pipeline
        while isinstance(port, LLMStep):
            chain.append(type(port))
            port = port.inner
        assert chain == [ContextEnricher, CachingLLM]
        assert isinstance(port, MeteredLLM) and innermost(llm) is c.policy()
        first = await llm.complete(ask(tenant_id="acme"))
        second = await llm.complete(ask(tenant_id="acme"))
        assert (first.cached, second.cached) == (False, True)
        calls = chat_calls(emu)
        assert len(calls) == 1
        system = [m["content"] for m in calls[0].body["messages"] if m["role"] == "system"]  # type: ignore[attr-defined]
        assert system == ["Deploy with the blue-green runbook."]
        records = await c.ledger().records()
        assert [r.outcome for r in records] == ["ok", "cached"]


async def test_requests_opt_in_and_the_backend_can_be_off(emu: VendorEmulator) -> None:
    async with stack(deployment(emu, "oai", aliases=ALIAS)) as c:
        await c.llm().complete(ask(cache=CachePolicy(response_ttl=30)))
        assert (await c.llm().complete(ask(cache=CachePolicy(response_ttl=30)))).cached
        assert not (await c.llm().complete(ask())).cached
    assert len(chat_calls(emu)) == 2
    async with stack(deployment(emu, "oai", aliases=ALIAS, cache={"backend": "off"})) as c:
        assert c.llm().inner is c.metered()
        await c.llm().complete(ask(cache=CachePolicy(response_ttl=30)))
        assert not (await c.llm().complete(ask(cache=CachePolicy(response_ttl=30)))).cached
    assert len(chat_calls(emu)) == 4


async def test_a_host_inserts_its_own_steps_and_context_source(emu: VendorEmulator) -> None:
    class Redact(LLMStep):
        async def complete(self, request: CompletionRequest) -> Completion:
            message = Message.user(request.messages[-1].text.replace("4111-1111", "[card]"))
            return await self.inner.complete(evolve(request, messages=(*request.messages[:-1], message)))

    source = CallableContextSource(lambda q: [Snippet(f"Guidance for {q.tenant}.", "kb")])
    container = Container()
    container.settings.override(providers.Object(deployment(emu, "oai", aliases=ALIAS)))
    container.pipeline_steps.override(providers.Object([Redact]))  # before start: the pipeline is built then
    container.context_source.override(providers.Object(source))
    llm = await start(container)
    try:
        await llm.complete(ask("My card is 4111-1111", tenant_id="acme"))
    finally:
        await stop(container)
    body = chat_calls(emu)[0].body  # type: ignore[attr-defined]
    assert body["messages"] == [{"role": "system", "content": "Guidance for acme."},
                                {"role": "user", "content": "My card is [card]"}]


async def test_overriding_llm_replaces_the_whole_chain(emu: VendorEmulator) -> None:
    fake = FakeLLM("scripted")
    async with stack(deployment(emu, "oai", aliases=ALIAS)) as c:
        c.llm.override(providers.Object(fake))
        assert c.llm() is fake
        assert (await c.llm().complete(ask(cache=CachePolicy(response_ttl=30)))).text == "scripted"
    assert chat_calls(emu) == []


def test_environment_variables_configure_the_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPORT_CACHE__BACKEND", "memory")
    monkeypatch.setenv("LLMPORT_CACHE__TTL", "120")
    monkeypatch.setenv("LLMPORT_CACHE__MAX_ENTRIES", "50")
    monkeypatch.setenv("LLMPORT_CACHE__ALIASES__FAQ__TTL", "3600")
    monkeypatch.setenv("LLMPORT_CACHE__ALIASES__FAQ__SHARED", "true")
    monkeypatch.setenv("LLMPORT_CONTEXT__MAX_TOKENS", "300")
    settings = load_settings()
    assert (settings.cache.backend, settings.cache.ttl, settings.cache.max_entries) == ("memory", 120, 50)
    assert settings.cache.aliases["faq"].ttl == 3600 and settings.cache.aliases["faq"].shared
    assert settings.context.max_tokens == 300


@pytest.mark.parametrize(("name", "value"), [("LLMPORT_CACHE__BACKEND", "disk"), ("LLMPORT_CACHE__TTL", "-1"),
                                             ("LLMPORT_CONTEXT__MAX_TOKENS", "0")])
def test_bad_pipeline_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


async def test_a_bad_context_directory_stops_start_up(emu: VendorEmulator, tmp_path: Path) -> None:
    settings = deployment(emu, "oai", aliases=ALIAS, context={"directory": str(tmp_path / "missing")})
    with pytest.raises(SettingsError, match="LLMPORT_CONTEXT__DIRECTORY"):
        async with stack(settings) as c:
            c.llm()


async def test_replicas_share_answers_through_the_redis_backend(emu: VendorEmulator, redis_url: str) -> None:
    from llmport.adapters.cache_redis import RedisResponseCache

    settings = deployment(emu, "oai", aliases=ALIAS, state={"url": redis_url, "namespace": "pipeline", "timeout": 2.0},
                          cache={"backend": "redis", "aliases": {"smart": {"ttl": 60}}})
    async with stack(settings) as one, stack(settings) as two:
        assert isinstance(one.response_cache(), RedisResponseCache)
        first = await one.llm().complete(ask(tenant_id="acme"))
        second = await two.llm().complete(ask(tenant_id="acme"))
        assert (first.cached, second.cached) == (False, True) and second.text == first.text
    assert len(chat_calls(emu)) == 1
