"""Run every mutant of one module against focused tests and tell which ones no test noticed."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .operators import Mutant
from .worker import NOT_IMPORTED

ROOT = Path(__file__).resolve().parents[1]
MAX_JOBS = 2  # the machine is shared: never more than two test runs at once
PYTEST_ARGS = ("-x", "-q", "--no-header", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the tests did with one mutant: killed, survived, timeout or error."""

    mutant: Mutant
    verdict: str
    seconds: float
    detail: str = ""


def module_name(path: Path, root: Path = ROOT) -> str:
    """The import name of a source file, from pyproject's package-dir mapping (``ports/x.py`` ->
    ``llmport.ports.x``)."""
    with open(root / "pyproject.toml", "rb") as f:
        mapping: dict[str, str] = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    relative = path.resolve().relative_to(root.resolve())
    for package, folder in mapping.items():
        try:
            inner = relative.relative_to(folder)
        except ValueError:
            continue
        parts = [*package.split("."), *inner.with_suffix("").parts]
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(f"{path} is not inside a package of pyproject's [tool.setuptools.package-dir]")


def run_one(name: str, path: Path, index: int, tests: Sequence[str], timeout: float | None,
            lines_to: Path | None = None) -> tuple[int | None, str]:
    """Exit status of the tests against mutant ``index`` (-1: none), or None on timeout; and the tail
    of their output. With ``lines_to`` (baseline only), the module's executed lines are written there."""
    command = [sys.executable, "-m", "mutation.worker", name, str(path), str(index), "--", *PYTEST_ARGS, *tests]
    env = {**os.environ, "MUTATION_LINES": str(lines_to)} if lines_to else None
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True, env=env) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the tests may have started servers of their own
            process.communicate()
            return None, ""
    return process.returncode, output[-2000:]


def verdict(status: int | None) -> str:
    # 1: a test failed; 2-4: collection, a conftest import or pytest itself failed under the mutant
    # (the unmutated run passed, so the mutant caused it): noticed all the same.
    if status is None:
        return "timeout"
    if status in (1, 2, 3, 4):
        return "killed"
    if status in (0, NOT_IMPORTED):
        return "survived"
    return "error"


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which tests executed each line of the module in the unmutated run. ``outside_tests``: lines
    that ran outside any test (at import, collection), which any test may depend on."""

    tests: tuple[str, ...]
    durations: tuple[float, ...]
    lines: dict[int, tuple[int, ...]]
    outside_tests: frozenset[int]

    @classmethod
    def read(cls, path: Path) -> Coverage:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(tuple(data["tests"]), tuple(data["durations"]),
                   {int(k): tuple(v) for k, v in data["lines"].items()}, frozenset(data["outside_tests"]))

    def tests_for(self, mutant: Mutant) -> tuple[str, ...]:
        """The node ids of the tests that run the mutant's lines, quickest first (so a kill comes
        early); every test when the lines also run outside tests (at import: any test may depend
        on them)."""
        if self.outside_tests.isdisjoint(mutant.lines):
            chosen = {i for line in mutant.lines for i in self.lines.get(line, ())}
        else:
            chosen = set(range(len(self.tests)))
        return tuple(self.tests[i] for i in sorted(chosen, key=lambda i: (self.durations[i], i)))


class _Server:
    """A fork server (``mutation.worker --serve``) that imported the baseline's libraries once:
    each mutant then costs a fork and its tests, not an interpreter start."""

    def __init__(self, name: str, path: Path, preload: Path) -> None:
        command = [sys.executable, "-m", "mutation.worker", "--serve", name, str(path), str(preload)]
        self.process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)

    def run(self, index: int, tests: Sequence[str], timeout: float, log: Path) -> tuple[int | None, str]:
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {"index": index, "args": [*PYTEST_ARGS, *tests], "timeout": timeout, "log": str(log)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline()
        if not reply:
            raise RuntimeError(f"the fork server stopped (exit {self.process.wait()})")
        output = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        return json.loads(reply)["status"], output[-2000:]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def run(path: Path, found: Sequence[Mutant], tests: Sequence[str], *, jobs: int, timeout: float,
        progress: Callable[[int, Outcome], None], coverage: Coverage | None = None,
        preload: Path | None = None) -> list[Outcome]:
    """Every mutant in ``found`` against ``tests``; ``progress`` hears each outcome as it comes.
    With ``coverage``, each mutant runs only the tests that execute its lines (none: it survives
    without a run). With ``preload`` (the baseline's list of libraries), mutants run in fork
    servers; otherwise each in a fresh interpreter."""
    name = module_name(path)
    done = 0
    jobs = max(1, min(jobs, MAX_JOBS))
    servers: queue.SimpleQueue[_Server] = queue.SimpleQueue()
    started = [_Server(name, path, preload) for _ in range(jobs)] if preload is not None else []
    for server in started:
        servers.put(server)

    def one(mutant: Mutant, scratch: Path) -> Outcome:
        nonlocal done
        start = time.perf_counter()
        selected: Sequence[str] | None = coverage.tests_for(mutant) if coverage is not None else None
        status: int | None
        if selected is not None and not selected:
            status, detail = 0, "no test runs this line"
        else:
            args = list(tests)
            if selected is not None:
                chosen = scratch / f"tests-{mutant.index}.txt"
                chosen.write_text("\n".join(selected) + "\n", encoding="utf-8")
                args = [f"@{chosen}"]
            if started:
                server = servers.get()
                try:
                    status, output = server.run(mutant.index, args, timeout, scratch / f"log-{mutant.index}.txt")
                finally:
                    servers.put(server)
            else:
                status, output = run_one(name, path, mutant.index, args, timeout)
            if status == 4 and "not found:" in output:
                status = 5  # a selection pytest could not resolve: an error, not a kill
            detail = "the tests never import the module" if status == NOT_IMPORTED else (
                output[-600:] if verdict(status) == "error" else "")
        outcome = Outcome(mutant, verdict(status), time.perf_counter() - start, detail)
        done += 1
        progress(done, outcome)
        return outcome

    try:
        with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(lambda m: one(m, Path(scratch)), found))
    finally:
        for server in started:
            server.close()


def score(outcomes: Sequence[Outcome]) -> float | None:
    """Killed (timeouts included) over the mutants that ran to a verdict; None when none did."""
    killed = sum(o.verdict in ("killed", "timeout") for o in outcomes)
    decided = killed + sum(o.verdict == "survived" for o in outcomes)
    return killed / decided if decided else None
