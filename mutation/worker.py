"""Test runs against a mutant: ``python -m mutation.worker MODULE FILE INDEX -- PYTEST_ARGS`` runs one in
this interpreter; ``python -m mutation.worker --serve MODULE FILE PRELOAD`` serves many, each in a fork.

The mutated module is compiled in memory and served by a finder placed first on ``sys.meta_path``,
so the import system, the editable install's link tree and every other module stay as they are.
INDEX -1 runs the tests against the unmutated code (the baseline) and, when ``MUTATION_LINES`` names
a file, writes there which test executed which line of the module. Exit status: pytest's, or ``NOT_IMPORTED``
when the tests never imported the module (no test can have noticed a mutant).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from types import CodeType, ModuleType
from typing import Any

import pytest

from .operators import HIT, instrumented_tree, mutated_tree

NOT_IMPORTED = 20


class _MutantFinder(importlib.abc.MetaPathFinder):
    """Finds ``name`` as the other finders would, then loads the mutated code instead."""

    def __init__(self, name: str, code: CodeType) -> None:
        self.name = name
        self.loader = _MutantLoader(code)

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: importlib.machinery.ModuleSpec | None = finder.find_spec(fullname, path, target)
            if spec is not None:
                spec.loader = self.loader
                spec.cached = None
                return spec
        return None


class _MutantLoader(importlib.abc.Loader):
    def __init__(self, code: CodeType) -> None:
        self.code = code
        self.loaded = False
        self.namespace: dict[str, object] = {}  # names the code needs besides its own

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        self.loaded = True
        module.__dict__.update(self.namespace)
        exec(self.code, module.__dict__)


def _quiet_hypothesis() -> None:
    """Failures found under a mutant must not land in the example database of the real code; and
    a loaded machine must not turn slow examples into kills."""
    try:
        from hypothesis import settings
    except ImportError:  # pragma: no cover - hypothesis is a dev dependency
        return
    settings.register_profile("mutation", database=None, deadline=None)
    settings.load_profile("mutation")


class _LineRecorder:
    """A pytest plugin recording which test executed each line of the instrumented module
    (``None``: outside any test, e.g. at import or collection), and how long each test took."""

    def __init__(self) -> None:
        self.tests: list[str] = []
        self.durations: list[float] = []
        self.current: int | None = None
        self.hits: dict[int, set[int | None]] = {}

    def hit(self, line: int) -> None:
        self.hits.setdefault(line, set()).add(self.current)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        self.current = len(self.tests)
        self.tests.append(item.nodeid)
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            self.durations.append(time.perf_counter() - start)
            self.current = None

    def write(self, path: str) -> None:
        lines = {str(line): sorted(t for t in who if t is not None) for line, who in self.hits.items()}
        outside = sorted(line for line, who in self.hits.items() if None in who)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"tests": self.tests, "durations": self.durations, "lines": lines, "outside_tests": outside}, f)


def _run_tests(name: str, path: str, index: int, pytest_args: list[str], lines_to: str | None) -> int:
    """Run pytest here against mutant ``index`` of ``path`` (-1: the unmutated source)."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    # The baseline too is compiled from ``path``: mutants and baseline run the same source.
    recorder = _LineRecorder() if lines_to is not None else None
    if index >= 0:
        tree = mutated_tree(source, index)
    else:
        tree = instrumented_tree(source) if recorder is not None else ast.parse(source)
    finder = _MutantFinder(name, compile(tree, path, "exec"))
    if recorder is not None:
        finder.loader.namespace[HIT] = recorder.hit
    sys.meta_path.insert(0, finder)
    _quiet_hypothesis()
    status = int(pytest.main(pytest_args, plugins=[recorder] if recorder is not None else []))
    if recorder is not None and lines_to is not None:
        recorder.write(lines_to)
    if not finder.loader.loaded and status == 0:
        return NOT_IMPORTED
    return status


def _outside(module: ModuleType, roots: tuple[str, ...]) -> bool:
    where = getattr(module, "__file__", None)
    return where is None or not os.path.realpath(where).startswith(roots)


def _preloadable(roots: tuple[str, ...]) -> list[str]:
    """The modules this run imported that a fork server may import up front: everything but the
    project's own (``llmport.*``, the tests) and the few libraries that must not be forked."""
    return sorted(name for name, module in list(sys.modules.items())
                  if not name.startswith(("llmport", "mutation", "tests", "grpc", "__main__"))
                  and module is not None and _outside(module, roots))


def serve(name: str, path: str, preload: list[str]) -> int:
    """A fork server: import the heavy libraries once, then run each requested mutant in a forked
    child. Requests on stdin, one JSON object a line (``index``, ``args``, ``timeout``, ``log``);
    one reply a line on stdout: ``{"status": exit status or null on timeout}``."""
    for module in preload:
        try:
            importlib.import_module(module)
        except Exception:  # a module that imports only in context is simply not preloaded
            continue
    _quiet_hypothesis()
    for line in sys.stdin:
        request = json.loads(line)
        status = _fork_one(name, path, request["index"], request["args"], request["timeout"], request["log"])
        print(json.dumps({"status": status}), flush=True)
    return 0


def _fork_one(name: str, path: str, index: int, args: list[str], timeout: float, log: str) -> int | None:
    pid = os.fork()
    if pid == 0:  # the child: its own process group, output to the log
        status = 3
        try:
            os.setsid()
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            status = _run_tests(name, path, index, args, None)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)
    deadline = time.monotonic() + timeout
    while True:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(wait_status)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # the tests may have started servers of their own
            os.waitpid(pid, 0)
            return None
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        _, name, path, preload = argv
        with open(preload, encoding="utf-8") as f:
            return serve(name, path, json.load(f))
    name, path, index, *rest = argv
    pytest_args = rest[1:] if rest[:1] == ["--"] else rest
    lines_to = os.environ.get("MUTATION_LINES")
    status = _run_tests(name, path, int(index), pytest_args, lines_to if int(index) < 0 else None)
    if lines_to and int(index) < 0:
        root = os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        roots = (root, os.path.realpath(os.path.dirname(path)))
        with open(lines_to + ".modules", "w", encoding="utf-8") as f:
            json.dump(_preloadable(roots), f)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
