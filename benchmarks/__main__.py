"""``make bench``: every suite, measured in one run, with the targets of issue-style ratios next
to each figure. ``python -m benchmarks [--quick] [suite ...]``; suites: calls, chunks, failfast,
startup, soak and every other ``bench_<name>.py`` (``--quick``: fewer rounds, a shorter soak).

Each ``benchmarks/bench_<name>.py`` exports ``run() -> list[Result]`` (see ``benchmarks.stats``).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path

# The issue-13 suites first (in this order), then any other ``bench_<name>.py``, the soak last.
FIRST = ("calls", "chunks", "failfast", "startup")
LAST = ("soak",)
_SCALE = {"us": 1e6, "us/chunk": 1e6, "ms": 1e3, "MiB": 1 / 2**20}


def main(argv: list[str]) -> int:
    if "--quick" in argv:
        os.environ["BENCHMARKS_QUICK"] = "1"
    found = sorted(i.name.removeprefix("bench_") for i in pkgutil.iter_modules([str(Path(__file__).parent)])
                   if i.name.startswith("bench_"))
    suites = [*FIRST, *(n for n in found if n not in FIRST + LAST), *LAST]
    only = [a for a in argv if not a.startswith("-")] or suites
    from benchmarks.stats import Result, Stat

    results: list[Result] = []
    for name in only:
        started = time.perf_counter()
        print(f"running {name} ...", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        for row in module.run():
            if not isinstance(row, Result):  # a suite still returning (case, baseline s, llmport s)
                case, base, ours = row
                row = Result(name, case, "us", Stat.of([ours]), Stat.of([base]), Stat.of([ours / base]))
            results.append(row)
        print(f"  {name}: {time.perf_counter() - started:.0f}s", flush=True)
    print("\nmedian [min-max] over interleaved rounds; ratio = llmport / baseline, per round; the baseline is "
          "the raw SDK (pipeline: the bare policy)\n")
    print(f"{'suite':<9} {'case':<46} {'baseline':>22} {'llmport':>22} {'ratio':>22} {'target':>8}")
    for r in results:
        scale = _SCALE[r.unit]
        ours = r.ours.show(scale) + f" {r.unit}"
        base = r.base.show(scale) if r.base is not None else "-"
        ratio = r.ratio.show(fmt="{:.2f}") + "x" if r.ratio is not None else "-"
        target = "-" if r.target is None else (
            f"<={r.target:g}x" if r.ratio is not None else f"<={r.target * scale:g}")
        verdict = {True: "met", False: "MISSED", None: ""}[r.met]
        print(f"{r.suite:<9} {r.case:<46} {base:>22} {ours:>22} {ratio:>22} {target:>8} {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
