"""Reasoning deltas folded by the Accumulator: when they merge into one part, and which provider
tag and signature the merged part keeps (a lost tag would send a signature to the wrong vendor)."""

from __future__ import annotations

from llmport.domain import (
    Accumulator,
    Completion,
    ReasoningDelta,
    ReasoningPart,
    StopReason,
    StreamEnd,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    Usage,
    UsageUpdate,
    accumulate,
    completion_events,
)


def _parts(*events: object) -> tuple[object, ...]:
    return accumulate([*events, StreamEnd(StopReason("end_turn"))]).parts  # type: ignore[list-item]


def test_a_later_delta_names_the_provider_of_the_merged_part() -> None:
    assert _parts(ReasoningDelta("thinking "), ReasoningDelta("hard", None, "anthropic")) == (
        ReasoningPart("thinking hard", None, "anthropic"),)


def test_a_later_delta_without_a_provider_keeps_the_first_ones_tag() -> None:
    assert _parts(ReasoningDelta("thinking ", None, "anthropic"), ReasoningDelta("hard")) == (
        ReasoningPart("thinking hard", None, "anthropic"),)


def test_the_signature_arrives_last_and_closes_the_part() -> None:
    parts = _parts(ReasoningDelta("a", None, "anthropic"), ReasoningDelta("", "sig-1", "anthropic"),
                   ReasoningDelta("b", None, "anthropic"))
    assert parts == (ReasoningPart("a", "sig-1", "anthropic"), ReasoningPart("b", None, "anthropic"))


def test_redacted_and_plain_reasoning_stay_apart() -> None:
    parts = _parts(ReasoningDelta("a"), ReasoningDelta("", "opaque", None, True), ReasoningDelta("b"))
    assert parts == (ReasoningPart("a"), ReasoningPart("", "opaque", None, True), ReasoningPart("b"))


def test_text_between_reasoning_splits_it() -> None:
    parts = _parts(ReasoningDelta("a"), TextDelta("x"), TextDelta("y"), ReasoningDelta("b"))
    assert parts == (ReasoningPart("a"), TextPart("xy"), ReasoningPart("b"))


def test_partial_without_an_end_is_interrupted_and_keeps_pending_text() -> None:
    acc = Accumulator()
    acc.add(ReasoningDelta("a", None, "google"))
    acc.add(TextDelta("so far"))
    done = acc.partial()
    assert done.parts == (ReasoningPart("a", None, "google"), TextPart("so far"))
    assert done.stop_reason == StopReason("other", "interrupted")
    assert (done.provider, done.model, done.response_id) == (None, None, None)


def test_empty_text_deltas_add_no_part() -> None:
    assert _parts(TextDelta(""), ReasoningDelta("a")) == (ReasoningPart("a"),)


def test_replayed_tool_calls_are_numbered_and_each_one_ended() -> None:
    completion = Completion((ToolCallPart("c1", "f", {"a": 1}), TextPart("hi"), ToolCallPart("c2", "g", {})),
                            StopReason("tool_use"), Usage(3, 4), "openai", "m", "r1")
    events = list(completion_events(completion, chunk_size=100))
    assert events == [
        ToolCallStart(0, "c1", "f"), ToolCallDelta(0, '{"a": 1}'), ToolCallEnd(0), TextDelta("hi"),
        ToolCallStart(1, "c2", "g"), ToolCallDelta(1, "{}"), ToolCallEnd(1),
        UsageUpdate(Usage(3, 4), cached=False), StreamEnd(StopReason("tool_use"), "openai", "m", "r1"),
    ]


def test_reasoning_after_text_merges_into_the_last_part_only() -> None:
    assert _parts(TextDelta("x"), ReasoningDelta("a"), ReasoningDelta("b")) == (TextPart("x"), ReasoningPart("ab"))
