"""Dependencies point inward: pure packages never import Flask or the server package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = ("dispatch", "sync", "geo", "workflow", "mobile_contract")
FORBIDDEN = ("flask", "flask_smorest", "server")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PURE)
def test_pure_package_has_no_edge_imports(package: str) -> None:
    files = list((ROOT / package).rglob("*.py"))
    offenders = {
        str(f.relative_to(ROOT)): sorted(imported_modules(f) & set(FORBIDDEN)) for f in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}
