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


# Credentials inside URLs: ``scheme://user:password@host`` and secret query parameters.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#@\s]+)@")
_SECRET_QUERY = re.compile(
    r"(?P<name>[?&;](?:[A-Za-z0-9_\-]*(?:key|token|secret|signature|password|passwd|pwd|auth|credential|sig)"
    r"[A-Za-z0-9_\-]*)=)(?P<value>[^&#\s;]+)",
    re.IGNORECASE,
)


# Each pattern has substrings it cannot match without; testing for those (plain ``in``) is far
# cheaper than a regex scan, and most scrubbed text is ordinary and skips the scans.
def _may_hold_key(lowered: str) -> bool:
    """Whether ``_KEY_PATTERNS`` could match the text whose lower case is ``lowered``."""
    return ("sk-" in lowered or "aiza" in lowered or "akia" in lowered or "asia" in lowered or "gsk_" in lowered
            or "xai-" in lowered or "pplx-" in lowered or "bearer" in lowered)


def mask_url_credentials(text: str) -> str:
    """``text`` with the user-info of every URL and every secret-looking query value replaced."""
    if "@" in text and "://" in text:
        text = _URL_USERINFO.sub(rf"\g<scheme>{REDACTED}@", text)
    return _SECRET_QUERY.sub(rf"\g<name>{REDACTED}", text) if "=" in text else text


def url_secret_values(url: str) -> list[str]:
    """The credentials a URL carries (password, user-info, secret query values), for scrubbing."""
    values: list[str] = []
    for match in _URL_USERINFO.finditer(url):
        userinfo = match["userinfo"]
        values.append(userinfo)
        values.extend(part for part in userinfo.split(":", 1)[1:] if part)
    values.extend(match["value"] for match in _SECRET_QUERY.finditer(url))
    return [v for v in values if len(v) >= 4]


def redact_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with every given secret value, every key-shaped token and every credential
    inside a URL replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    if _may_hold_key(text.lower()):
        text = _KEY_PATTERNS.sub(REDACTED, text)
    return mask_url_credentials(text)
