"""Layers go one way: ``web`` <- ``flows``/``actions``/``session`` <- ``http``.

The flows and the session machinery are used by the HTTP apps, never the other way round, so
a flow can be driven without building an app's routes (plugin routes do, through
``services.flows``), and a reader finds request handling in one place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "kratos_core"

#: Packages and the packages of kratos_core they must not import.
FORBIDDEN = {
    "web": {"flows", "actions", "session", "http", "app", "identity", "courier", "plugins"},
    "flows": {"http"},
    "actions": {"http"},
    "session": {"http", "flows"},
    # persistence reads and writes the models (identity.model, flows.model ...), never the
    # logic above them (checked module by module below for flows).
    "persistence": {"http", "actions", "app", "plugins"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level kratos_core packages a module imports (relative imports resolved)."""
    module = path.relative_to(PACKAGE.parent).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(module[: len(module) - node.level])
                parts = base + (node.module.split(".") if node.module else [])
                if not node.module:
                    parts += [alias.name for alias in node.names]
            else:
                parts = (node.module or "").split(".")
            if parts[:1] == ["kratos_core"] and len(parts) > 1:
                found.add(parts[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "kratos_core" and len(parts) > 1:
                    found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_the_layers_above_it(package: str) -> None:
    wrong = {}
    for path in sorted((PACKAGE / package).rglob("*.py")):
        bad = imported_packages(path) & FORBIDDEN[package]
        if bad:
            wrong[str(path.relative_to(PACKAGE))] = sorted(bad)
    assert not wrong, f"{package}/ imports layers above it: {wrong}"


def test_persistence_uses_only_the_flow_model() -> None:
    for path in sorted((PACKAGE / "persistence").rglob("*.py")):
        text = path.read_text()
        for line in text.splitlines():
            if line.startswith("from ..flows") or line.startswith("from kratos_core.flows"):
                assert line.split(" import ")[0].endswith("flows.model"), f"{path.name}: {line}"


def test_no_sql_outside_persistence() -> None:
    """Statements live in persistence/ (plus the stores this issue has not moved yet)."""
    import re

    statement = re.compile(r"[\"'](?:SELECT|INSERT INTO|UPDATE|DELETE FROM|WITH) ")
    allowed = {"session/store.py", "courier/store.py", "courier/worker.py", "courier/courier.py"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        if rel.startswith("persistence/") or rel in allowed:
            continue
        if statement.search(path.read_text()):
            found.append(rel)
    assert found == []
