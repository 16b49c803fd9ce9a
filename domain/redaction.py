"""Scrubbing of credential-shaped text, shared by error messages and log processors."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"

# Shapes of vendor keys and bearer tokens; deliberately broad: a false positive costs nothing.
_KEY_PATTERNS = re.compile(
    r"""
    sk-[A-Za-z0-9_\-]{8,}            # OpenAI, Anthropic (sk-ant-...), DeepSeek, OpenRouter (sk-or-...)
    | AIza[0-9A-Za-z_\-]{20,}        # Google API keys
    | (?:AKIA|ASIA)[0-9A-Z]{16}      # AWS access key ids
    | gsk_[A-Za-z0-9]{16,}           # Groq
    | xai-[A-Za-z0-9]{16,}           # xAI
    | pplx-[A-Za-z0-9]{16,}          # Perplexity
    | (?i:bearer)\s+[A-Za-z0-9._\-~+/]{8,}=*
    """,
    re.VERBOSE,
)


def redact_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with every given secret value and every key-shaped token replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return _KEY_PATTERNS.sub(REDACTED, text)
