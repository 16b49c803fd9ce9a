"""``redact_secrets`` skips a pattern's regex scan when the text lacks what that pattern cannot
match without (a cheap substring test): the result must equal scanning with every pattern."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmport.domain.redaction import (
    _KEY_PATTERNS,
    _SECRET_QUERY,
    _URL_USERINFO,
    REDACTED,
    mask_url_credentials,
    redact_secrets,
)


def _every_scan(text: str) -> str:
    """The scrubbing without any shortcut: all three patterns, always."""
    text = _KEY_PATTERNS.sub(REDACTED, text)
    text = _URL_USERINFO.sub(rf"\g<scheme>{REDACTED}@", text)
    return _SECRET_QUERY.sub(rf"\g<name>{REDACTED}", text)


# Fragments of every pattern, mixed case, so that generated text often almost-matches.
_FRAGMENTS = ["sk-", "SK-", "sk_", "AIza", "aiza", "AKIA", "ASIA", "akia", "gsk_", "GSK_", "xai-", "pplx-",
              "Bearer ", "BEARER\t", "bearer", "https://", "://", "@", "user:pw@", "?", "&", ";", "=", "key",
              "api_key=", "token=", "Sig", "/", " ", "\n", "A", "0", "abcdefgh", "ABCDEFGHIJKLMNOP", "é", "İ"]
_TEXT = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=4), max_size=24).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_the_shortcuts_never_change_the_result(text: str) -> None:
    assert redact_secrets(text) == _every_scan(text)


def test_each_pattern_still_scrubs_what_it_finds() -> None:
    assert redact_secrets("key sk-abcdefgh12 here") == f"key {REDACTED} here"
    assert redact_secrets("AUTH: bEaReR abcdefgh.ijk") == f"AUTH: {REDACTED}"
    assert redact_secrets("id ASIAABCDEFGHIJKLMNOP") == f"id {REDACTED}"
    assert mask_url_credentials("redis://u:pw@h:1") == f"redis://{REDACTED}@h:1"
    assert mask_url_credentials("x?token=abc") == f"x?token={REDACTED}"
    assert mask_url_credentials("nothing here @ all") == "nothing here @ all"
