"""Vendor quirks as data (``adapters.openai_quirks``): the rules on their own, then what the real
``openai`` SDK sent (the emulator's journal) and what the answer kept, for completions and streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import Any

import openai
import pytest

from llmport.adapters.eventsource import decode_frames, encode_event, parse_event_stream
from llmport.adapters.openai import OpenAIAdapter, OpenAIOptions
from llmport.adapters.openai_quirks import NO_QUIRKS, QUIRKS, Clamp, Drop, Quirks, Rename, quirks_for
from llmport.adapters.testing.emulator import Reply, VendorEmulator
from llmport.composition.openai_presets import PRESETS
from llmport.domain import (
    Completion,
    CompletionRequest,
    Message,
    ReasoningConfig,
    StopReason,
    StreamEvent,
    accumulate,
    completion_events,
)
from llmport.ports.cache_codec import decode, encode

SEARCH = [{"title": "Result", "url": "https://example.org/a", "date": "2026-01-01"}]


def ask(model: str, **options: Any) -> CompletionRequest:
    return CompletionRequest(model=model, messages=[Message.user("hello")], **options)


# --- the rules ------------------------------------------------------------------------------------

def test_clamp_keeps_a_value_within_its_range() -> None:
    q = Quirks(rules=(Clamp("temperature", 0.0, 1.0),))
    assert q.apply("m", {"temperature": 1.7}) == {"temperature": 1.0}
    assert q.apply("m", {"temperature": -0.5}) == {"temperature": 0.0}
    assert q.apply("m", {"temperature": 0.4}) == {"temperature": 0.4}
    assert q.apply("m", {"temperature": 1.0}) == {"temperature": 1.0}
    assert q.apply("m", {"temperature": "hot"}) == {"temperature": "hot"}  # not a number: the vendor decides
    assert q.apply("m", {"top_p": 3}) == {"top_p": 3}  # another parameter: untouched


def test_a_clamp_needs_an_ordered_range() -> None:
    with pytest.raises(ValueError, match="low must not exceed high"):
        Clamp("temperature", 2.0, 1.0)
    assert Clamp("temperature", 1.0, 1.0).high == 1.0


def test_drop_and_rename_may_be_limited_to_some_models() -> None:
    q = Quirks(rules=(Drop("stop", models=r"grok-(3-mini|4)"), Rename("seed", "random_seed")))
    assert q.apply("grok-4-0709", {"stop": ["x"], "seed": 1}) == {"extra_body": {"random_seed": 1}}
    assert q.apply("m", {"seed": 1, "extra_body": {"a": 2}}) == {"extra_body": {"a": 2, "random_seed": 1}}
    assert q.apply("grok-3-mini", {"stop": ["x"]}) == {}
    assert q.apply("grok-2", {"stop": ["x"]}) == {"stop": ["x"]}
    assert q.apply("my-grok-4", {"stop": ["x"]}) == {"stop": ["x"]}  # the pattern matches from the start
    assert q.apply("grok-4", {}) == {}


def test_rules_apply_in_order() -> None:
    q = Quirks(rules=(Clamp("temperature", 0.0, 1.0), Rename("temperature", "temp"), Drop("temperature")))
    assert q.apply("m", {"temperature": 5}) == {"extra_body": {"temp": 1.0}}


def test_kept_fields_are_the_named_ones_present() -> None:
    q = Quirks(keep=("search_results", "citations"))
    assert q.kept({"search_results": SEARCH, "citations": None, "id": "x"}) == {"search_results": SEARCH}
    assert q.kept(None) == {}
    assert q.kept({}) == {}
    assert NO_QUIRKS.kept({"search_results": SEARCH}) == {}


def test_the_table() -> None:
    assert set(QUIRKS) <= set(PRESETS)  # every entry is a preset's
    assert quirks_for(None) is NO_QUIRKS
    assert quirks_for("groq") is NO_QUIRKS
    assert quirks_for("Mistral") is QUIRKS["mistral"]
    assert quirks_for("mistral").apply("mistral-small", {"temperature": 1.5, "seed": 3}) == {
        "temperature": 1.0, "extra_body": {"random_seed": 3}}
    assert "search_results" in quirks_for("perplexity").keep


# --- on the wire ----------------------------------------------------------------------------------

@pytest.fixture
async def make(emu: VendorEmulator) -> AsyncIterator[Any]:
    made: list[OpenAIAdapter] = []

    def build(preset: str | None, tag: str = "quirks") -> OpenAIAdapter:
        client = openai.AsyncOpenAI(api_key="sk-quirks-0000", base_url=f"{emu.url_for(tag)}/v1", max_retries=0)
        adapter = OpenAIAdapter(client, provider=preset or "generic",
                                options=OpenAIOptions(end_user_param=None, store=None, quirks=quirks_for(preset)))
        made.append(adapter)
        return adapter

    yield build
    for adapter in made:
        await adapter.aclose()


async def test_mistral_gets_its_temperature_range_and_random_seed(emu: VendorEmulator, make: Any) -> None:
    adapter = make("mistral")
    await adapter.complete(ask("mistral-small-latest", temperature=1.8, seed=42, top_p=0.9))
    async with adapter.stream(ask("mistral-small-latest", temperature=0.3, seed=7)) as events:
        async for _ in events:
            pass
    first, second = (e.body for e in emu.journal.entries(tag="quirks"))
    assert first["temperature"] == 1.0 and first["random_seed"] == 42 and "seed" not in first
    assert first["top_p"] == 0.9
    assert second["temperature"] == 0.3 and second["random_seed"] == 7 and "seed" not in second


async def test_without_quirks_the_request_goes_as_openai_documents_it(emu: VendorEmulator, make: Any) -> None:
    await make(None).complete(ask("some-model", temperature=1.8, seed=42, stop=["END"]))
    (entry,) = emu.journal.entries(tag="quirks")
    assert (entry.body["temperature"], entry.body["seed"], entry.body["stop"]) == (1.8, 42, ["END"])


async def test_xai_reasoning_models_get_no_stop_nor_effort_they_reject(emu: VendorEmulator, make: Any) -> None:
    adapter = make("xai")
    effort = ReasoningConfig(effort="high")
    for model in ("grok-4", "grok-3-mini", "grok-2"):
        await adapter.complete(ask(model, stop=["END"], reasoning=effort))
    grok4, mini, older = (e.body for e in emu.journal.entries(tag="quirks"))
    assert "stop" not in grok4 and "reasoning_effort" not in grok4
    assert "stop" not in mini and mini["reasoning_effort"] == "high"
    assert older["stop"] == ["END"] and older["reasoning_effort"] == "high"


async def test_perplexity_search_results_are_kept_on_the_completion(emu: VendorEmulator, make: Any) -> None:
    fields = {"search_results": SEARCH, "citations": ["https://example.org/a"], "unmodelled": 1}
    emu.script(Reply("answer with sources", extra_fields=fields), tag="quirks",
               then=Reply("answer with sources", extra_fields=fields))
    adapter = make("perplexity")
    completion = await adapter.complete(ask("sonar"))
    assert completion.extras == {"search_results": SEARCH, "citations": ["https://example.org/a"]}
    async with adapter.stream(ask("sonar")) as stream:
        events = [e async for e in stream]
    streamed = accumulate(events)
    assert streamed.text == "answer with sources"
    assert streamed.extras == completion.extras


async def test_other_services_keep_nothing_extra(emu: VendorEmulator, make: Any) -> None:
    emu.script(Reply("plain", extra_fields={"search_results": SEARCH}), tag="quirks",
               then=Reply("plain", extra_fields={"search_results": SEARCH}))
    adapter = make(None)
    assert (await adapter.complete(ask("m"))).extras == {}
    async with adapter.stream(ask("m")) as stream:
        assert accumulate([e async for e in stream]).extras == {}


# --- the kept fields travel with the answer -------------------------------------------------------

def test_extras_are_read_only_and_not_part_of_equality() -> None:
    given = {"search_results": SEARCH}
    completion = Completion((), StopReason("end_turn"), extras=given)
    given["search_results"] = []  # the caller's dict changing later changes nothing
    assert completion.extras == {"search_results": SEARCH}
    assert isinstance(completion.extras, MappingProxyType)
    with pytest.raises(TypeError):
        completion.extras["x"] = 1  # type: ignore[index]
    assert completion == Completion((), StopReason("end_turn"))
    assert Completion((), StopReason("end_turn")).extras == {}


def test_a_cached_answer_keeps_its_extras() -> None:
    completion = Completion((), StopReason("end_turn"), extras={"search_results": SEARCH})
    assert decode("k", encode("k", completion)).extras == {"search_results": SEARCH}
    plain = encode("k", Completion((), StopReason("end_turn")))
    assert b'"x"' not in plain
    assert decode("k", plain).extras == {}


def test_server_sent_events_carry_the_extras() -> None:
    completion = Completion((), StopReason("end_turn"), extras={"search_results": SEARCH})
    frames = b"".join(f for f in map(encode_event, completion_events(completion)) if f is not None)
    events = [e for e in decode_frames(parse_event_stream(frames.decode())) if not isinstance(e, Exception)]
    streamed: list[StreamEvent] = events  # type: ignore[assignment]
    assert accumulate(streamed).extras == {"search_results": SEARCH}
    plain = b"".join(f for f in map(encode_event, completion_events(Completion((), StopReason("end_turn")))) if f)
    assert b"extras" not in plain
