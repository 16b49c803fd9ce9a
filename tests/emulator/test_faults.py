"""How each fault and each reply reaches the client over real HTTP, and what the journal records."""

from __future__ import annotations

import json
import time

import httpx2
import pytest

from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator

BODY = {"model": "m1", "input": "hello"}
STREAM = {**BODY, "stream": True}


def frames(response: httpx2.Response) -> list[str]:
    return [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]


def test_stream_is_chunked_as_scripted(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Reply(text="abcdefghij", chunk_size=4), Reply(chunks=("one ", "two")))
    with client.stream("POST", "/v1/echo", json=STREAM) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        got = frames(r)
    assert [json.loads(f)["text"] for f in got[:-1]] == ["abcd", "efgh", "ij"]
    assert got[-1] == "[DONE]"
    with client.stream("POST", "/v1/echo", json=STREAM) as r:
        assert [json.loads(f)["text"] for f in frames(r)[:-1]] == ["one ", "two"]
    first = echo.journal[0]
    assert (first.stream, first.status, first.frames_sent, first.ended) == (True, 200, 4, "complete")


def test_chunk_delay_spaces_the_frames(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Reply(text="abcdef", chunk_size=2, chunk_delay=0.05))
    seen: list[float] = []
    with client.stream("POST", "/v1/echo", json=STREAM) as r:
        for _ in r.iter_lines():
            seen.append(time.monotonic())
    entry = echo.journal.last
    assert entry.finished is not None
    assert entry.finished - entry.arrived >= 3 * 0.05
    print(f"stream of 4 frames with 0.05 s delay took {seen[-1] - seen[0]:.3f} s at the client")


def test_latency_is_waited_before_the_headers(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Reply(text="late", latency=0.2), Fault.http(503, latency=0.2))
    for expected in (200, 503):
        started = time.monotonic()
        assert client.post("/v1/echo", json=BODY).status_code == expected
        assert time.monotonic() - started >= 0.2


def test_http_fault_uses_the_wire_error_body_and_headers(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.http(529, "overloaded_error", "busy"), Fault.rate_limited(1.5))
    r = client.post("/v1/echo", json=STREAM)
    assert (r.status_code, r.json()) == (529, {"error": {"type": "overloaded_error", "message": "busy"}})
    r = client.post("/v1/echo", json=BODY)
    assert (r.status_code, r.headers["retry-after"]) == (429, "1.5")
    assert [(e.status, e.ended) for e in echo.journal] == [(529, "error"), (429, "error")]
    assert echo.journal[0].fault == Fault.http(529, "overloaded_error", "busy")


def test_hang_never_answers_and_the_disconnect_is_journaled(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.hang())
    with pytest.raises(httpx2.ReadTimeout):
        client.post("/v1/echo", json=BODY, timeout=0.2)
    entry = echo.journal.wait_disconnected(echo.journal.last)
    assert (entry.ended, entry.status, entry.client_disconnected) == ("disconnected", None, True)
    echo.journal.wait_closed(entry)


def test_cancelled_stream_is_seen_as_a_disconnect(echo: VendorEmulator) -> None:
    echo.script(Reply(text="x" * 200, chunk_size=1, chunk_delay=0.01))
    with httpx2.Client(base_url=echo.url, timeout=5.0) as c, c.stream("POST", "/v1/echo", json=STREAM) as r:
        lines = r.iter_lines()
        for _ in range(3):
            next(lines)
    entry = echo.journal.wait_disconnected(echo.journal.last)
    assert entry.ended == "disconnected"
    assert 2 <= entry.frames_sent < 201
    echo.journal.wait_closed(entry)


def test_completed_request_on_a_kept_alive_connection_is_not_closed(echo: VendorEmulator,
                                                                     client: httpx2.Client) -> None:
    client.post("/v1/echo", json=BODY)
    entry = echo.journal.wait_done(echo.journal.last)
    assert entry.ended == "complete"
    with pytest.raises(TimeoutError):
        echo.journal.wait_closed(entry, timeout=0.1)
    client.close()
    echo.journal.wait_closed(entry)


@pytest.mark.parametrize("stream", [False, True])
def test_reset_drops_the_connection_without_a_response(echo: VendorEmulator, client: httpx2.Client,
                                                       stream: bool) -> None:
    echo.script(Fault.reset())
    with pytest.raises((httpx2.ReadError, httpx2.RemoteProtocolError)):
        client.post("/v1/echo", json=STREAM if stream else BODY)
    entry = echo.journal.last
    assert (entry.ended, entry.status, entry.client_disconnected) == ("reset", None, False)
    echo.journal.wait_closed(entry)
    assert client.post("/v1/echo", json=BODY).status_code == 200  # the emulator itself is fine


