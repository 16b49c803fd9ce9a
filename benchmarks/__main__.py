"""``make bench``: every benchmark module's ratios against the raw SDK, measured in one run.

Each ``benchmarks/bench_<name>.py`` exports ``run() -> list[tuple[str, float, float]]``:
(case, raw seconds per operation, llmport seconds per operation).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    names = sorted(i.name for i in pkgutil.iter_modules([str(here)]) if i.name.startswith("bench_"))
    only = set(sys.argv[1:])
    rows: list[tuple[str, str, float, float]] = []
    for name in names:
        if only and name.removeprefix("bench_") not in only:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name} ...", flush=True)
        for case, raw, ours in module.run():
            rows.append((name.removeprefix("bench_"), case, raw, ours))
    print(f"\n{'suite':<10} {'case':<34} {'baseline':>12} {'llmport':>12} {'ratio':>7}")
    for suite, case, raw, ours in rows:
        print(f"{suite:<10} {case:<34} {raw * 1e6:>10.1f}us {ours * 1e6:>10.1f}us {ours / raw:>6.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
