"""The wheel installs only ``llmport.*`` (a PEP 420 namespace), each package typed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = out.glob("llmport-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def test_the_wheel_installs_nothing_but_the_llmport_namespace(wheel_names: list[str]) -> None:
    tops = {name.split("/")[0] for name in wheel_names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"llmport"}
    assert "llmport/__init__.py" not in wheel_names  # a namespace package: no __init__ at the top


@pytest.mark.parametrize("package", ["domain", "ports", "adapters", "composition"])
def test_every_package_is_typed(wheel_names: list[str], package: str) -> None:
    assert f"llmport/{package}/py.typed" in wheel_names
    assert f"llmport/{package}/__init__.py" in wheel_names
