"""Context enrichment: choosing guidance, the token cap, and the guidance reaching each vendor's
system field through the real SDKs (the emulator's journal shows the request as sent)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmport.adapters.cache_memory import MemoryResponseCache
from llmport.adapters.context_markdown import ContextFileError, MarkdownContextSource, parse_front_matter
from llmport.adapters.testing.emulator import JournalEntry, VendorEmulator
from llmport.domain import CachePolicy, CompletionRequest, Message, TextDelta
from llmport.ports import FailoverPolicy, RecordingObserver
from llmport.ports.context import (
    CallableContextSource,
    ContextEnricher,
    ContextQuery,
    Snippet,
    estimate_tokens,
    select,
)
from llmport.ports.pipeline import chain
from llmport.ports.response_cache import CacheConfig, CacheRule, CachingLLM

from ..contract.conftest import HARNESSES
from ..contract.harness import Harness
from .conftest import upstream_calls

GUIDES = {
    "python.md": "---\ntags: [python]\npriority: 5\n---\nUse type hints everywhere.\n",
    "sql.md": "---\ntags: python, sql\nkeywords: [database, SQL]\npriority: 9\n---\nNever build SQL by hand.\n",
    "acme/style.md": "---\ntenants: [acme]\npriority: 1\n---\nAcme writes British English.\n",
    "general.md": "Answer with the reasoning first.\n",
    "empty.md": "---\ntags: [python]\n---\n\n",
}


@pytest.fixture
def guides(tmp_path: Path) -> Path:
    for name, text in GUIDES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not guidance", encoding="utf-8")
    return tmp_path


def query(tenant: str | None = None, tags: str = "", text: str = "hello") -> ContextQuery:
    request = CompletionRequest(model="m", messages=[Message.user("earlier"), Message.assistant("ok"),
                                                     Message.user(text)],
                                tenant_id=tenant, metadata={"tags": tags} if tags else {})
    return ContextQuery.of(request)


def test_query_reads_tenant_tags_and_last_user_message() -> None:
    q = query("acme", " Python , SQL,,", "the database is slow")
    assert (q.tenant, q.tags, q.last_user_message) == ("acme", frozenset({"python", "sql"}), "the database is slow")
    assert query().tags == frozenset()


async def test_markdown_snippets_by_tenant_tag_and_keyword(guides: Path) -> None:
    source = MarkdownContextSource(guides)

    async def names(q: ContextQuery) -> set[str]:
        return {s.source for s in await source.snippets(q)}

    assert await names(query()) == {"general.md"}
    assert await names(query("acme")) == {"general.md", "acme/style.md"}
    assert await names(query("globex", "python")) == {"general.md", "python.md"}
    assert await names(query("acme", "sql", "why is the DATABASE slow?")) == {"general.md", "acme/style.md", "sql.md"}
    assert await names(query(None, "python", "no keyword here")) == {"general.md", "python.md"}
    snippet = next(s for s in await source.snippets(query(tags="python")) if s.source == "python.md")
    assert (snippet.text, snippet.priority) == ("Use type hints everywhere.", 5)


async def test_markdown_reload_sees_new_files(guides: Path) -> None:
    source = MarkdownContextSource(guides)
    (guides / "new.md").write_text("Fresh guidance.", encoding="utf-8")
    assert "new.md" not in {s.source for s in await source.snippets(query())}
    source.reload()
    assert "new.md" in {s.source for s in await source.snippets(query())}


@pytest.mark.parametrize(("text", "problem"), [
    ("---\ntags: [a]\nno colon here\n---\nbody", "expected 'key: value'"),
    ("---\ntags: [a]\nbody never closed", "never closed"),
    ("---\npriority: high\n---\nbody", "priority must be an integer"),
])
def test_malformed_front_matter_names_the_file(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "bad.md").write_text(text, encoding="utf-8")
    with pytest.raises(ContextFileError, match=problem) as info:
        MarkdownContextSource(tmp_path)
    assert "bad.md" in str(info.value)


def test_unreadable_files_and_missing_directories_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ContextFileError, match="not a directory"):
        MarkdownContextSource(tmp_path / "missing")
    (tmp_path / "latin.md").write_bytes(b"caf\xe9")
    with pytest.raises(ContextFileError, match=r"latin\.md: cannot read"):
        MarkdownContextSource(tmp_path)


def test_front_matter_forms() -> None:
    meta, body = parse_front_matter("\ufeff---\n# a comment\ntags: 'a', \"b\"  # trailing\nTitle: X\n---\nbody\nmore")
    assert meta == {"tags": ["a", "b"], "title": "X"}
    assert body == "body\nmore"
    assert parse_front_matter("no front matter") == ({}, "no front matter")


async def test_callable_sources_sync_and_async() -> None:
    def sync(q: ContextQuery) -> list[Snippet]:
        return [Snippet(f"tenant {q.tenant}", "kb")]

    async def async_(q: ContextQuery) -> Sequence[Snippet]:
        return (Snippet(q.last_user_message.upper(), "kb-async"),)

    assert await CallableContextSource(sync).snippets(query("acme")) == (Snippet("tenant acme", "kb"),)
    assert await CallableContextSource(async_).snippets(query(text="hi")) == (Snippet("HI", "kb-async"),)


def test_select_keeps_whole_snippets_by_priority() -> None:
    snippets = [Snippet("a" * 40, "low", 1), Snippet("b" * 80, "high", 9), Snippet("c" * 60, "mid", 5),
                Snippet("d" * 4, "tiny", 0), Snippet("   ", "blank", 99)]
    chosen = select(snippets, max_tokens=36)  # high and mid: 142 characters, 36 tokens; tiny would make 37
    assert [s.source for s in chosen.used] == ["high", "mid"]
    assert [s.source for s in chosen.dropped] == ["low", "tiny"]
    roomy = select(snippets, max_tokens=37)
    assert [s.source for s in roomy.used] == ["high", "mid", "tiny"]
    assert roomy.text == "b" * 80 + "\n\n" + "c" * 60 + "\n\n" + "dddd"
    assert select(snippets, 0).used == ()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.builds(Snippet, st.text(min_size=1, max_size=60), st.text(max_size=5), st.integers(-3, 3)),
                max_size=8),
       st.integers(0, 60))
def test_select_respects_the_cap_and_never_cuts(snippets: list[Snippet], cap: int) -> None:
    chosen = select(snippets, cap)
    assert estimate_tokens(chosen.text) <= cap
    assert set(chosen.used) | set(chosen.dropped) == {s for s in snippets if s.text.strip()}
    assert all(s.text.strip() in chosen.text for s in chosen.used)
    priorities = [s.priority for s in chosen.used]
    assert priorities == sorted(priorities, reverse=True)
    for dropped in chosen.dropped:  # dropped only because it did not fit
        assert estimate_tokens(chosen.text + "\n\n" + dropped.text.strip()) > cap


async def test_enricher_appends_guidance_and_reports_drops(guides: Path) -> None:
    from llmport.adapters.testing.fake import FakeLLM

    fake = FakeLLM(default="answer")
    observer = RecordingObserver()
    llm = ContextEnricher(fake, MarkdownContextSource(guides), max_tokens=12, observer=observer)
    request = CompletionRequest(model="m", messages=[Message.user("the database")], system="You are helpful.",
                                tenant_id="acme", metadata={"tags": "sql"})
    await llm.complete(request)
    sent = fake.requests[-1]
    assert sent.system == "You are helpful.\n\nNever build SQL by hand."
    event = observer.attempts[-1]
    assert (event.route, event.outcome) == ("context", "enriched")
    assert event.detail == "used: sql.md; dropped by the token cap: acme/style.md, general.md"
    assert request.system == "You are helpful."  # the caller's request is untouched


async def test_enricher_without_guidance_passes_the_request_as_is(tmp_path: Path) -> None:
    from llmport.adapters.testing.fake import FakeLLM

    fake = FakeLLM(default="answer")
    observer = RecordingObserver()
    llm = ContextEnricher(fake, MarkdownContextSource(tmp_path), observer=observer)
    request = CompletionRequest(model="m", messages=[Message.user("hi")])
    await llm.complete(request)
    assert fake.requests[-1] is request and observer.attempts == []
    async with llm.stream(request) as events:
        assert "".join([e.text async for e in events if isinstance(e, TextDelta)]) == "answer"
    assert fake.requests[-1] is request and len(fake.requests) == 2 and observer.attempts == []
    assert await llm.count_tokens(request) > 0


async def test_enricher_streams_and_counts_with_guidance() -> None:
    from llmport.adapters.testing.fake import FakeLLM

    fake = FakeLLM(default="streamed")
    llm = ContextEnricher(fake, CallableContextSource(lambda q: [Snippet("Be kind.", "kb")]))
    request = CompletionRequest(model="m", messages=[Message.user("hi")])
    async with llm.stream(request) as events:
        text = "".join([e.text async for e in events if isinstance(e, TextDelta)])
    assert text == "streamed" and fake.requests[-1].system == "Be kind."
    counted = await llm.count_tokens(request)
    assert counted >= await fake.count_tokens(request) + estimate_tokens("Be kind.") - 1


def system_field(entry: JournalEntry) -> str:
    """The text of the vendor's own system field in the request as sent."""
    body: dict[str, Any] = entry.body
    if entry.vendor == "openai":
        if "instructions" in body or "input" in body:  # Responses API
            texts = [body.get("instructions") or ""]
            texts += [_text(i.get("content")) for i in body.get("input", [])
                      if isinstance(i, dict) and i.get("role") in ("system", "developer")]
            return "\n".join(t for t in texts if t)
        return "\n".join(_text(m.get("content")) for m in body["messages"] if m.get("role") in ("system", "developer"))
    if entry.vendor in ("anthropic", "anthropic_bedrock"):
        return _text(body.get("system"))
    if entry.vendor == "google":
        system = body.get("systemInstruction") or body.get("system_instruction") or {}
        return _text(system.get("parts"))
    if entry.vendor == "bedrock":
        return _text(body.get("system"))
    raise AssertionError(f"unknown vendor {entry.vendor}")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(v.get("text")) if isinstance(v, dict) else _text(v) for v in value)
    return ""


