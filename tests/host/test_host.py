"""llmport embedded in a host (issue 12 §3): restartable, resources held while the host holds the
``llm``, the host's logging left alone, one event loop, typed entry points."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dependency_injector import providers
from starlette.testclient import TestClient

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Fault, Reply
from llmport.composition import Container, WrongEventLoop, start, stop
from llmport.composition.settings import load_settings
from llmport.domain import CompletionRequest, Message

from .conftest import KEY

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
ASK = CompletionRequest(model="default", messages=[Message.user("hi")])


@pytest.fixture
def host_log() -> Iterator[io.StringIO]:
    """The host's own stdlib logging: a handler with the host's format on the root logger."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("HOST %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


@pytest.mark.parametrize("round_", [1, 2, 3])
def test_the_app_starts_serves_and_stops_again_and_again(deployment: VendorEmulator, client: TestClient,
                                                         round_: int) -> None:
    deployment.script(then=Reply(f"answer {round_}"))
    with client:  # lifespan: start(container) ... stop(container), on a new event loop each time
        first = client.post("/chat", json={"prompt": "hi"})
        second = client.post("/chat", json={"prompt": "again"})
    assert first.status_code == 200 and first.json() == {"text": f"answer {round_}", "provider": "gw"}
    assert second.status_code == 200


def test_llmport_errors_become_http_statuses(deployment: VendorEmulator, client: TestClient) -> None:
    deployment.script(then=Fault.http(503))
    with client:
        assert client.post("/chat", json={"prompt": "hi"}).status_code == 503  # every provider failed
        assert client.post("/chat", json={"prompt": "hi", "model": "gw/other"}).status_code == 503
        assert client.post("/chat", json={"prompt": ""}).status_code in (400, 503)


def test_the_host_logging_is_left_as_it_was(deployment: VendorEmulator, client: TestClient,
                                            host_log: io.StringIO) -> None:
    host = logging.getLogger("host.app")
    host.info("before start-up")
    deployment.script(then=Reply("fine"))
    with client:
        host.info("while running")
        client.post("/chat", json={"prompt": "hi"})
    host.info("after shutdown")
    lines = host_log.getvalue().splitlines()
    # The host's own lines keep the host's format, byte for byte, before, during and after.
    assert lines[0] == "HOST INFO host.app: before start-up"
    assert "HOST INFO host.app: while running" in lines
    assert lines[-1] == "HOST INFO host.app: after shutdown"
    # llmport's events reach the host's handler through the stdlib logger "llmport.policy".
    attempts = [line for line in lines if line.startswith("HOST INFO llmport.policy: event=llm.attempt")]
    assert len(attempts) == 1 and "outcome=ok" in attempts[0] and "route=gw/gpt-4o-mini" in attempts[0]
    assert KEY not in host_log.getvalue()


def test_the_host_logging_level_decides(deployment: VendorEmulator, client: TestClient,
                                        host_log: io.StringIO) -> None:
    logging.getLogger("llmport").setLevel(logging.ERROR)
    try:
        deployment.script(then=Reply("fine"))
        with client:
            client.post("/chat", json={"prompt": "hi"})
    finally:
        logging.getLogger("llmport").setLevel(logging.NOTSET)
    assert "llmport" not in host_log.getvalue()


def test_http_client_request_logs_mask_credentials_in_urls(deployment: VendorEmulator,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           host_log: io.StringIO) -> None:
    monkeypatch.setenv("LLMPORT_PROVIDERS__GW__BASE_URL", deployment.url.replace("http://", "http://gwuser:Pa55w0rd-xyz@")
                       + "/v1")
    deployment.script(then=Reply("fine"))

    async def run() -> None:
        container = Container()
        llm = await start(container)
        try:
            await llm.complete(ASK)
            url = container.settings().providers["gw"].base_url
            logging.getLogger("httpx2").info("HTTP Request: POST %s?api_key=q-secret-42", url)
        finally:
            await stop(container)

    asyncio.run(run())
    text = host_log.getvalue()
    assert "Pa55w0rd-xyz" not in text and "q-secret-42" not in text
    assert "[REDACTED]" in text


def test_a_held_llm_keeps_its_clients_when_the_container_is_dropped(deployment: VendorEmulator) -> None:
    deployment.script(then=Reply("still here"))

    async def run() -> str:
        container = Container()
        llm = await start(container)
        del container
        gc.collect()
        await asyncio.sleep(0)
        gc.collect()
        return (await llm.complete(ASK)).text

    assert asyncio.run(run()) == "still here"


def test_another_event_loop_gets_a_clear_llm_error(deployment: VendorEmulator) -> None:
    container = Container()
    llm = asyncio.run(start(container))  # started on a loop that is now closed
    try:
        with pytest.raises(WrongEventLoop, match="another event loop"):
            asyncio.run(llm.complete(ASK))
    finally:
        container.runtime().llm = None  # nothing else to close: the loop is gone


def test_container_llm_before_start_says_so(deployment: VendorEmulator) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        Container().llm()


async def test_a_host_swaps_the_whole_llm_without_starting_anything() -> None:
    from llmport.adapters.testing import FakeLLM

    container = Container()
    container.llm.override(providers.Object(FakeLLM("scripted")))
    assert (await container.llm().complete(ASK)).text == "scripted"


def test_start_checks_every_setting_before_serving(deployment: VendorEmulator, monkeypatch: pytest.MonkeyPatch,
                                                   client: TestClient) -> None:
    from llmport.composition import SettingsError

    monkeypatch.setenv("LLMPORT_ALIASES__FAST", "gw/gpt-4o-mini,nobody/model-x")
    with pytest.raises(SettingsError, match="LLMPORT_ALIASES__FAST"), client:
        pass  # the app never serves a request


def test_the_readme_embedding_snippet_passes_mypy_strict() -> None:
    blocks = re.findall(r"```python\n(# host: .*?)```", README, re.DOTALL)
    assert blocks, "the README has an embedding snippet (a python block starting with '# host:')"
    with tempfile.TemporaryDirectory() as tmp:
        snippet = Path(tmp) / "host_snippet.py"
        snippet.write_text("\n".join(blocks), encoding="utf-8")
        result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                                 "--cache-dir", str(Path(tmp) / "cache"), str(snippet)],
                                capture_output=True, text=True, check=False, cwd=tmp)
    assert result.returncode == 0, result.stdout + result.stderr


def test_load_settings_from_the_test_environment(deployment: VendorEmulator) -> None:
    assert load_settings().providers["gw"].kind == "openai_compatible"
