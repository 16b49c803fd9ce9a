"""The emulator scripted over HTTP from another process: a child-process ``llmport-emulator``, and a host
that fails over through it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from dependency_injector import providers

from llmport.adapters.testing.emulator import Journal, VendorEmulator
from llmport.adapters.testing.emulator.__main__ import main as emulator_main
from llmport.composition import Container, load_settings
from llmport.domain import CompletionRequest, LLMError, Message

REQ = CompletionRequest(model="default", messages=[Message.user("hi")])


def _call(base: str, method: str, action: str, body: Any = None, query: str = "") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/_emulator/{action}{query}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def child_emulator() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "llmport.adapters.testing.emulator", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"listening on (http://\S+)", line)
        assert found, line
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture
def remote(child_emulator: str) -> str:
    assert _call(child_emulator, "POST", "reset", {}) == (200, {"ok": True})
    return child_emulator


def _sync_llm(base: str, *names: str) -> Any:
    settings = load_settings(
        providers={n: {"kind": "openai", "base_url": f"{base}/x/{n}/v1", "api_key": f"test-{n}-key",
                       "default_model": "gpt-4o"} for n in names},
        order=list(names), logging={"level": "error"},
        policy={"retry": {"preset": "balanced", "base_delay": 0.0, "max_delay": 0.0}},
    )
    container = Container()
    container.settings.override(providers.Object(settings))
    return container.sync_llm()


def test_a_host_fails_over_through_a_child_process_emulator_scripted_over_http(remote: str) -> None:
    status, _ = _call(remote, "POST", "script", {
        "tag": "primary", "steps": [{"fault": {"status": 503}}], "then": {"fault": {"kind": "http", "status": 500}}})
    assert status == 200
    assert _call(remote, "POST", "script", {"tag": "backup", "then": {"reply": {"text": "from backup"}}})[0] == 200
    with _sync_llm(remote, "primary", "backup") as llm:
        completion = llm.complete(REQ, timeout=30)
    assert (completion.provider, completion.text) == ("backup", "from backup")
    _, journal = _call(remote, "GET", "journal", query="?tag=primary")
    assert [e["status"] for e in journal["entries"]][:1] == [503]
    assert all(e["tag"] == "primary" and e["step"]["fault"]["kind"] == "http" for e in journal["entries"])
    assert "test-primary-key" not in json.dumps(journal)  # credentials redacted in the journal
    assert _call(remote, "GET", "pending") == (200, {"pending": 0})


def test_seeded_fault_rates_and_sequences_over_http(remote: str) -> None:
    body = {"vendor": "openai", "rate": 1.0, "seed": 3, "fault": {"status": 429, "retry_after": 2}}
    assert _call(remote, "POST", "fail_rate", body)[0] == 200
    with _sync_llm(remote, "only") as llm, pytest.raises(LLMError):
        llm.complete(REQ, timeout=30)
    _, journal = _call(remote, "GET", "journal", query="?vendor=openai")
    assert journal["entries"] and {e["status"] for e in journal["entries"]} == {429}
    assert _call(remote, "POST", "reset", {})[0] == 200
    assert _call(remote, "POST", "script", {"steps": [{"reply": {"text": "a"}}, {"reply": {"text": "b"}}]})[0] == 200
    assert _call(remote, "GET", "pending") == (200, {"pending": 2})


def test_wait_disconnected_over_http(remote: str) -> None:
    assert _call(remote, "POST", "script", {"then": {"fault": {"kind": "hang"}}})[0] == 200
    with _sync_llm(remote, "p") as llm, pytest.raises(Exception, match="caller's timeout"):
        llm.complete(REQ, timeout=0.5)
    _, journal = _call(remote, "GET", "journal")
    seq = journal["entries"][0]["seq"]
    status, entry = _call(remote, "POST", "wait_disconnected", {"seq": seq, "timeout": 10})
    assert status == 200 and entry["client_disconnected"] is True
    assert _call(remote, "POST", "wait_disconnected", {"seq": 10_000})[0] == 404


def test_bad_control_requests_are_400_naming_what_to_change(emu: VendorEmulator) -> None:
    status, body = _call(emu.url, "POST", "script", {"steps": [{"fault": {"sttaus": 503}}]})
    assert status == 400 and "sttaus" in body["error"] and "status" in body["error"]
    assert _call(emu.url, "POST", "script", {"steps": [{"nothing": {}}]})[0] == 400
    assert _call(emu.url, "POST", "fail_rate", {"rate": 2, "fault": {}})[0] == 400
    assert _call(emu.url, "POST", "script", [1])[0] == 400
    assert _call(emu.url, "GET", "nowhere")[0] == 404
    assert emu.pending() == 0 and len(emu.journal) == 0  # control calls are not journaled


def test_http_and_python_scripts_are_one_store(emu: VendorEmulator) -> None:
    assert _call(emu.url, "POST", "script", {"model": "m", "steps": [{"reply": {
        "text": "x", "tool_calls": [{"name": "f", "arguments": {"a": 1}}], "usage": {"input_tokens": 3}}}]})[0] == 200
    assert emu.pending(model="m") == 1
    emu.reset()
    assert _call(emu.url, "GET", "pending") == (200, {"pending": 0})


def test_the_journal_is_bounded() -> None:
    journal = Journal(limit=3)
    for _ in range(5):
        journal.open(vendor="openai", endpoint="chat", method="POST", path="/v1/chat/completions",
                     query={}, headers={})
    assert [e.seq for e in journal] == [3, 4, 5]
    with pytest.raises(ValueError, match="at least 1"):
        Journal(limit=0)


def test_help_documents_the_control_api(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        emulator_main(["--help"])
    out = capsys.readouterr().out
    assert "/_emulator/script" in out and "curl" in out and "--journal-limit" in out
