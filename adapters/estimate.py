"""A vendor-neutral input-token estimate, for endpoints that have no token-count API.

About 4 characters a token (the usual rule of thumb for English text with BPE tokenisers), plus a
few tokens of framing per message and a flat cost per image; it errs on the high side.
"""

from __future__ import annotations

import json
import math

from llmport.domain import CompletionRequest, ImagePart, ReasoningPart, TextPart, ToolCallPart, ToolResultPart

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
TOKENS_PER_IMAGE = 765  # OpenAI's cost of a 1024x1024 high-detail image


def estimate_tokens(text: str) -> int:
    """Tokens in ``text`` at ~4 characters a token (0 for empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def estimate_input_tokens(request: CompletionRequest) -> int:
    """An estimate of the input tokens of ``request``: system prompt, messages, tools and schema."""
    chars = len(request.system or "")
    tokens = 0
    for message in request.messages:
        tokens += TOKENS_PER_MESSAGE
        for part in message.parts:
            if isinstance(part, TextPart | ReasoningPart):
                chars += len(part.text)
            elif isinstance(part, ToolResultPart):
                chars += len(part.content)
            elif isinstance(part, ToolCallPart):
                chars += len(part.name) + len(part.raw_arguments or json.dumps(dict(part.arguments)))
            elif isinstance(part, ImagePart):
                tokens += TOKENS_PER_IMAGE
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description) + len(json.dumps(dict(tool.parameters)))
    if request.response_format.schema is not None:
        chars += len(json.dumps(dict(request.response_format.schema)))
    return tokens + math.ceil(chars / CHARS_PER_TOKEN)