FAMILIES = {h.vendor for h in HARNESSES}


@pytest.mark.parametrize("harness", HARNESSES, ids=[h.name for h in HARNESSES])
async def test_guidance_reaches_each_vendors_system_field(harness: Harness, emu: VendorEmulator) -> None:
    adapter = harness.build(emu.url)
    guidance = CallableContextSource(lambda q: [Snippet(f"Guidance for {q.tenant}: cite the ADR.", "adr-7.md")])
    llm = ContextEnricher(adapter, guidance)
    try:
        request = CompletionRequest(model=harness.model, messages=[Message.user("How do we deploy?")],
                                    system="You are the team's assistant.", tenant_id="acme")
        await llm.complete(request)
        async with llm.stream(request) as events:
            assert [e async for e in events]
    finally:
        await adapter.aclose()
    entries = [e for e in emu.journal.entries() if "count" not in e.endpoint]
    assert len(entries) == 2
    for entry in entries:
        system = system_field(entry)
        assert "You are the team's assistant." in system
        assert "Guidance for acme: cite the ADR." in system
        users = _user_turns(entry)
        assert users and "cite the ADR" not in str(users)


def _user_turns(entry: JournalEntry) -> list[Any]:
    body = entry.body
    turns = body.get("messages") or body.get("contents") or body.get("input") or []
    return [t for t in turns if isinstance(t, dict) and t.get("role") == "user"]


