"""The synchronous facade as synchronous hosts use it: WSGI threads, abandoned streams, timeouts,
interrupts, forked workers, shutdown."""

from __future__ import annotations

import gc
import io
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from dependency_injector import providers

from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator
from llmport.composition import Container, load_settings
from llmport.composition.sync_llm import SyncLLM
from llmport.domain import AllProvidersFailed, CompletionRequest, LLMError, Message, StreamEnd, TextDelta, Timeout

REQ = CompletionRequest(model="default", messages=[Message.user("hi")])
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _container(emu: VendorEmulator, *names: str) -> Container:
    settings = load_settings(
        providers={n: {"kind": "openai", "base_url": emu.url_for(n) + "/v1", "api_key": f"test-{n}-key",
                       "default_model": "gpt-4o"} for n in names},
        order=list(names), logging={"level": "error"},
        policy={"retry": {"preset": "balanced", "base_delay": 0.0, "max_delay": 0.0}},
    )
    container = Container()
    container.settings.override(providers.Object(settings))
    return container


@pytest.fixture
def sync_llm(emu: VendorEmulator) -> Iterator[SyncLLM]:
    llm = _container(emu, "primary", "backup").sync_llm()
    yield llm
    llm.close()


def _wsgi_app(llm: SyncLLM) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        prompt = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode()
        try:
            completion = llm.complete(CompletionRequest(model="default", messages=[Message.user(prompt)]),
                                      timeout=30)
        except LLMError as exc:
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [type(exc).__name__.encode()]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{completion.provider}:{completion.text}".encode()]
    return app


def _serve(app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]], prompt: str) -> tuple[str, bytes]:
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(prompt.encode())),
                               "wsgi.input": io.BytesIO(prompt.encode())}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers: status.append(s)))
    return status[0], body


def test_a_wsgi_app_served_from_32_threads_fails_over_past_a_failing_primary(
        emu: VendorEmulator, sync_llm: SyncLLM) -> None:
    emu.script(then=Fault.http(503), tag="primary")
    emu.script(then=Reply(text="from backup"), tag="backup")
    app = _wsgi_app(sync_llm)
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda i: _serve(app, f"request {i}"), range(96)))
    assert results == [("200 OK", b"backup:from backup")] * 96
    assert emu.journal.entries(tag="primary"), "the primary was tried"
    prompts = {str(e.body["messages"][0]["content"]) for e in emu.journal.entries(tag="backup")}
    assert prompts == {f"request {i}" for i in range(96)}


def test_errors_are_the_async_ports_taxonomy(emu: VendorEmulator, sync_llm: SyncLLM) -> None:
    emu.script(then=Fault.http(503))
    with pytest.raises(AllProvidersFailed):
        sync_llm.complete(REQ)
    with pytest.raises(AllProvidersFailed), sync_llm.stream(REQ) as events:
        list(events)


def test_stream_is_an_iterator_and_a_context_manager(emu: VendorEmulator, sync_llm: SyncLLM) -> None:
    emu.script(Reply(text="one two three four", chunk_size=4), Reply(text="again"))
    with sync_llm.stream(REQ) as events:
        got = list(events)
    assert "".join(e.text for e in got if isinstance(e, TextDelta)) == "one two three four"
    assert isinstance(got[-1], StreamEnd)
    assert isinstance(list(sync_llm.stream(REQ))[-1], StreamEnd)  # no `with`: iterating is enough
    assert sync_llm.count_tokens(REQ) > 0


def test_an_abandoned_iterator_closes_its_upstream_connection(emu: VendorEmulator, sync_llm: SyncLLM) -> None:
    emu.script(Reply(text="x" * 400, chunk_size=1, chunk_delay=0.01))
    events = sync_llm.stream(REQ)
    assert isinstance(next(events), TextDelta)
    entry = emu.journal.entries()[0]
    del events
    gc.collect()
    emu.journal.wait_disconnected(entry, timeout=5)
    assert entry.ended == "disconnected"


