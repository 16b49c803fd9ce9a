"""``LLMPORT_STATE__*``: the shared Redis from the environment, its URL a secret, its wiring in the
container."""

from __future__ import annotations

import pytest

from llmport.composition import Container, Settings, SettingsError, load_settings
from llmport.composition.state_factory import build_redis


def test_without_a_url_the_state_stays_in_memory() -> None:
    settings = Settings()
    assert settings.state.url is None and settings.state.namespace == "llmport"
    assert build_redis(settings) is None
    assert settings.state.secret_values() == []


def test_the_url_and_namespace_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPORT_STATE__URL", "rediss://:hunter2-pw@cache.internal:6380/1")
    monkeypatch.setenv("LLMPORT_STATE__NAMESPACE", "checkout")
    settings = load_settings()
    assert settings.state.namespace == "checkout"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    assert "hunter2-pw" in settings.secret_values()  # redacted from every log line
    assert "rediss://:hunter2-pw@cache.internal:6380/1" in settings.secret_values()
    connection = build_redis(settings)
    assert connection is not None
    assert connection.namespace == "checkout" and connection.timeout == 0.05
    assert "hunter2" not in repr(connection)


@pytest.mark.parametrize(("variable", "value", "why"), [
    ("LLMPORT_STATE__URL", "http://:hunter2@cache:6379", "scheme"),
    ("LLMPORT_STATE__URL", "redis://:hunter2@", "host"),
    ("LLMPORT_STATE__NAMESPACE", "a{b}", "namespace"),
    ("LLMPORT_STATE__TIMEOUT", "0", "greater than 0"),
])
def test_mistakes_name_the_variable_and_never_the_secret(monkeypatch: pytest.MonkeyPatch, variable: str,
                                                          value: str, why: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=why) as info:
        load_settings()
    assert variable in str(info.value)
    assert "hunter2" not in str(info.value)


async def test_the_container_shares_one_connection_and_closes_it(redis_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from llmport.adapters.redis import RedisConnection, RedisPolicyState

    monkeypatch.setenv("LLMPORT_STATE__URL", redis_url)
    monkeypatch.setenv("LLMPORT_STATE__TIMEOUT", "1.0")  # a busy machine must not look like an outage
    monkeypatch.setenv("LLMPORT_PROVIDERS__P__KIND", "openai_compatible")
    monkeypatch.setenv("LLMPORT_PROVIDERS__P__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LLMPORT_PROVIDERS__P__API_KEY", "sk-test-state")
    monkeypatch.setenv("LLMPORT_PROVIDERS__P__DEFAULT_MODEL", "m")
    container = Container()
    await container.init_resources()
    redis = container.redis()
    assert isinstance(redis, RedisConnection)
    state = container.policy().state
    assert isinstance(state, RedisPolicyState) and state.connection is redis
    assert "p/m" in state.breakers()  # the configured routes' shared state was learned at start-up
    assert await redis.ping()
    await container.shutdown_resources()
    assert redis._clients == {}  # closed
