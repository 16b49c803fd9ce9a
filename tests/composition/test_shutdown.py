"""Shutdown closes every adapter (streams, worker pools) and every client, even when one fails."""

from __future__ import annotations

import pytest
from dependency_injector import providers

from llmport.adapters.testing import FakeLLM
from llmport.composition import Container, Settings
from llmport.composition.adapters_factory import ProviderClients


class _Failing(FakeLLM):
    async def aclose(self) -> None:
        await super().aclose()
        raise RuntimeError("close failed")


async def test_shutdown_closes_every_adapter_even_when_one_close_fails() -> None:
    container = Container()
    container.settings.override(providers.Object(Settings()))
    first, broken, last = FakeLLM(name="a"), _Failing(name="b"), FakeLLM(name="c")
    container.adapters.override(providers.Object({"a": first, "b": broken, "c": last}))
    container.clients.override(providers.Object(ProviderClients({})))
    await container.init_resources()  # type: ignore[misc]
    with pytest.raises(RuntimeError, match="close failed"):
        await container.shutdown_resources()  # type: ignore[misc]
    assert first.closed and broken.closed and last.closed
