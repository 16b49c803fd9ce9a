"""Per-chunk CPU time the failover policy adds to a stream, replayed in-process (no network).

``python -m benchmarks.policy_chunk_cpu``: a recorded 200-chunk stream replayed through an
in-memory port, iterated directly and through ``FailoverPolicy.stream`` with and without a
deadline; medians (with range) of the per-chunk CPU time over interleaved repeats.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from llmport.domain import (
    Completion,
    CompletionRequest,
    Message,
    StopReason,
    StreamEvent,
    TextPart,
    Usage,
    completion_events,
)
from llmport.ports import FailoverPolicy, Route

CHUNKS = 200
STREAMS = 50
REPEATS = 7


class _Replay:
    """An ``LLMPort`` replaying one recorded stream."""

    def __init__(self, events: list[StreamEvent]) -> None:
        self.events = events

    async def complete(self, request: CompletionRequest) -> Completion:
        raise NotImplementedError

    @asynccontextmanager
    async def _stream(self) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        async def gen() -> AsyncIterator[StreamEvent]:
            for e in self.events:
                yield e
        yield gen()

    def stream(self, request: CompletionRequest):  # type: ignore[no-untyped-def]
        return self._stream()

    async def count_tokens(self, request: CompletionRequest) -> int:
        return 1

    async def aclose(self) -> None:
        pass


def _recorded() -> list[StreamEvent]:
    text = "".join(f"w{i} " for i in range(CHUNKS))
    done = Completion((TextPart(text),), StopReason("end_turn", "end_turn"), Usage(10, CHUNKS), model="m")
    chunk = max(1, len(text) // CHUNKS)
    return list(completion_events(done, chunk))


async def _cpu_per_chunk(port: object, request: CompletionRequest, n_events: int) -> float:
    start = time.process_time()
    for _ in range(STREAMS):
        async with port.stream(request) as events:  # type: ignore[attr-defined]
            async for _ in events:
                pass
    return (time.process_time() - start) / (STREAMS * n_events)


async def main() -> None:
    events = _recorded()
    replay = _Replay(events)
    policy = FailoverPolicy.of(Route("r", "m", replay))  # type: ignore[arg-type]
    plain = CompletionRequest("r/m", [Message.user("hi")])
    deadline = CompletionRequest("r/m", [Message.user("hi")], timeout=60.0)
    rows: dict[str, list[float]] = {"raw replay": [], "policy": [], "policy + deadline": []}
    for _ in range(REPEATS):
        rows["raw replay"].append(await _cpu_per_chunk(replay, plain, len(events)))
        rows["policy"].append(await _cpu_per_chunk(policy, plain, len(events)))
        rows["policy + deadline"].append(await _cpu_per_chunk(policy, deadline, len(events)))
    base = statistics.median(rows["raw replay"])
    print(f"{len(events)} events per stream, {STREAMS} streams x {REPEATS} repeats; CPU per chunk:")
    for name, values in rows.items():
        med = statistics.median(values)
        print(f"  {name:<20} {med * 1e6:6.2f} us  (range {min(values) * 1e6:.2f}-{max(values) * 1e6:.2f}),"
              f" added {(med - base) * 1e6:+.2f} us")


if __name__ == "__main__":
    asyncio.run(main())
