"""What every benchmark shares: the emulator in a child process, the interleaved timing, the
llmport side of each case, and the report.

A suite is a table of :class:`Case` rows, each pairing what the raw SDK does (``baseline``) with
what llmport does (``ours``) for the same work. :func:`run_suite` starts the emulator, builds the
cases, checks that both sides return the same answer, then times them: baseline and llmport batches
are interleaved, their order alternating per round, after a warm-up, and each side's figure is its
fastest single operation (timeit's rule: noise only ever adds time; on a shared machine the
minimum is steadier from run to run than a median).

The emulator runs in a child process: in a thread it would share the GIL with the client and swamp
the difference being measured with scheduling noise. It answers the ``short`` model with one
sentence and the ``long`` model with 200 text chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from llmport.domain import CompletionRequest, Message, TextDelta
from llmport.ports import LLMPort

PROMPT = "Summarise the plot of Hamlet in one sentence."
SHORT_TEXT = "Hamlet avenges his father and everyone dies."
LONG_TEXT = "word " * 200  # streamed as 200 chunks of 5 characters
ROUNDS = 9
WARMUP = 3  # operations per side before timing: connections, caches, lazy imports

Op = Callable[[], Awaitable[object]]
Row = tuple[str, float, float]  # case, baseline seconds per op, llmport seconds per op


@dataclass(frozen=True, slots=True)
class Case:
    """One row: ``baseline`` and ``ours`` do the same work, ``n`` operations per timed batch; when
    ``expect`` is set, both must return it before anything is timed."""

    name: str
    baseline: Op
    ours: Op
    n: int
    expect: object = None


def request(model: str, **fields: Any) -> CompletionRequest:
    """The benchmark prompt as a domain request (``max_tokens=256`` unless given)."""
    return CompletionRequest(model=model, messages=[Message.user(PROMPT)], **{"max_tokens": 256, **fields})


def complete_text(port: LLMPort, req: CompletionRequest) -> Op:
    """llmport's one-shot call: the completion's text."""
    async def op() -> object:
        return (await port.complete(req)).text
    return op


def stream_text(port: LLMPort, req: CompletionRequest) -> Op:
    """llmport's stream, read to the end: the concatenated text deltas."""
    async def op() -> object:
        parts = []
        async with port.stream(req) as events:
            async for event in events:
                if type(event) is TextDelta:
                    parts.append(event.text)
        return "".join(parts)
    return op


@contextlib.contextmanager
def emulator(vendor: str, short: str, long: str) -> Iterator[str]:
    """A VendorEmulator in a child process speaking ``vendor``; yields its base URL and stops it
    (by closing the child's stdin) on exit."""
    child = subprocess.Popen([sys.executable, __file__, vendor, short, long], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        url = child.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the emulator child process did not start")
        yield url
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def _fastest(op: Op, n: int) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter()
        await op()
        best = min(best, time.perf_counter() - start)
    return best


async def compare(baseline: Op, ours: Op, n: int, rounds: int = ROUNDS) -> tuple[float, float]:
    """Seconds per operation (baseline, ours): interleaved batches of ``n``, order alternating per
    round, after a warm-up; each side's fastest single operation."""
    for _ in range(WARMUP):
        await baseline()
        await ours()
    best = {baseline: float("inf"), ours: float("inf")}
    for i in range(rounds):
        for op in (baseline, ours) if i % 2 == 0 else (ours, baseline):
            best[op] = min(best[op], await _fastest(op, n))
    return best[baseline], best[ours]


async def _measure(suite: str, cases: contextlib.AbstractAsyncContextManager[list[Case]]) -> list[Row]:
    rows = []
    async with cases as table:
        for case in table:
            if case.expect is not None:
                got = (await case.baseline(), await case.ours())
                if got != (case.expect, case.expect):
                    raise RuntimeError(f"{suite} {case.name}: baseline and llmport disagree on the answer")
            rows.append((case.name, *await compare(case.baseline, case.ours, case.n)))
    return rows


def run_suite(suite: str, vendor: str, short: str, long: str,
              cases: Callable[[str], contextlib.AbstractAsyncContextManager[list[Case]]]) -> list[Row]:
    """Serve ``vendor`` from a child emulator, build ``cases(url)`` (an async context manager, so
    clients live and close inside the event loop), measure every case and print one line each."""
    with emulator(vendor, short, long) as url:
        rows = asyncio.run(_measure(suite, cases(url)))
    for name, base, ours in rows:
        print(f"{suite} {name:<36} baseline {base * 1e6:10.1f} us  llmport {ours * 1e6:10.1f} us  "
              f"ratio {ours / base:6.3f}x  overhead {(ours - base) * 1e6:+.1f} us", flush=True)
    return rows


def _serve(vendor: str, short: str, long: str) -> None:
    """The child's side of :func:`emulator`: serve until stdin closes."""
    from llmport.adapters.testing.emulator import Reply, ScriptedUsage, VendorEmulator

    with VendorEmulator() as emu:
        emu.script(then=Reply(text=SHORT_TEXT, usage=ScriptedUsage(12, 9)), vendor=vendor, model=short)
        emu.script(then=Reply(text=LONG_TEXT, chunk_size=5, usage=ScriptedUsage(12, 200)), vendor=vendor,
                   model=long)
        print(emu.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    _serve(*sys.argv[1:])

