"""The journal: what it records, secrets removed, and waiting on it."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import httpx2
import pytest

from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator
from llmport.adapters.testing.emulator.journal import redact_headers

SECRETS = {
    "authorization": "Bearer sk-test-0123456789abcdef",
    "x-api-key": "sk-ant-api03-secretsecretsecret",
    "api-key": "azure0123456789secret",
    "x-goog-api-key": "AIzaSyA-secret-secret-secret-secret",
    "x-amz-security-token": "FwoGZXIvYXdzEJr//////////session-token",
}
SIGV4 = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261123/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date, "
         "Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024")


def test_entry_records_the_request(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Reply(text="ok"))
    before = time.monotonic()
    client.post("/x/prov/v1/echo?alt=sse", json={"model": "m9", "input": "hi", "stream": False},
                headers={"x-trace": "t1"})
    entry = echo.journal.wait_done(echo.journal.last)
    assert (entry.vendor, entry.endpoint, entry.tag, entry.method, entry.path) == (
        "echo", "echo", "prov", "POST", "/v1/echo")
    assert (entry.query, entry.model, entry.stream) == ({"alt": "sse"}, "m9", False)
    assert entry.body == {"model": "m9", "input": "hi", "stream": False}
    assert entry.headers["x-trace"] == "t1"
    assert entry.finished is not None
    assert before <= entry.arrived <= entry.finished
    assert (entry.status, entry.ended, entry.step, entry.client_disconnected) == (200, "complete", Reply(text="ok"),
                                                                                False)


def test_no_secret_reaches_any_journal_field(echo: VendorEmulator, client: httpx2.Client) -> None:
    client.post("/v1/echo?key=AIzaSyQuerySecretQuerySecret123", json={"model": "m", "input": "x"},
                headers=SECRETS)
    client.post("/v1/echo", json={"model": "m", "input": "x"}, headers={"authorization": SIGV4})
    text = " ".join(repr(dataclasses.asdict(e)) for e in echo.journal)
    for secret in [*SECRETS.values(), "AIzaSyQuerySecretQuerySecret123", "AKIAIOSFODNN7EXAMPLE",
                   "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"]:
        assert secret.split()[-1] not in text
    first, second = echo.journal.entries()
    assert {first.headers[name] for name in SECRETS} == {"[REDACTED]"}
    assert first.query == {"key": "[REDACTED]"}
    assert second.headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=[REDACTED]/20261123/us-east-1/bedrock/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature=[REDACTED]")


def test_redaction_keeps_ordinary_headers() -> None:
    assert redact_headers({"content-type": "application/json", "x-api-key": "k"}) == {
        "content-type": "application/json", "x-api-key": "[REDACTED]"}


def test_entries_filter_and_gaps_between_retries(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.http(503), then=Reply(text="ok"))
    client.post("/v1/echo", json={"model": "a", "input": "x"})
    time.sleep(0.05)
    client.post("/v1/echo", json={"model": "a", "input": "x"})
    client.post("/v1/echo", json={"model": "b", "input": "x"})
    attempts = echo.journal.entries(model="a")
    assert [e.status for e in attempts] == [503, 200]
    assert attempts[1].arrived - attempts[0].arrived >= 0.05
    assert len(echo.journal.entries(vendor="echo")) == len(echo.journal) == 3
    assert echo.journal.entries(tag="nope") == []


def test_wait_for_blocks_until_the_condition_holds(echo: VendorEmulator) -> None:
    def later() -> None:
        time.sleep(0.05)
        with httpx2.Client(base_url=echo.url) as c:
            c.post("/v1/echo", json={"model": "m", "input": "x"})

    thread = threading.Thread(target=later)
    thread.start()
    entries = echo.journal.wait_count(1, vendor="echo")
    thread.join()
    assert entries[0].ended == "complete"


def test_wait_for_times_out(echo: VendorEmulator) -> None:
    with pytest.raises(TimeoutError, match="0 entries"):
        echo.journal.wait_for(lambda j: len(j) > 0, timeout=0.05)


async def test_await_for_does_not_block_the_loop(echo: VendorEmulator) -> None:
    async with httpx2.AsyncClient(base_url=echo.url, timeout=5.0) as c:
        echo.script(Fault.hang())
        call = asyncio.ensure_future(c.post("/v1/echo", json={"model": "m", "input": "x"}))
        await echo.journal.await_for(lambda j: len(j) == 1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        entry = await echo.journal.await_disconnected(echo.journal.last)
        await echo.journal.await_closed(entry)
    assert entry.ended == "disconnected"
    with pytest.raises(TimeoutError):
        await echo.journal.await_for(lambda j: len(j) > 1, timeout=0.05)