def test_every_family_is_covered() -> None:
    assert {"openai", "anthropic", "google", "bedrock"} <= FAMILIES


async def test_enrichment_comes_before_the_cache_key(policy: FailoverPolicy, emu: VendorEmulator) -> None:
    guidance = {"acme": "Acme: British English.", "globex": "Globex: American English."}
    source = CallableContextSource(lambda q: [Snippet(guidance.get(q.tenant or "", "Plain English."), "style")])
    llm = chain([lambda inner: ContextEnricher(inner, source),
                 lambda inner: CachingLLM(inner, MemoryResponseCache(),
                                          CacheConfig(aliases={"shared": CacheRule(shared=True)}))], policy)

    def ask(tenant: str) -> CompletionRequest:
        return CompletionRequest(model="shared", messages=[Message.user("Spell colour.")], tenant_id=tenant,
                                 cache=CachePolicy())

    assert not (await llm.complete(ask("acme"))).cached
    assert not (await llm.complete(ask("globex"))).cached  # same shared alias, other guidance: another answer
    assert (await llm.complete(ask("acme"))).cached
    assert (await llm.complete(ask("initech"))).text == (await llm.complete(ask("umbrella"))).text
    assert upstream_calls(emu) == 3


async def test_the_enrichment_event_and_the_policys_events_share_one_request_id() -> None:
    from llmport.adapters.testing.fake import FakeLLM

    observer = RecordingObserver()
    policy = FakeLLM(default="answer").as_policy(observer=observer)
    llm = ContextEnricher(policy, CallableContextSource(lambda q: [Snippet("Be kind.", "kb")]), observer=observer)
    request = CompletionRequest(model="m", messages=[Message.user("hi")])
    await llm.complete(request)
    async with llm.stream(request) as events:
        assert [e async for e in events]
    ids = [(e.route, e.request_id) for e in observer.attempts]
    assert [route for route, _ in ids] == ["context", "fake/m", "context", "fake/m"]
    first, second = {rid for _, rid in ids[:2]}, {rid for _, rid in ids[2:]}
    assert len(first) == len(second) == 1 and first != second  # one id per call, none left bound after it
    await llm.complete(CompletionRequest(model="m", messages=[Message.user("hi")], metadata={"request_id": "host-1"}))
    assert {e.request_id for e in observer.attempts[4:]} == {"host-1"}
