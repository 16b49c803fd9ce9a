"""A fleet of 4 replicas (worker processes, each its own container configured by environment
variables with ``LLMPORT_STATE__URL``) against the emulator: a primary answering 503 and a healthy
backup."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Fault

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
THRESHOLD = 5
COOLDOWN = 1.5


class Worker:
    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tests.redis.fleet_worker"], cwd=ROOT, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True)

    def send(self, **command: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def read(self) -> dict[str, object]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"worker exited with {self.process.wait()}"
        result: dict[str, object] = json.loads(line)
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.send(stop=True)
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


@pytest.fixture
def workers(emu: VendorEmulator, redis_url: str) -> Iterator[list[Worker]]:
    env = {
        **os.environ,
        "LLMPORT_STATE__URL": redis_url,
        "LLMPORT_STATE__NAMESPACE": "fleet-test",
        "LLMPORT_STATE__TIMEOUT": "1.0",  # a busy CI machine must not look like a Redis outage
        "LLMPORT_PROVIDERS__PRIMARY__KIND": "openai_compatible",
        "LLMPORT_PROVIDERS__PRIMARY__BASE_URL": f"{emu.url_for('primary')}/v1",
        "LLMPORT_PROVIDERS__PRIMARY__API_KEY": "sk-test-fleet-primary",
        "LLMPORT_PROVIDERS__PRIMARY__DEFAULT_MODEL": "gpt-test",
        "LLMPORT_PROVIDERS__BACKUP__KIND": "anthropic",
        "LLMPORT_PROVIDERS__BACKUP__BASE_URL": emu.url_for("backup"),
        "LLMPORT_PROVIDERS__BACKUP__API_KEY": "sk-ant-test-fleet-backup",
        "LLMPORT_PROVIDERS__BACKUP__DEFAULT_MODEL": "claude-test",
        "LLMPORT_ORDER": "primary,backup",
        "LLMPORT_ALIASES__SMART": "primary/gpt-test,backup/claude-test",
        "LLMPORT_POLICY__RETRY__MAX_ATTEMPTS": "1",
        "LLMPORT_POLICY__BREAKER__FAILURE_THRESHOLD": str(THRESHOLD),
        "LLMPORT_POLICY__BREAKER__COOLDOWN": str(COOLDOWN),
        "LLMPORT_LOGGING__LEVEL": "error",
    }
    fleet = [Worker(env) for _ in range(WORKERS)]
    try:
        for worker in fleet:
            assert worker.read() == {"ready": True}
        yield fleet
    finally:
        for worker in fleet:
            worker.stop()


def run(fleet: list[Worker], requests: int, gap: float = 0.0) -> list[dict[str, object]]:
    for worker in fleet:
        worker.send(requests=requests, gap=gap)
    return [worker.read() for worker in fleet]


def test_the_fleet_opens_the_breaker_once_and_one_probe_closes_it_for_all(
        emu: VendorEmulator, workers: list[Worker]) -> None:
    emu.script(then=Fault(status=503, error_type="server_error"), tag="primary")
    started = time.monotonic()
    results = run(workers, 50)
    elapsed = time.monotonic() - started
    assert [r["answered"] for r in results] == [50] * WORKERS  # every request answered (by the backup)
    assert [r["primary"] for r in results] == ["open"] * WORKERS
    primary = len(emu.journal.entries(tag="primary"))
    # The fleet's breaker opens at THRESHOLD failures; another replica learns it when its
    # background sender's reply or the channel's message reaches its loop, so until then it may
    # still send a call or two (two seen once on a loaded machine); and at most one probe per
    # cooldown goes out across the fleet.
    probes = math.ceil(elapsed / COOLDOWN)
    assert THRESHOLD <= primary <= THRESHOLD + 2 * (WORKERS - 1) + probes, (primary, elapsed)
    assert primary < WORKERS * THRESHOLD  # not every replica discovering the outage on its own

    emu.reset()  # the primary recovers
    time.sleep(COOLDOWN + 0.2)
    results = run(workers, 10, gap=0.05)
    assert [r["answered"] for r in results] == [10] * WORKERS
    assert [r["primary"] for r in results] == ["closed"] * WORKERS
    # One probe closed it for all: the first call to reach the recovered primary finished before
    # any other reached it, and from then on every replica used the primary.
    calls = sorted(emu.journal.entries(tag="primary"), key=lambda e: e.arrived)
    assert calls[0].finished is not None and calls[0].finished <= calls[1].arrived
    for r in results:
        providers = r["providers"]
        assert isinstance(providers, list) and providers[-1] == "primary"
        first = providers.index("primary")
        assert set(providers[first:]) == {"primary"}, providers
