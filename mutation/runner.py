"""Run every mutant of one module against focused tests and tell which ones no test noticed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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


def run(path: Path, found: Sequence[Mutant], tests: Sequence[str], *, jobs: int, timeout: float,
        progress: Callable[[int, Outcome], None], executed: frozenset[int] | None = None) -> list[Outcome]:
    """Every mutant in ``found`` against ``tests``; ``progress`` hears each outcome as it comes. A
    mutant on lines the unmutated run never ``executed`` survives without a run."""
    name = module_name(path)
    done = 0

    def one(mutant: Mutant) -> Outcome:
        nonlocal done
        start = time.perf_counter()
        status: int | None
        if executed is not None and executed.isdisjoint(mutant.lines):
            status, detail = 0, "the tests never run this line"
        else:
            status, output = run_one(name, path, mutant.index, tests, timeout)
            detail = "the tests never import the module" if status == NOT_IMPORTED else (
                output[-600:] if verdict(status) == "error" else "")
        outcome = Outcome(mutant, verdict(status), time.perf_counter() - start, detail)
        done += 1
        progress(done, outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, MAX_JOBS))) as pool:
        return list(pool.map(one, found))


def score(outcomes: Sequence[Outcome]) -> float | None:
    """Killed (timeouts included) over the mutants that ran to a verdict; None when none did."""
    killed = sum(o.verdict in ("killed", "timeout") for o in outcomes)
    decided = killed + sum(o.verdict == "survived" for o in outcomes)
    return killed / decided if decided else None
