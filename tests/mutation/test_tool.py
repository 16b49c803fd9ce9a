"""The mutation tool (``make mutate``): which mutants it makes, and that a test run notices one."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from mutation.operators import HIT, instrumented_tree, mutants, mutated_tree
from mutation.runner import ROOT, Outcome, module_name, run_one, score, verdict

SOURCE = textwrap.dedent('''
    """Docstring: never mutated."""
    from __future__ import annotations

    import random

    __all__ = ["f"]
    LIMIT = 3


    class C:
        __slots__ = ("a",)
        size: int = 2

        def f(self, x: int, rng: random.Random | None = None) -> bool:
            """Docstring."""
            self.a = x
            if x < LIMIT and x != 0:
                return True
            return (rng or random).random() > min(x, 1)
''')


def _kinds() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for m in mutants(SOURCE):
        found.setdefault(m.kind, []).append(m.after)
    return found


def test_each_operator_changes_what_it_should() -> None:
    kinds = _kinds()
    assert set(kinds) == {"constant", "comparison", "and/or", "delete statement", "min/max", "negate condition"}
    assert "if x <= LIMIT and x != 0:" in kinds["comparison"]
    assert "if x >= LIMIT and x != 0:" in kinds["comparison"]
    assert "if x < LIMIT and x == 0:" in kinds["comparison"]
    assert "if x < LIMIT or x != 0:" in kinds["and/or"]
    assert "return (rng and random).random() > min(x, 1)" in kinds["and/or"]
    assert "return (rng or random).random() > max(x, 1)" in kinds["min/max"]
    assert "if not (x < LIMIT and x != 0):" in kinds["negate condition"]
    assert {"LIMIT = 4", "LIMIT = 0", "size: int = 3", "size: int = 0", "return False"} <= set(kinds["constant"])
    assert kinds["delete statement"] == ["pass"]  # `self.a = x`; returns with a value are kept


def test_docstrings_imports_annotations_and_dunder_lists_are_left_alone() -> None:
    lines = {m.line for m in mutants(SOURCE)}
    source_lines = SOURCE.splitlines()
    for number, text in enumerate(source_lines, 1):
        if any(word in text for word in ('"""', "import", "__all__", "__slots__", "def f")):
            assert number not in lines, text


def test_a_mutant_is_exactly_one_change() -> None:
    original = ast.dump(ast.parse(SOURCE))
    seen = set()
    for m in mutants(SOURCE):
        tree = mutated_tree(SOURCE, m.index)
        compile(tree, "<mutant>", "exec")
        dumped = ast.dump(tree)
        assert dumped != original
        seen.add(dumped)
    assert len(seen) == len(mutants(SOURCE))  # no two mutants are the same program
    with pytest.raises(IndexError):
        mutated_tree(SOURCE, len(seen))


def test_module_names_follow_the_package_dir_mapping() -> None:
    assert module_name(ROOT / "ports/breaker.py") == "llmport.ports.breaker"
    assert module_name(ROOT / "ports/__init__.py") == "llmport.ports"
    assert module_name(ROOT / "adapters/testing/emulator/server.py") == "llmport.adapters.testing.emulator.server"
    with pytest.raises(ValueError, match="package-dir"):
        module_name(ROOT / "tests/conftest.py")


def test_verdicts_and_score() -> None:
    assert [verdict(s) for s in (None, 0, 1, 2, 4, 20, 5, -9)] == [
        "timeout", "survived", "killed", "killed", "killed", "survived", "error", "error"]
    m = mutants(SOURCE)[0]
    outcomes = [Outcome(m, v, 0.0) for v in ("killed", "timeout", "survived", "error")]
    assert score(outcomes) == pytest.approx(2 / 3)
    assert score([Outcome(m, "error", 0.0)]) is None


def test_a_run_kills_the_mutant_a_test_checks_and_not_the_others(tmp_path: Path) -> None:
    """End to end through the worker: the mutated module is imported from memory, the file on disk
    stays as it is."""
    path = ROOT / "ports/backoff.py"
    before = path.read_bytes()
    test = tmp_path / "test_default.py"
    test.write_text("from llmport.ports.backoff import RetryPolicy\n\n\n"
                    "def test_default() -> None:\n    assert RetryPolicy().max_attempts == 3\n")
    found = mutants(before.decode())
    attempts = next(m for m in found if m.after == "max_attempts: int = 4")
    delay = next(m for m in found if m.after == "base_delay: float = 1.2")
    name = module_name(path)
    assert run_one(name, path, -1, [str(test)], 60)[0] == 0
    assert run_one(name, path, attempts.index, [str(test)], 60)[0] == 1
    assert run_one(name, path, delay.index, [str(test)], 60)[0] == 0
    assert path.read_bytes() == before


def test_protocol_bodies_are_not_mutants() -> None:
    source = "class P:\n    def f(self) -> int: ...\n\n    def g(self) -> None:\n        ...\n"
    assert mutants(source) == []


def test_the_instrumented_module_reports_each_statement_it_runs() -> None:
    code = compile(instrumented_tree(SOURCE), "<instrumented>", "exec")
    hits: list[int] = []
    namespace: dict[str, object] = {HIT: hits.append, "__name__": "instrumented"}
    exec(code, namespace)
    assert namespace["__doc__"] == "Docstring: never mutated."
    at_import = set(hits)
    lines = SOURCE.splitlines()
    assert {lines[n - 1].strip() for n in at_import} >= {"import random", "LIMIT = 3", "class C:", "size: int = 2"}
    hits.clear()
    c = namespace["C"]()  # type: ignore[operator]
    assert c.f(1) is True
    assert [lines[n - 1].strip() for n in hits] == ["self.a = x", "if x < LIMIT and x != 0:", "return True"]
