"""fold(stream) == completion, for arbitrary completions and arbitrary chunkings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

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

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
text_parts = st.builds(TextPart, st.text(min_size=1, max_size=40))
reasoning_parts = st.builds(ReasoningPart, st.text(max_size=30), st.none() | st.text(min_size=1, max_size=10),
                            st.sampled_from([None, "anthropic"]))
tool_parts = st.builds(
    ToolCallPart,
    st.uuids().map(lambda u: f"call_{u.hex[:8]}"),
    st.sampled_from(["get_weather", "search", "f"]),
    st.dictionaries(st.text(max_size=6), json_values, max_size=4),
)
completions = st.builds(
    Completion,
    st.lists(st.one_of(text_parts, reasoning_parts, tool_parts), max_size=6).map(tuple),
    st.builds(StopReason, st.sampled_from(["end_turn", "max_tokens", "tool_use"]), st.text(max_size=5)),
    st.builds(Usage, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 100)),
    st.sampled_from([None, "openai"]),
    st.text(max_size=10),
    st.text(max_size=10),
)


@given(completions, st.integers(min_value=1, max_value=17))
def test_fold_of_the_stream_equals_the_completion(completion: Completion, chunk_size: int) -> None:
    assert accumulate(completion_events(completion, chunk_size)) == completion


@given(st.lists(st.text(max_size=10), min_size=1, max_size=20))
def test_any_text_chunking_folds_to_the_same_text(chunks: list[str]) -> None:
    events = [TextDelta(c) for c in chunks] + [StreamEnd(StopReason("end_turn"))]
    assert accumulate(events).text == "".join(chunks)


def test_interleaved_tool_call_deltas_are_assembled_per_index() -> None:
    events = [
        ToolCallStart(0, "a", "f"), ToolCallStart(1, "b", "g"),
        ToolCallDelta(0, '{"x":'), ToolCallDelta(1, '{"y": 2}'), ToolCallDelta(0, " 1}"),
        ToolCallEnd(1), ToolCallEnd(0),
        UsageUpdate(Usage(3, 4)), StreamEnd(StopReason("tool_use", "tool_calls"), "p", "m", "id"),
    ]
    done = accumulate(events)
    assert done.tool_calls == (ToolCallPart("a", "f", {"x": 1}), ToolCallPart("b", "g", {"y": 2}))
    assert done.usage == Usage(3, 4) and done.response_id == "id"


def test_arguments_that_are_not_an_object_are_kept_raw() -> None:
    events = [ToolCallStart(0, "a", "f"), ToolCallDelta(0, '{"x": 1'), ToolCallEnd(0),
              StreamEnd(StopReason("max_tokens"))]
    call = accumulate(events).tool_calls[0]
    assert call.arguments == {} and call.raw_arguments == '{"x": 1'


def test_partial_mid_stream_closes_open_calls_and_keeps_text() -> None:
    acc = Accumulator()
    for e in [ReasoningDelta("hmm"), ReasoningDelta("", "sig"), TextDelta("Hel"), TextDelta("lo"),
              ToolCallStart(0, "a", "f"), ToolCallDelta(0, '{"q": "x"}')]:
        acc.add(e)
    partial = acc.partial()
    assert partial.reasoning == (ReasoningPart("hmm", "sig"),)
    assert partial.text == "Hello"
    assert partial.tool_calls == (ToolCallPart("a", "f", {"q": "x"}),)
    assert partial.stop_reason.kind == "other"


def test_usage_updates_replace_each_other() -> None:
    done = accumulate([UsageUpdate(Usage(10, 0)), UsageUpdate(Usage(10, 7)), StreamEnd(StopReason("end_turn"))])
    assert done.usage == Usage(10, 7)
