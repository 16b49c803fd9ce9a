"""How the composition root assembles the pipeline from the ``cache`` and ``context`` settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llmport.adapters.cache_memory import MemoryResponseCache
from llmport.adapters.cache_redis import RedisResponseCache
from llmport.adapters.context_markdown import MarkdownContextSource
from llmport.adapters.redis import RedisConnection
from llmport.adapters.testing.fake import FakeLLM
from llmport.composition.pipeline_factory import (
    build_context_source,
    build_pipeline,
    build_response_cache,
    route_set_namer,
)
from llmport.composition.pipeline_settings import CacheAliasSettings, CacheSettings, ContextSettings
from llmport.composition.settings import SettingsError
from llmport.domain import CompletionRequest, Message
from llmport.ports import FailoverPolicy, LLMPort, RecordingObserver, Route
from llmport.ports.context import CallableContextSource, ContextEnricher, Snippet
from llmport.ports.pipeline import LLMStep, innermost
from llmport.ports.response_cache import CacheRule, CachingLLM


def policy() -> FailoverPolicy:
    a, b = Route("a", "m1", FakeLLM(name="a")), Route("b", "m2", FakeLLM(name="b"))
    return FailoverPolicy.of(a, b, aliases={"smart": [a, b], "backup": [b]})


def test_backends() -> None:
    assert build_response_cache(CacheSettings(backend="off")) is None
    memory = build_response_cache(CacheSettings(max_entries=7, max_bytes=4096))
    assert isinstance(memory, MemoryResponseCache) and (memory.max_entries, memory.max_bytes) == (7, 4096)
    connection = RedisConnection("redis://127.0.0.1:1", namespace="t")
    assert isinstance(build_response_cache(CacheSettings(backend="redis"), connection), RedisResponseCache)
    with pytest.raises(SettingsError, match="LLMPORT_CACHE__BACKEND"):
        build_response_cache(CacheSettings(backend="redis"))


@pytest.mark.parametrize("bad", [{"backend": "disk"}, {"ttl": 0}, {"ttl": float("inf")}, {"max_entries": 0},
                                 {"max_bytes": 10}, {"aliases": {"x": {"ttl": -1}}}, {"surprise": 1}])
def test_cache_settings_reject_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CacheSettings(**bad)  # type: ignore[arg-type]


def test_cache_settings_make_the_step_config() -> None:
    config = CacheSettings(ttl=60, aliases={"faq": CacheAliasSettings(ttl=3600, shared=True),
                                            "smart": CacheAliasSettings()}, lock_ttl=2, chunk_size=16).config()
    assert config.ttl == 60 and config.lock_ttl == 2 and config.chunk_size == 16
    assert config.aliases == {"faq": CacheRule(3600, True), "smart": CacheRule(None, False)}


def test_context_source_from_a_directory(tmp_path: Path) -> None:
    assert build_context_source(ContextSettings()) is None
    (tmp_path / "a.md").write_text("Guidance.", encoding="utf-8")
    assert isinstance(build_context_source(ContextSettings(directory=str(tmp_path))), MarkdownContextSource)
    with pytest.raises(SettingsError, match=r"LLMPORT_CONTEXT__DIRECTORY: .* is not a directory"):
        build_context_source(ContextSettings(directory=str(tmp_path / "missing")))
    (tmp_path / "bad.md").write_text("---\nno colon\n---\nx", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"LLMPORT_CONTEXT__DIRECTORY: bad\.md:2"):
        build_context_source(ContextSettings(directory=str(tmp_path)))


def test_route_sets_name_their_routes() -> None:
    name = route_set_namer(policy())
    assert name("smart") == "a/m1,b/m2"
    assert name("backup") == "b/m2"
    assert name("a/m1") == "a/m1"


def test_nothing_configured_is_the_policy_itself() -> None:
    p = policy()
    assert build_pipeline(p, RecordingObserver(), cache_settings=CacheSettings(),
                          context_settings=ContextSettings()) is p


def test_the_order_is_host_steps_enrichment_cache_policy() -> None:
    p, observer = policy(), RecordingObserver()

    class Redactor(LLMStep):
        pass

    source = CallableContextSource(lambda q: [Snippet("x", "s")])
    llm = build_pipeline(p, observer, cache_settings=CacheSettings(ttl=9, aliases={"smart": CacheAliasSettings()}),
                         context_settings=ContextSettings(max_tokens=77), cache=MemoryResponseCache(),
                         context=source, host_steps=[Redactor])
    chain: list[LLMPort] = []
    port: LLMPort = llm
    while isinstance(port, LLMStep):
        chain.append(port)
        port = port.inner
    assert [type(s) for s in chain] == [Redactor, ContextEnricher, CachingLLM]
    assert port is p and innermost(llm) is p
    enricher, cacher = chain[1], chain[2]
    assert isinstance(enricher, ContextEnricher) and enricher.max_tokens == 77 and enricher.observer is observer
    assert isinstance(cacher, CachingLLM) and cacher.observer is observer and cacher.config.ttl == 9
    assert cacher.route_set("smart") == "a/m1,b/m2"


def test_an_unknown_cached_alias_stops_start_up() -> None:
    with pytest.raises(SettingsError, match="LLMPORT_CACHE__ALIASES__NOPE: 'nope' is not a configured alias"):
        build_pipeline(policy(), RecordingObserver(),
                       cache_settings=CacheSettings(aliases={"nope": CacheAliasSettings()}),
                       context_settings=ContextSettings(), cache=MemoryResponseCache())


async def test_the_assembled_pipeline_answers_from_its_cache() -> None:
    p = policy()
    llm = build_pipeline(p, RecordingObserver(), cache_settings=CacheSettings(aliases={"smart": CacheAliasSettings()}),
                         context_settings=ContextSettings(), cache=MemoryResponseCache())
    request = CompletionRequest(model="smart", messages=[Message.user("hi")])
    await llm.complete(request)
    assert (await llm.complete(request)).cached
    first = p.router.resolve("smart").routes[0].adapter
    assert isinstance(first, FakeLLM) and len(first.requests) == 1
    await llm.aclose()
    assert first.closed


def test_steps_expose_what_the_end_of_the_pipeline_offers() -> None:
    p = policy()
    llm = build_pipeline(p, RecordingObserver(), cache_settings=CacheSettings(), context_settings=ContextSettings(),
                         cache=MemoryResponseCache())
    assert llm.breaker_states() == p.breaker_states()  # type: ignore[attr-defined]
    assert llm.router is p.router  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        llm.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
