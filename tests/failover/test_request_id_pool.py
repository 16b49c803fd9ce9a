"""Generated request ids come from a pool filled by one random read per batch: each is handed out
once, they stay 16 hex digits, and a forked child never repeats its parent's."""

from __future__ import annotations

import multiprocessing
import os
import re

import pytest

from llmport.ports import correlation
from llmport.ports.correlation import new_request_id


def test_ids_are_unique_hex_across_batches() -> None:
    ids = [new_request_id() for _ in range(5 * correlation._BATCH + 3)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)


def test_one_random_read_of_8_bytes_per_id_serves_the_next_64_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = os.urandom

    def counted(size: int) -> bytes:
        reads.append(size)
        return real(size)

    monkeypatch.setattr(correlation, "_POOL", [])
    monkeypatch.setattr(os, "urandom", counted)
    ids = [new_request_id() for _ in range(64)]
    assert reads == [8 * 64]
    ids.append(new_request_id())
    assert reads == [8 * 64, 8 * 64]
    assert len(set(ids)) == 65 and all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)


def _child(queue: multiprocessing.Queue[str]) -> None:
    queue.put(new_request_id())


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    new_request_id()  # the pool now holds ids the parent will hand out next
    assert correlation._POOL
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue,))
    child.start()
    from_child = queue.get(timeout=30)
    child.join(30)
    assert from_child not in set(correlation._POOL)
