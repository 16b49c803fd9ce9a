"""The cache's pure parts: the key, the stored form, the in-memory store's bounds."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmport.adapters.cache_memory import MemoryResponseCache
from llmport.domain import (
    CachePolicy,
    Completion,
    CompletionRequest,
    ImagePart,
    Message,
    ReasoningConfig,
    ReasoningPart,
    ResponseFormat,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    ToolSpec,
    Usage,
)
from llmport.ports.cache_codec import CacheDataError, Uncacheable, decode, encode
from llmport.ports.cache_key import cache_key

from ..failover.conftest import FakeClock

TOOL = ToolSpec("lookup", "Look something up", {"type": "object", "properties": {"q": {"type": "string"}}})


def req(**kw: object) -> CompletionRequest:
    values: dict[str, object] = {"model": "smart", "messages": [Message.user("hi")]}
    values.update(kw)
    return CompletionRequest(**values)  # type: ignore[arg-type]


def key(request: CompletionRequest, route_set: str = "smart", tenant: str | None = "t") -> str:
    return cache_key(request, route_set, tenant)


VARIANTS = [
    {"messages": [Message.user("hello")]},
    {"messages": [Message.user("hi"), Message.assistant("yo"), Message.user("hi")]},
    {"messages": [Message.system("s"), Message.user("hi")]},
    {"messages": [Message.user("hi", ImagePart(url="https://example.com/a.png"))]},
    {"messages": [Message.user("hi", ImagePart(data=b"\x89PNG", media_type="image/png"))]},
    {"messages": [Message.user("hi", ImagePart(data=b"\x89PNX", media_type="image/png"))]},
    {"system": "Be brief."}, {"tools": [TOOL]}, {"tools": [TOOL], "tool_choice": ToolChoice.REQUIRED},
    {"tools": [TOOL], "tool_choice": ToolChoice.tool("lookup")}, {"temperature": 0.0}, {"temperature": 1.0},
    {"top_p": 0.5}, {"max_tokens": 10}, {"stop": ["x"]}, {"response_format": ResponseFormat.JSON},
    {"response_format": ResponseFormat.json_schema({"type": "object"})}, {"seed": 1},
    {"reasoning": ReasoningConfig()}, {"reasoning": ReasoningConfig("high")},
]


def test_every_answer_changing_field_changes_the_key() -> None:
    keys = [key(req())] + [key(req(**v)) for v in VARIANTS]
    assert len(set(keys)) == len(keys)


def test_keys_are_stable_across_processes_and_releases() -> None:
    # Replicas share keys through Redis: the key of a request must never depend on the process.
    # If this digest changes, old entries become misses (acceptable only with a deliberate format bump).
    request = req(system="s", tools=[TOOL], stop=["x"], seed=3, temperature=0.5,
                  response_format=ResponseFormat.json_schema({"type": "object", "properties": {"a": {}}}),
                  messages=[Message.user("hi", ImagePart(data=b"\x89PNG", media_type="image/png")),
                            Message.assistant("yo"), Message.user("bye")])
    assert key(request) == GOLDEN


GOLDEN = "7babc55a5c8e3d8167a139b88d4f50dc563a56198187bbed8cfa588facaa918e"  # key format 4


def test_nested_values_and_schemas_are_keyed_in_full() -> None:
    def tool(kind: str) -> ToolSpec:
        return ToolSpec("lookup", "", {"type": "object", "properties": {"q": {"type": kind}}})

    assert key(req(tools=[tool("string")])) != key(req(tools=[tool("integer")]))
    one = ResponseFormat.json_schema({"type": "object", "properties": {"a": {"type": "string"}}})
    two = ResponseFormat.json_schema({"type": "object", "properties": {"a": {"type": "number"}}})
    assert key(req(response_format=one)) != key(req(response_format=two))
    assert key(req(response_format=ResponseFormat("json"))) == key(req(response_format=ResponseFormat.JSON))


def test_route_set_and_tenant_change_the_key() -> None:
    r = req()
    assert len({key(r), key(r, route_set="primary/gpt"), key(r, tenant="u"), key(r, tenant=None)}) == 4


def test_what_cannot_change_the_answer_leaves_the_key() -> None:
    base = key(req())
    same = [req(timeout=5.0), req(attempt_timeout=1.0), req(deadline=123.0), req(metadata={"a": "b"}),
            req(cache=CachePolicy(response_ttl=5, refresh=True)), req(tenant_id="other"),
            req(model="other-model-same-route-set"),
            req(messages=[Message.user("hi", cache_breakpoint=True)])]
    assert {key(r) for r in same} == {base}


def test_tool_result_flow_is_keyed() -> None:
    call = ToolCallPart("c1", "lookup", {"q": "x"})
    convo = [Message.user("hi"), Message("assistant", (call,)), Message.tool_result("c1", "42")]  # type: ignore[arg-type]
    other = [Message.user("hi"), Message("assistant", (call,)), Message.tool_result("c1", "43")]  # type: ignore[arg-type]
    assert key(req(messages=convo, tools=[TOOL])) != key(req(messages=other, tools=[TOOL]))
    assert ToolResultPart("c1", "42") != ToolResultPart("c1", "43")


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4),
       st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4))
def test_tool_arguments_key_like_their_json(a: dict[str, object], b: dict[str, object]) -> None:
    ka = key(req(messages=[Message.user("q"), Message.assistant(tool_calls=[ToolCallPart("c", "lookup", a)]),
                           Message.tool_result("c", "r")]))
    kb = key(req(messages=[Message.user("q"), Message.assistant(tool_calls=[ToolCallPart("c", "lookup", b)]),
                           Message.tool_result("c", "r")]))
    assert (ka == kb) == (a == b)


texts = st.text(max_size=40)
parts = st.one_of(
    texts.filter(bool).map(TextPart),
    st.builds(ReasoningPart, texts, st.none() | texts, st.none() | st.sampled_from(["anthropic", "openai"]),
              st.booleans()),
    st.builds(ToolCallPart, texts.filter(bool), st.sampled_from(["lookup", "other"]),
              st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5) | st.none(), max_size=3),
              st.none() | texts),
)
completions = st.builds(
    Completion, st.lists(parts, max_size=5).map(tuple),
    st.builds(StopReason, st.sampled_from(["end_turn", "max_tokens", "tool_use", "other"]), st.none() | texts),
    st.builds(Usage, *[st.integers(0, 10**9)] * 5, st.booleans()),
    st.none() | texts, st.none() | texts, st.none() | texts,
)


@settings(max_examples=80, deadline=None)
@given(completions)
def test_stored_form_round_trips(completion: Completion) -> None:
    back = decode("k", encode("k", completion))
    assert back == completion
    assert back.cached


@settings(max_examples=80, deadline=None)
@given(completions, st.data())
def test_damaged_data_is_never_an_answer_or_an_unexpected_error(completion: Completion, data: st.DataObject) -> None:
    raw = encode("k", completion)
    cut = data.draw(st.integers(0, max(0, len(raw) - 1)))
    with pytest.raises(CacheDataError):
        decode("k", raw[:cut])
    flipped = data.draw(st.binary(min_size=1, max_size=len(raw)))
    with contextlib.suppress(CacheDataError):  # any other exception fails the test
        decode("k", flipped)


@pytest.mark.parametrize("raw", [
    b"", b"null", b"[]", b"{}", b'{"f":"llmport.cache/0"}', b"\xff\xfe", b'{"f":"llmport.cache/1","k":"k"}',
    b'{"f":"llmport.cache/1","k":"k","p":[["x"]],"s":["end_turn",null],"u":[0,0,0,0,0,true],"m":[null,null,null]}',
    b'{"f":"llmport.cache/1","k":"k","p":[],"s":["bogus",null],"u":[0,0,0,0,0,true],"m":[null,null,null]}',
    b'{"f":"llmport.cache/1","k":"k","p":[],"s":["end_turn",null],"u":[0,-1,0,0,0,true],"m":[null,null,null]}',
    b'{"f":"llmport.cache/1","k":"k","p":[],"s":["end_turn",null],"u":[0,true,0,0,0,true],"m":[null,null,null]}',
    b'{"f":"llmport.cache/1","k":"k","p":[["t",1]],"s":["end_turn",null],"u":[0,0,0,0,0,true],"m":[null,null,null]}',
    b'{"f":"llmport.cache/1","k":"k","p":[],"s":["end_turn",null],"u":[0,0,0,0,0,true],"m":[1,null,null]}',
    b'{"f":"llmport.cache/1","k":"k","p":[],"s":["end_turn",null],"u":[0,0,0,0,0],"m":[null,null,null]}',
    b'{"f":"llmport.cache/1","k":"k","p":[],"s":["end_turn",null],"u":[0,0,0,0,0,1],"m":[null,null,null]}',
    b"[" * 100_000,
])
def test_corrupted_entries_are_rejected(raw: bytes) -> None:
    with pytest.raises(CacheDataError):
        decode("k", raw)


def test_a_foreign_entry_is_rejected() -> None:
    raw = encode("other-key", Completion((TextPart("x"),), StopReason("end_turn")))
    with pytest.raises(CacheDataError, match="another key"):
        decode("k", raw)


def test_answers_with_request_only_parts_are_not_stored() -> None:
    odd = Completion((ToolResultPart("c", "r"),), StopReason("end_turn"))
    with pytest.raises(Uncacheable):
        encode("k", odd)


def answer(text: str) -> Completion:
    return Completion((TextPart(text),), StopReason("end_turn"), Usage(3, 4))


async def test_memory_cache_is_lru_bounded_by_entries() -> None:
    cache = MemoryResponseCache(max_entries=2, clock=FakeClock())
    await cache.put("a", answer("a"), 10)
    await cache.put("b", answer("b"), 10)
    assert await cache.get("a") is not None  # a is now the most recent
    await cache.put("c", answer("c"), 10)
    assert await cache.get("b") is None
    assert [c.text for c in [await cache.get("a"), await cache.get("c")] if c] == ["a", "c"]
    assert len(cache) == 2


async def test_memory_cache_is_bounded_by_bytes() -> None:
    probe = MemoryResponseCache(clock=FakeClock())
    await probe.put("a", answer("x" * 100), 10)
    one = probe.bytes
    cache = MemoryResponseCache(max_bytes=2 * one + 10, clock=FakeClock())
    for k in "abc":
        await cache.put(k, answer("x" * 100), 10)
    assert len(cache) == 2 and cache.bytes == 2 * one
    assert await cache.get("a") is None
    await cache.put("huge", answer("y" * 10 * one), 10)
    assert await cache.get("huge") is None and len(cache) == 2


@settings(max_examples=60, deadline=None)
@given(completions)
def test_memory_entry_size_tracks_the_encoded_size(completion: Completion) -> None:
    from llmport.adapters.cache_memory import _size

    size, encoded = _size("k" * 64, completion), len(encode("k" * 64, completion))
    assert size is not None
    assert encoded // 2 <= size <= 2 * encoded + 64


async def test_memory_cache_skips_answers_it_does_not_keep() -> None:
    cache = MemoryResponseCache(clock=FakeClock())
    await cache.put("odd", Completion((ToolResultPart("c", "r"),), StopReason("end_turn")), 10)
    await cache.put("no-ttl", answer("a"), 0)
    assert (len(cache), cache.bytes) == (0, 0)


async def test_memory_cache_replacing_a_key_keeps_the_byte_count() -> None:
    cache = MemoryResponseCache(clock=FakeClock())
    await cache.put("a", answer("short"), 10)
    first = cache.bytes
    await cache.put("a", answer("a longer answer"), 10)
    assert len(cache) == 1 and cache.bytes == first + len("a longer answer") - len("short")
    cache.clear()
    assert (len(cache), cache.bytes) == (0, 0)


async def test_memory_cache_expires_by_its_clock() -> None:
    clock = FakeClock()
    cache = MemoryResponseCache(clock=clock)
    await cache.put("a", answer("a"), 5)
    await cache.put("zero", answer("z"), 0)
    clock.advance(4.99)
    got = await cache.get("a")
    assert got is not None and got.cached and got == answer("a")
    clock.advance(0.01)
    assert await cache.get("a") is None
    assert await cache.get("zero") is None
    assert (len(cache), cache.bytes) == (0, 0)


async def test_memory_cache_claims_are_always_granted() -> None:
    cache = MemoryResponseCache()
    assert await cache.acquire("k", 1.0) and await cache.acquire("k", 1.0)
    await cache.release("k")


def test_memory_cache_rejects_impossible_bounds() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MemoryResponseCache(max_entries=0)
    with pytest.raises(ValueError, match="at least one"):
        MemoryResponseCache(max_bytes=0)


def test_cached_mark_is_not_part_of_equality() -> None:
    assert dataclasses.replace(answer("a"), cached=True) == answer("a")


def test_a_field_added_later_is_keyed_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmport.ports import cache_key as module

    base = key(req(stall_timeout=None))
    monkeypatch.setattr(module, "_LATER", (("stall_timeout", None),))  # as if stall_timeout were a new field
    assert key(req()) == base
    assert key(req(stall_timeout=5.0)) != base
    assert key(req(stall_timeout=5.0)) != key(req(stall_timeout=6.0))


def test_fields_added_later_are_found_with_their_defaults() -> None:
    from dataclasses import dataclass, field

    from llmport.ports.cache_key import later_fields

    @dataclass(frozen=True)
    class Newer(CompletionRequest):
        plain: int = 3
        made: tuple[str, ...] = field(default_factory=lambda: ("x",))

    assert later_fields(CompletionRequest) == ()
    assert later_fields(Newer) == (("plain", 3), ("made", ("x",)))


def test_memory_cache_defaults_are_the_documented_bounds() -> None:
    cache = MemoryResponseCache()
    assert (cache.max_entries, cache.max_bytes) == (1024, 67_108_864)


async def test_memory_cache_bounds_are_inclusive() -> None:
    probe = MemoryResponseCache(clock=FakeClock())
    await probe.put("a", answer("x"), 10)
    one = probe.bytes
    exact = MemoryResponseCache(max_entries=1, max_bytes=one, clock=FakeClock())
    await exact.put("a", answer("x"), 0.5)  # exactly the byte bound, a sub-second TTL: kept
    assert len(exact) == 1 and exact.bytes == one
    await exact.put("b", answer("y"), 10)  # one entry at most: the older goes
    assert len(exact) == 1 and await exact.get("a") is None and await exact.get("b") is not None
    two = MemoryResponseCache(max_bytes=2 * one, clock=FakeClock())
    await two.put("a", answer("x"), 10)
    await two.put("b", answer("y"), 10)
    assert len(two) == 2 and two.bytes == 2 * one
    assert MemoryResponseCache(max_entries=1, max_bytes=1).max_bytes == 1


def test_memory_entry_size_grows_with_every_field() -> None:
    from llmport.adapters.cache_memory import _size

    def size(**kw: object) -> int:
        values: dict[str, object] = {"parts": (), "stop_reason": StopReason("end_turn")}
        values.update(kw)
        found = _size("key", Completion(**values))  # type: ignore[arg-type]
        assert found is not None
        return found

    base = size()
    assert size(provider="abc") - base == 3
    assert size(model="abcd") - base == 4
    assert size(response_id="abcde") - base == 5
    text = size(parts=(TextPart("hello"),))
    assert size(parts=(TextPart("hello world"),)) - text == 6 and text > base + 5
    reasoning = size(parts=(ReasoningPart("think"),))
    assert reasoning > base + 5
    assert size(parts=(ReasoningPart("think", "sig"),)) - reasoning == 3
    assert size(parts=(ReasoningPart("think", None, "anthropic"),)) - reasoning == len("anthropic")
    call = size(parts=(ToolCallPart("c1", "lookup", {"q": "x"}),))
    assert call > base + len('c1lookup{"q": "x"}')
    assert size(parts=(ToolCallPart("c1", "lookup", {"q": "xyz"}),)) - call == 2
    assert size(parts=(ToolCallPart("c1", "lookup_more", {"q": "x"}),)) - call == 5
    assert size(parts=(ToolCallPart("c1234", "lookup", {"q": "x"}),)) - call == 3
    assert size(parts=(ToolCallPart("c1", "lookup", {}, "not json"),)) - size(
        parts=(ToolCallPart("c1", "lookup", {}),)) == len("not json")
