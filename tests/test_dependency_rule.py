"""domain imports only the standard library; ports only domain and the standard library.

import-linter (run by `make test`) forbids the known third-party packages by name; this test closes the
gap for any package, by reading every import statement.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"domain": {"llmport.domain"}, "ports": {"llmport.domain", "llmport.ports"}}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_pure_layers_import_only_the_standard_library(layer: str) -> None:
    offending = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or any(module.startswith(a) for a in ALLOWED[layer]):
                continue
            offending.append(f"{path.relative_to(ROOT)}: {module}")
    assert offending == []