def test_leaving_the_with_block_early_closes_the_upstream(emu: VendorEmulator, sync_llm: SyncLLM) -> None:
    emu.script(Reply(text="x" * 400, chunk_size=1, chunk_delay=0.01))
    with sync_llm.stream(REQ) as events:
        next(events)
    emu.journal.wait_disconnected(emu.journal.entries()[0], timeout=5)


def test_the_callers_timeout_cancels_and_closes_the_upstream(emu: VendorEmulator, sync_llm: SyncLLM) -> None:
    emu.script(then=Fault.hang())
    with pytest.raises(Timeout, match="caller's timeout"):
        sync_llm.complete(REQ, timeout=0.3)
    emu.journal.wait_disconnected(emu.journal.entries()[0], timeout=5)
    emu.reset()
    emu.script(then=Fault.hang())
    with pytest.raises(Timeout), sync_llm.stream(REQ, timeout=0.3) as events:
        next(events)
    emu.journal.wait_disconnected(emu.journal.entries()[0], timeout=5)


def test_keyboard_interrupt_in_the_caller_cancels_the_request(emu: VendorEmulator, sync_llm: SyncLLM) -> None:
    assert threading.current_thread() is threading.main_thread()
    emu.script(then=Fault.hang())
    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        emu.journal.wait_for(lambda j: len(j) == 1, timeout=10)
        signal.pthread_kill(main, signal.SIGINT)

    helper = threading.Thread(target=interrupt)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sync_llm.complete(REQ)
    finally:
        helper.join()
    emu.journal.wait_disconnected(emu.journal.entries()[0], timeout=5)
    emu.reset()
    emu.script(Reply(text="still serving"))
    assert sync_llm.complete(REQ).text == "still serving"


def test_a_child_forked_after_start_up_gets_its_own_clients_and_loop(
        emu: VendorEmulator, sync_llm: SyncLLM) -> None:
    emu.script(then=Reply(text="ok"))
    assert sync_llm.complete(REQ).text == "ok"
    parent_peer = emu.journal.entries()[0].client
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            code = 0 if sync_llm.complete(REQ, timeout=20).text == "ok" else 2
            sync_llm.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child_entry = emu.journal.entries()[1]
    assert child_entry.client != parent_peer  # a fresh connection, not the parent's socket
    assert sync_llm.complete(REQ).text == "ok"  # the parent's clients are untouched
    assert emu.journal.entries()[2].client == parent_peer


def test_close_shuts_everything_down(emu: VendorEmulator) -> None:
    container = _container(emu, "primary")
    llm = container.sync_llm()
    assert container.sync_llm() is llm and not llm.started
    emu.script(then=Reply(text="ok"))
    assert llm.complete(REQ).text == "ok"
    assert llm.started
    loop_threads = [t for t in threading.enumerate() if t.name == "llmport-sync"]
    llm.close()
    llm.close()
    assert not llm.started and "closed" in repr(llm)
    assert not any(t.is_alive() for t in loop_threads)
    with pytest.raises(LLMError, match="closed"):
        llm.complete(REQ)


def test_structured_output_from_a_synchronous_host(emu: VendorEmulator, sync_llm: SyncLLM) -> None:
    from pydantic import BaseModel

    from llmport.domain import StructuredOutputInvalid

    class City(BaseModel):
        name: str
        population: int

    emu.script(Reply('{"name": "Lyon", "population": "many"}'), then=Reply('{"name": "Lyon", "population": 522250}'),
               tag="primary")
    result = sync_llm.structured(City, REQ, timeout=30)
    assert result.value == City(name="Lyon", population=522250)
    assert len(result.attempts) == 2  # one repair with the validation errors
    emu.script(then=Reply("no JSON at all"), tag="primary")
    with pytest.raises(StructuredOutputInvalid) as info:
        sync_llm.structured(City, REQ, max_repairs=1, timeout=30)
    assert info.value.raw_text == "no JSON at all"
