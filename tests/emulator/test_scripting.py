"""Which step answers a call: sequences, ``then``, specificity, tags, seeded fault rates, defaults."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest

from llmport.adapters.testing.emulator import Fault, FaultRate, Reply, ScriptedUsage, VendorEmulator


def ask(client: httpx2.Client, text: str = "hi", model: str = "m1", base: str = "") -> httpx2.Response:
    return client.post(f"{base}/v1/echo", json={"model": model, "input": text})


def test_default_answer_is_derived_from_the_prompt(client: httpx2.Client) -> None:
    first = ask(client, "What is the capital of France?", model="demo-1").json()
    again = ask(client, "What is the capital of France?", model="demo-1").json()
    assert first == again
    assert "demo-1" in first["text"]
    assert "What is the capital of France?" in first["text"]
    assert first["usage"]["input"] == len("What is the capital of France?") // 4 + 1
    assert first["usage"]["output"] == -(-len(first["text"]) // 4)


def test_default_answer_quotes_at_most_60_characters(client: httpx2.Client) -> None:
    text = ask(client, "x" * 100).json()["text"]
    assert "x" * 60 in text
    assert "x" * 61 not in text


def test_scripted_usage_numbers_are_kept_and_missing_ones_estimated(echo: VendorEmulator,
                                                                     client: httpx2.Client) -> None:
    echo.script(Reply(text="abcdefgh", usage=ScriptedUsage(input_tokens=7)),
                Reply(text="x", usage=ScriptedUsage(input_tokens=3, output_tokens=9)))
    assert ask(client, "a" * 40).json()["usage"] == {"input": 7, "output": 2}
    assert ask(client).json()["usage"] == {"input": 3, "output": 9}


def test_sequence_then_default(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.http(503), Fault.http(500), Reply(text="third"))
    assert [ask(client).status_code for _ in range(3)] == [503, 500, 200]
    assert echo.journal.entries()[2].step == Reply(text="third")
    assert ask(client).json()["text"].startswith("Hello from the llmport emulator")
    assert echo.pending() == 0


def test_then_answers_forever_after_the_queue(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.http(429), then=Reply(text="steady"))
    assert ask(client).status_code == 429
    assert [ask(client).json()["text"] for _ in range(3)] == ["steady"] * 3


def test_scripting_twice_appends_to_the_queue(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Reply(text="one"))
    echo.script(Reply(text="two"), vendor=None)
    assert [ask(client).json()["text"] for _ in range(2)] == ["one", "two"]


def test_most_specific_script_wins(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(then=Reply(text="any"))
    echo.script(then=Reply(text="echo vendor"), vendor="echo")
    echo.script(then=Reply(text="model m2"), model="m2")
    echo.script(then=Reply(text="tagged"), tag="alpha")
    assert ask(client, model="m1").json()["text"] == "echo vendor"
    assert ask(client, model="m2").json()["text"] == "model m2"
    assert ask(client, model="m2", base="/x/alpha").json()["text"] == "tagged"
    echo.script(then=Reply(text="other vendor"), vendor="openai")
    assert ask(client, model="m1").json()["text"] == "echo vendor"


def test_used_up_specific_script_falls_back_to_a_general_one(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(then=Reply(text="general"), vendor="echo")
    echo.script(Reply(text="special"), model="m1")
    assert [ask(client).json()["text"] for _ in range(2)] == ["special", "general"]


def test_endpoint_selector(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.http(500), endpoint="count_tokens")
    assert ask(client).status_code == 200
    assert client.post("/v1/models/m1:count", json={"input": "x"}).status_code == 500


def test_tags_route_like_the_plain_path_and_are_journaled(echo: VendorEmulator, client: httpx2.Client) -> None:
    assert echo.url_for("p1") == f"{echo.url}/x/p1"
    echo.script(Fault.http(503), tag="p1")
    assert ask(client, base="/x/p1").status_code == 503
    assert ask(client, base="/x/p2").status_code == 200
    assert ask(client).status_code == 200
    tags = [(e.tag, e.path, e.status) for e in echo.journal.entries()]
    assert tags == [("p1", "/v1/echo", 503), ("p2", "/v1/echo", 200), (None, "/v1/echo", 200)]
    assert len(echo.journal.entries(tag="p1")) == 1


def test_url_for_rejects_a_tag_that_is_not_a_path_segment(echo: VendorEmulator) -> None:
    with pytest.raises(ValueError, match="tag"):
        echo.url_for("a/b")


def test_script_rejects_what_is_not_a_step(echo: VendorEmulator) -> None:
    with pytest.raises(TypeError, match="Reply or a Fault"):
        echo.script("hello")  # type: ignore[arg-type]


def _pattern(echo: VendorEmulator, client: httpx2.Client, seed: int, n: int = 40) -> list[int]:
    echo.reset()
    echo.fail_rate(FaultRate(0.5, Fault.http(503), seed=seed), vendor="echo")
    return [ask(client).status_code for _ in range(n)]


def test_fault_rates_are_seeded(echo: VendorEmulator, client: httpx2.Client) -> None:
    first = _pattern(echo, client, seed=7)
    assert first == _pattern(echo, client, seed=7)
    assert set(first) == {200, 503}
    assert first != _pattern(echo, client, seed=8)


def test_fault_rate_extremes_and_scripts_under_a_rate(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.fail_rate(FaultRate(1.0, Fault.http(502)), model="m1")
    echo.fail_rate(FaultRate(0.0, Fault.http(502)), model="m2")
    echo.script(then=Reply(text="scripted"), model="m2")
    assert {ask(client, model="m1").status_code for _ in range(5)} == {502}
    assert {ask(client, model="m2").json()["text"] for _ in range(5)} == {"scripted"}


def test_fault_rate_must_be_a_fraction(echo: VendorEmulator) -> None:
    with pytest.raises(ValueError, match="fraction"):
        echo.fail_rate(FaultRate(1.5, Fault.http(500)))


def test_concurrent_calls_consume_each_step_exactly_once(echo: VendorEmulator) -> None:
    echo.script(*(Reply(text=f"answer {i}", latency=0.01) for i in range(20)))
    with httpx2.Client(base_url=echo.url, timeout=5.0) as c, ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(lambda _: ask(c).json()["text"], range(20)))
    assert sorted(texts) == sorted(f"answer {i}" for i in range(20))
    assert echo.pending() == 0


def test_reset_forgets_scripts_rates_and_journal(echo: VendorEmulator, client: httpx2.Client) -> None:
    echo.script(Fault.http(500), then=Fault.http(500))
    echo.fail_rate(FaultRate(1.0, Fault.http(502)))
    ask(client)
    echo.reset()
    assert len(echo.journal) == 0
    assert ask(client).status_code == 200