def test_cut_sends_n_frames_then_breaks_the_body(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.cut(2, reply=Reply(text="abcdefgh", chunk_size=2)))
    got: list[str] = []

    def read() -> None:
        with client.stream("POST", "/v1/echo", json=STREAM) as r:
            got.extend(line for line in r.iter_lines() if line)

    with pytest.raises(httpx2.RemoteProtocolError):
        read()
    assert got == ['data: {"text": "ab"}', 'data: {"text": "cd"}']
    entry = echo.journal.last
    assert (entry.ended, entry.status, entry.frames_sent) == ("cut", 200, 2)


def test_cut_never_sends_the_whole_stream(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.cut(99, reply=Reply(text="ab", chunk_size=1)))
    got: list[str] = []

    def read() -> None:
        with client.stream("POST", "/v1/echo", json=STREAM) as r:
            for line in r.iter_lines():
                if line:
                    got.append(line)

    with pytest.raises(httpx2.RemoteProtocolError):
        read()
    assert got == ['data: {"text": "a"}', 'data: {"text": "b"}']  # all but the terminal frame


def test_cut_of_a_plain_response_breaks_its_body(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.cut(0))
    with pytest.raises(httpx2.RemoteProtocolError):
        client.post("/v1/echo", json=BODY)
    assert echo.journal.last.ended == "cut"


def test_malformed_frame_after_n_frames(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.malformed(1, reply=Reply(text="abcd", chunk_size=2)), Fault.malformed())
    with client.stream("POST", "/v1/echo", json=STREAM) as r:
        assert frames(r) == ['{"text": "ab"}', "{not json"]
    with client.stream("POST", "/v1/echo", json=STREAM) as r:
        assert frames(r) == ["{not json"]
    assert [(e.ended, e.frames_sent) for e in echo.journal] == [("malformed", 2), ("malformed", 1)]
    assert echo.journal.last.status == 200


def test_malformed_plain_response_is_not_json(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.malformed())
    r = client.post("/v1/echo", json=BODY)
    assert r.status_code == 200
    with pytest.raises(ValueError, match=r"."):
        r.json()


def test_stream_error_event_after_n_frames(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.stream_error(2, "overloaded_error", reply=Reply(text="abcdef", chunk_size=2)))
    with client.stream("POST", "/v1/echo", json=STREAM) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines == ['data: {"text": "ab"}', 'data: {"text": "cd"}', "event: error",
                     'data: {"type": "overloaded_error"}']
    assert echo.journal.last.ended == "stream_error"


def test_stream_error_on_a_plain_call_is_an_http_error(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.stream_error(0, "overloaded_error"))
    r = client.post("/v1/echo", json=BODY)
    assert (r.status_code, r.json()["error"]["type"]) == (500, "overloaded_error")


def test_invalid_request_gets_the_wire_error_as_400(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Reply(text="not consumed"))
    r = client.post("/v1/echo", json={"input": "no model"})
    assert (r.status_code, r.json()["error"]["message"]) == (400, "model is required")
    entry = echo.journal.last
    assert (entry.vendor, entry.ended, entry.status, entry.step) == ("echo", "invalid", 400, None)
    assert echo.pending() == 1


def test_unknown_route_is_a_journaled_404(echo: VendorEmulator, client: httpx2.Client) -> None:
    r = client.get("/v2/nothing?x=1")
    assert r.status_code == 404
    assert "GET /v2/nothing" in r.json()["error"]["message"]
    entry = echo.journal.last
    assert (entry.vendor, entry.path, entry.query, entry.status) == ("", "/v2/nothing", {"x": "1"}, 404)


def test_stop_ends_a_hanging_request() -> None:
    from .echo_wire import EchoWire

    emu = VendorEmulator(protocols=[EchoWire()]).start()
    emu.script(Fault.hang())
    with httpx2.Client(base_url=emu.url, timeout=5.0) as c:
        import threading

        errors: list[BaseException] = []

        def call() -> None:
            try:
                c.post("/v1/echo", json=BODY)
            except httpx2.HTTPError as exc:
                errors.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        emu.journal.wait_for(lambda j: len(j) == 1)
        emu.stop()
        caller.join(5)
    assert not caller.is_alive()
    assert len(errors) == 1
    assert emu.journal.last.ended == "stopped"


def test_client_leaving_during_latency_is_a_disconnect(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Reply(text="too late", latency=5.0))
    with pytest.raises(httpx2.ReadTimeout):
        client.post("/v1/echo", json=BODY, timeout=0.1)
    entry = echo.journal.wait_disconnected(echo.journal.last)
    assert (entry.ended, entry.status) == ("disconnected", None)


def test_a_wire_bug_is_a_500_and_journaled(echo: VendorEmulator, client: httpx2.Client,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from .echo_wire import EchoWire

    def broken(self: EchoWire, call: object, reply: Reply) -> object:
        raise RuntimeError("wire bug")

    monkeypatch.setattr(EchoWire, "reply", broken)
    assert client.post("/v1/echo", json=BODY).status_code == 500
    assert echo.journal.wait_done(echo.journal.last).ended == "emulator_error"
