"""One mutant's test run, in its own interpreter: ``python -m mutation.worker MODULE FILE INDEX -- PYTEST_ARGS``.

The mutated module is compiled in memory and served by a finder placed first on ``sys.meta_path``,
so the import system, the editable install's link tree and every other module stay as they are.
INDEX -1 runs the tests against the unmutated code (the baseline) and, when ``MUTATION_LINES`` names
a file, writes there the module's lines the tests executed. Exit status: pytest's, or ``NOT_IMPORTED``
when the tests never imported the mutated module (no test can have noticed the mutant).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import sys
import threading
from collections.abc import Sequence
from types import CodeType, FrameType, ModuleType
from typing import Any

from .operators import mutated_tree

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

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        self.loaded = True
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


def _trace_lines(path: str) -> set[int]:
    """Record every line of ``path`` that runs from now on, in any thread (its frames only)."""
    target = os.path.realpath(path)
    hits: set[int] = set()
    known: dict[str, bool] = {}

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            hits.add(frame.f_lineno)
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        name = frame.f_code.co_filename
        mine = known.get(name)
        if mine is None:
            mine = known[name] = os.path.realpath(name) == target
        if not mine:
            return None
        hits.add(frame.f_lineno)
        return local

    sys.settrace(calls)
    threading.settrace(calls)
    return hits


def main(argv: list[str]) -> int:
    name, path, index, *rest = argv
    pytest_args = rest[1:] if rest[:1] == ["--"] else rest
    finder: _MutantFinder | None = None
    if int(index) >= 0:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        code = compile(mutated_tree(source, int(index)), path, "exec")
        finder = _MutantFinder(name, code)
        sys.meta_path.insert(0, finder)
    lines_to = os.environ.get("MUTATION_LINES")
    hits = _trace_lines(path) if finder is None and lines_to else None
    _quiet_hypothesis()
    import pytest

    status = int(pytest.main(pytest_args))
    if hits is not None and lines_to:
        sys.settrace(None)
        with open(lines_to, "w", encoding="utf-8") as f:
            json.dump(sorted(hits), f)
    if finder is not None and not finder.loader.loaded and status == 0:
        return NOT_IMPORTED
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
