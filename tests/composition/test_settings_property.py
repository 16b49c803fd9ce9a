"""Whatever the environment holds, settings produce a started container or a ``SettingsError``:
nothing else escapes start-up (bounded hypothesis property)."""

from __future__ import annotations

import asyncio
import os
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmport.composition import SettingsError, open_llm

VARIABLES = [
    "LLMPORT_PROVIDERS__P__KIND", "LLMPORT_PROVIDERS__P__BASE_URL", "LLMPORT_PROVIDERS__P__API_KEY",
    "LLMPORT_PROVIDERS__P__API_KEY_ENV", "LLMPORT_PROVIDERS__P__PRESET", "LLMPORT_PROVIDERS__P__MODELS",
    "LLMPORT_PROVIDERS__P__TIMEOUT", "LLMPORT_PROVIDERS__P__EXTRA_HEADERS", "LLMPORT_PROVIDERS__P__REGION",
    "LLMPORT_PROVIDERS__P__PROJECT", "LLMPORT_PROVIDERS__P__LOCATION", "LLMPORT_PROVIDERS__P__MAX_CONNECTIONS",
    "LLMPORT_ORDER", "LLMPORT_ALIASES__FAST", "LLMPORT_DEFAULT_MODEL", "LLMPORT_POLICY__RETRY",
    "LLMPORT_POLICY__RETRY__MAX_DELAY", "LLMPORT_POLICY__BREAKER__WINDOW", "LLMPORT_POLICY__TIMEOUT",
    "LLMPORT_POLICY__HEDGE__DELAY", "LLMPORT_POLICY__STRATEGY", "LLMPORT_POLICY__ALIASES__FAST__STRATEGY",
    "LLMPORT_LOGGING__LEVEL", "LLMPORT_CACHE__TTL", "LLMPORT_PROVIDERS", "LLMPORT_POLICY", "LLMPORT_X",
]
KINDS = ["openai", "openai_compatible", "anthropic", "google", "vertex", "bedrock", "azure_openai", "nope"]
VALUES = st.one_of(
    st.sampled_from(KINDS),
    st.sampled_from(["http://127.0.0.1:9/v1", "127.0.0.1:9", "https://u:p@h/v1?key=k", "groq", "p/m",
                     "a,b", "[\"a\"]", "{}", "{\"a\": 1}", "1e-320", "1e308", "nan", "-1", "0", "30", "aggressive",
                     "eu-west-1", "weighted", ""]),
    st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(VARIABLES), VALUES, max_size=8))
def test_any_environment_starts_or_is_one_settings_error(values: dict[str, str]) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LLMPORT_")}
    environment.update({"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-ant-test", "GOOGLE_API_KEY": "g-k",
                        "AWS_REGION": "eu-west-1", **values})

    async def start() -> None:
        async with open_llm():
            pass

    with mock.patch.dict(os.environ, environment, clear=True):
        failure: SettingsError | None = None
        try:
            asyncio.run(start())
        except SettingsError as exc:  # anything else fails the test
            failure = exc
    if failure is not None:
        assert failure.problems and str(failure).startswith("invalid llmport settings:")
        assert "sk-ant-test" not in str(failure)
