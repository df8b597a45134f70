"""The plugin contract is one namespace: plugin code imports ``kratos_core.api`` and nothing else.

Every first-party plugin's source and the plugin template's source must reach kratos-core only
through :mod:`kratos_core.api` (their tests may also use :mod:`kratos_core.testing`), so that
what they need is public, documented API a third party has too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kratos_core.api as api

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    [*ROOT.glob("plugins/*/src/**/*.py"), *ROOT.glob("plugin_template/*/src/**/*.py")],
)
ALLOWED = {"kratos_core.api"}


IMPORT = re.compile(r"^\s*(?:from\s+(kratos_core[\w.]*)\s+import|import\s+(kratos_core[\w.]*))", re.M)


def kratos_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of a kratos_core module in a file.

    Read as text: the template's files are Jinja (cookiecutter) until baked, not Python.
    """
    text = path.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1) or m.group(2)) for m in IMPORT.finditer(text)]


def test_there_are_plugin_sources_to_check() -> None:
    assert len(SOURCES) > 10
    assert any("plugin_template" in str(p) for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_source_imports_only_the_public_namespace(path: Path) -> None:
    private = [f"line {line}: {module}" for line, module in kratos_imports(path) if module not in ALLOWED]
    assert not private, f"{path.relative_to(ROOT)} imports internal kratos_core modules: {private}"


def test_every_public_name_exists_and_is_documented() -> None:
    for name in api.__all__:
        obj = getattr(api, name)
        if isinstance(obj, (str, int, frozenset, tuple)) or name.isupper() or type(obj).__module__ == "typing":
            continue  # constants and type aliases are documented where they are defined
        assert (getattr(obj, "__doc__", None) or "").strip(), f"kratos_core.api.{name} has no docstring"
