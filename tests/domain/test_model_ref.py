from __future__ import annotations

import pytest

from llmport.domain import InvalidRequest, ModelRef


@pytest.mark.parametrize(("text", "expected"), [
    ("openai/gpt-4o", ModelRef("gpt-4o", "openai")),
    ("anthropic:claude-sonnet-4", ModelRef("claude-sonnet-4", "anthropic")),
    ("gpt-4o", ModelRef("gpt-4o")),
])
def test_parse(text: str, expected: ModelRef) -> None:
    assert ModelRef.parse(text) == expected


def test_model_ids_with_separators_are_kept_whole_unless_the_prefix_is_a_provider() -> None:
    providers = {"openrouter", "bedrock"}
    assert ModelRef.parse("meta-llama/Llama-3", providers) == ModelRef("meta-llama/Llama-3")
    assert ModelRef.parse("openrouter/meta-llama/Llama-3", providers) == ModelRef("meta-llama/Llama-3", "openrouter")
    assert ModelRef.parse("bedrock/anthropic.claude-v2:1", providers) == ModelRef("anthropic.claude-v2:1", "bedrock")
    assert str(ModelRef("m", "p")) == "p/m"


def test_bad_references() -> None:
    with pytest.raises(InvalidRequest, match="empty model reference"):
        ModelRef.parse("  ")
    with pytest.raises(InvalidRequest, match="names a provider but no model"):
        ModelRef.parse("openai/")
