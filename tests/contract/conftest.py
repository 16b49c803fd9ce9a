from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

from .harness import Harness


def _harnesses() -> list[Harness]:
    found: list[Harness] = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if info.name.startswith("harness_"):
            module = importlib.import_module(f"{__package__}.{info.name}")
            found.extend(module.HARNESSES)
    return found


HARNESSES = _harnesses()


@pytest.fixture(params=HARNESSES, ids=[h.name for h in HARNESSES])
def harness(request: pytest.FixtureRequest) -> Harness:
    return request.param  # type: ignore[no-any-return]
