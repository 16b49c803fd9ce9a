from __future__ import annotations

import asyncio

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import CompletionRequest, Message
from llmport.ports import (
    BreakerConfig,
    FailoverPolicy,
    PolicyConfig,
    RecordingObserver,
    RetryBudget,
    RetryPolicy,
    Route,
    Router,
    RouteSet,
)


class FakeClock:
    """Monotonic time that moves only when the policy sleeps (or a test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def ask(model: str = "smart", text: str = "secret prompt text", **kw: object) -> CompletionRequest:
    return CompletionRequest(model=model, messages=[Message.user(text)], **kw)  # type: ignore[arg-type]


def make_policy(
    *adapters: FakeLLM,
    clock: object | None = None,
    observer: RecordingObserver | None = None,
    retry: RetryPolicy | None = None,
    breaker: BreakerConfig | None = None,
    budget: RetryBudget | None = None,
    windows: tuple[int | None, ...] = (),
    **config: object,
) -> FailoverPolicy:
    """A policy whose alias "smart" lists one route per adapter, in the order given."""
    routes = [Route(a.name, f"m-{a.name}", a, context_window=windows[i] if i < len(windows) else None)
              for i, a in enumerate(adapters)]
    cfg = PolicyConfig(retry=retry or RetryPolicy(3, 0.01, 0.05), breaker=breaker or BreakerConfig(), **config)  # type: ignore[arg-type]
    return FailoverPolicy(
        Router(routes, {"smart": RouteSet("smart", tuple(routes))}),
        config=cfg, clock=clock or FakeClock(), observer=observer or RecordingObserver(),  # type: ignore[arg-type]
        budget=budget or RetryBudget(min_retries=1000),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()
