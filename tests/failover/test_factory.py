"""build_policy: settings -> routes, aliases and policy options."""

from __future__ import annotations

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.composition.policy_factory import build_policy
from llmport.composition.settings import Settings, SettingsError, validate_settings
from llmport.domain import ProviderUnavailable
from llmport.ports import FailoverPolicy, RecordingObserver, Weighted

from .conftest import ask


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {
        "providers": {
            "primary": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1", "models": ["gpt-a"],
                        "context_window": 8000},
            "backup": {"kind": "anthropic", "default_model": "claude-b", "price_input": 3, "price_output": 15},
        },
        "aliases": {"smart": ["primary/gpt-a", "backup/claude-b"], "cheap": ["backup/claude-haiku"]},
    }
    base.update(kw)
    return validate_settings(base)


def adapters() -> dict[str, FakeLLM]:
    return {"primary": FakeLLM(name="primary"), "backup": FakeLLM(name="backup")}


def test_routes_aliases_and_default() -> None:
    policy = build_policy(settings(), adapters())  # type: ignore[arg-type]
    assert isinstance(policy, FailoverPolicy)
    router = policy.router
    assert [r.name for r in router.resolve("smart").routes] == ["primary/gpt-a", "backup/claude-b"]
    assert [r.name for r in router.resolve("cheap").routes] == ["backup/claude-haiku"]
    assert [r.name for r in router.resolve("default").routes] == ["primary/gpt-a", "backup/claude-b"]
    backup = router.resolve("backup/claude-b").routes[0]
    assert backup.price is not None
    assert backup.price.output_per_mtok == 15
    assert router.resolve("gpt-a").routes[0].context_window == 8000


def test_policy_options_are_applied() -> None:
    s = settings(policy={"retry": "aggressive", "timeout": "30", "breaker": {"cooldown": 2},
                         "aliases": {"smart": {"strategy": "weighted", "hedge": {"delay": 0.2}}}},
                 default_model="smart")
    policy = build_policy(s, adapters())  # type: ignore[arg-type]
    assert policy.config.retry.max_attempts == 4
    assert policy.config.timeout == 30.0
    assert policy.config.breaker.cooldown == 2
    smart = policy.router.resolve("smart")
    assert isinstance(smart.strategy, Weighted)
    assert smart.hedge is not None
    assert smart.hedge.delay == 0.2
    assert [r.name for r in policy.router.resolve("default").routes] == ["primary/gpt-a", "backup/claude-b"]


def test_invalid_policy_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"settings: policy\.retry: unknown retry preset"):
        settings(policy={"retry": "reckless"})
    with pytest.raises(SettingsError, match=r"settings: policy\.breaker: .*cooldown"):
        settings(policy={"breaker": {"cooldown": -1}})
    with pytest.raises(SettingsError, match=r"settings: policy\.aliases\.fast: no alias named so"):
        build_policy(settings(policy={"aliases": {"fast": {"strategy": "cost"}}}), adapters())  # type: ignore[arg-type]


def test_no_adapters_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="no providers are configured"):
        build_policy(Settings(), {})


async def test_built_policy_fails_over_and_reports_attempts() -> None:
    fakes = adapters()
    fakes["primary"].add(*[ProviderUnavailable("down", status=503)] * 3)
    fakes["backup"].add("from backup")
    observer = RecordingObserver()
    policy = build_policy(settings(policy={"retry": {"preset": "aggressive", "base_delay": 0, "max_delay": 0,
                                                     "max_attempts": 3}}),
                          fakes, observer)  # type: ignore[arg-type]
    assert (await policy.complete(ask("smart"))).text == "from backup"
    assert [e.outcome for e in observer.attempts] == ["error", "error", "error", "ok"]
    await policy.aclose()
    assert fakes["primary"].closed
    assert fakes["backup"].closed


def test_hardening_options_are_applied_and_checked() -> None:
    s = settings(policy={"deadline_share": "0.25", "stall_timeout": "4", "lockout_cooldown": 900})
    config = build_policy(s, adapters()).config  # type: ignore[arg-type]
    assert (config.deadline_share, config.stall_timeout, config.lockout_cooldown) == (0.25, 4.0, 900.0)
    defaults = build_policy(settings(), adapters()).config  # type: ignore[arg-type]
    assert (defaults.deadline_share, defaults.stall_timeout, defaults.lockout_cooldown) == (0.5, None, 300.0)
    with pytest.raises(SettingsError, match=r"settings: policy\.deadline_share"):
        settings(policy={"deadline_share": 0})
    with pytest.raises(SettingsError, match=r"settings: policy\.stall_timeout"):
        settings(policy={"stall_timeout": -1})
