"""``python -m mutation MODULE --tests "TESTS..." [-j 2]``: the mutation score of one module.

Example: ``make mutate MODULE=ports/breaker.py TESTS="tests/failover"``. Prints each survivor
(line, kind, the line before and after) and the score: killed / (killed + survived). A survivor is
a missing test, or dead code to remove.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from .operators import Mutant, mutants
from .runner import MAX_JOBS, ROOT, Coverage, Outcome, module_name, run, run_one, score
from .worker import NOT_IMPORTED


def _lines(spec: str) -> tuple[int, int]:
    first, _, last = spec.partition("-")
    return int(first), int(last or first)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("module", type=Path, help="source file, e.g. ports/breaker.py")
    parser.add_argument("--tests", default="", help="pytest arguments selecting the focused tests")
    parser.add_argument("-j", "--jobs", type=int, default=1, help=f"mutants run at once (at most {MAX_JOBS})")
    parser.add_argument("--timeout", type=float, default=0.0,
                        help="seconds per mutant (default: 4x the unmutated run, at least 10)")
    parser.add_argument("--lines", type=_lines, help="only mutants on these lines, e.g. 40-60")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--json", type=Path, help="also write every outcome to this file")
    parser.add_argument("--no-fork", action="store_true", help="a fresh interpreter per mutant (slower)")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    path: Path = args.module if args.module.is_absolute() else ROOT / args.module
    name = module_name(path)
    found = mutants(path.read_text(encoding="utf-8"))
    if args.lines:
        first, last = args.lines
        found = [m for m in found if first <= m.line <= last]
    if args.list:
        for m in found:
            print(f"#{m.index} {m.describe()}")
        print(f"{len(found)} mutants of {name}")
        return 0
    tests = shlex.split(args.tests)
    if not tests:
        print("name the focused tests: --tests 'tests/<area>' (TESTS=... with make)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        return _measure(args, path, found, tests, Path(scratch))


def _measure(args: argparse.Namespace, path: Path, found: list[Mutant], tests: list[str], scratch: Path) -> int:
    name = module_name(path)
    start = time.perf_counter()
    lines_file = scratch / "lines.json"
    status, output = run_one(name, path, -1, tests, None, lines_to=lines_file)
    baseline = time.perf_counter() - start
    if status == NOT_IMPORTED:
        print(f"the tests {' '.join(tests)} never import {name}", file=sys.stderr)
        return 2
    if status != 0:
        print(f"the tests fail without any mutant (exit {status}); fix them first:\n{output}", file=sys.stderr)
        return 2
    coverage = Coverage.read(lines_file) if lines_file.exists() else None
    preload = scratch / "lines.json.modules"
    timeout = args.timeout or max(10.0, 4 * baseline)
    print(f"{name}: {len(found)} mutants; tests {' '.join(tests)} take {baseline:.1f}s (timeout {timeout:.0f}s)")

    def progress(done: int, outcome: Outcome) -> None:
        mark = {"killed": ".", "timeout": "T", "survived": "S", "error": "E"}[outcome.verdict]
        print(mark, end="\n" if done % 60 == 0 or done == len(found) else "", flush=True)

    outcomes = sorted(run(path, found, tests, jobs=args.jobs, timeout=timeout, progress=progress, coverage=coverage,
                          preload=preload if preload.exists() and not args.no_fork else None),
                      key=lambda o: o.mutant.index)
    for kind in ("survived", "error"):
        for o in (o for o in outcomes if o.verdict == kind):
            print(f"\n{kind.upper()} {args.module}:{o.mutant.describe()}" + (f"\n    ({o.detail})" if o.detail else ""))
    counts = Counter(o.verdict for o in outcomes)
    value = score(outcomes)
    shown = "n/a" if value is None else f"{value:.1%}"
    print(f"\n{name}: score {shown} — killed {counts['killed']}, timeouts {counts['timeout']}, "
          f"survived {counts['survived']}, errors {counts['error']} of {len(outcomes)} mutants "
          f"({time.perf_counter() - start:.0f}s)")
    if args.json:
        rows = [{"index": o.mutant.index, "line": o.mutant.line, "kind": o.mutant.kind, "before": o.mutant.before,
                 "after": o.mutant.after, "verdict": o.verdict, "seconds": round(o.seconds, 2)} for o in outcomes]
        args.json.write_text(json.dumps({"module": name, "tests": tests, "score": value, "mutants": rows}, indent=1))
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
