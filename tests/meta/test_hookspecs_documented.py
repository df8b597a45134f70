"""Every hookspec is documented: a Google-style docstring naming each argument, and it appears
in the rendered hook reference (``docs/plugins/hooks.md``)."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kratos_core import hookspecs
from kratos_core.testing import REGISTRATION_HOOKS, hookspec_names

ROOT = Path(__file__).resolve().parents[2]
SPECS = hookspec_names()


def args_section(doc: str) -> dict[str, str]:
    """The ``Args:`` entries of a Google-style docstring: name -> description."""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Args:")
    except StopIteration:
        return {}
    entries: dict[str, str] = {}
    indent = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        if indent is None:
            indent = width
        if width < indent:
            break  # the next section (Returns:, Raises:, Added in: ...)
        if width == indent:
            name, _, text = line.strip().partition(":")
            entries[name.split(" ")[0]] = text.strip()
    return entries


def test_there_are_hookspecs_and_all_lists_each_once() -> None:
    assert SPECS, "kratos_core.hookspecs declares no hooks"
    assert sorted(hookspecs.__all__) == sorted(SPECS)


@pytest.mark.parametrize("name", SPECS)
def test_hookspec_has_a_google_docstring_for_every_argument(name: str) -> None:
    spec = getattr(hookspecs, name)
    doc = inspect.getdoc(spec) or ""
    assert doc.splitlines() and doc.splitlines()[0].strip(), f"{name} has no summary line"
    params = list(inspect.signature(spec).parameters)
    documented = args_section(doc)
    missing = [p for p in params if not documented.get(p)]
    assert not missing, f"{name}: the Args: section does not document {missing}"
    extra = sorted(set(documented) - set(params))
    assert not extra, f"{name}: the Args: section documents arguments it does not take: {extra}"
    assert re.search(r"^Added in: \d+\.\d+", doc, re.M), f"{name} does not say when it was added (Added in: x.y)"


@pytest.mark.parametrize("name", [n for n in SPECS if n not in REGISTRATION_HOOKS])
def test_lifecycle_hooks_say_whether_they_may_be_async_and_how_errors_count(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert "async" in doc, f"{name} does not say whether it may be async"
    policy = ("fails closed", "fail closed", "contained", "error handler", "an exception", "aborts", "veto")
    assert any(word in doc.lower() for word in policy), f"{name} does not state its error policy"


def test_the_hook_reference_renders_the_whole_module() -> None:
    page = (ROOT / "docs" / "plugins" / "hooks.md").read_text()
    block = re.search(r"^::: kratos_core\.hookspecs\s*\n((?:[ \t]+.*\n?)*)", page, re.M)
    assert block, "docs/plugins/hooks.md does not render ::: kratos_core.hookspecs"
    assert "members:" not in block.group(1), "the hook reference must not filter members"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs site, built with ``mkdocs build --strict`` (as CI does)."""
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-5000:]
    return out


@pytest.mark.slow
def test_every_hookspec_appears_in_the_built_hook_reference(site: Path) -> None:
    html = (site / "plugins" / "hooks" / "index.html").read_text()
    missing = [name for name in SPECS if f'id="kratos_core.hookspecs.{name}"' not in html]
    assert not missing, f"not in the rendered hook reference: {missing}"


@pytest.mark.slow
def test_the_api_reference_ships_both_openapi_documents(site: Path) -> None:
    import json

    for api in ("public", "admin"):
        document = json.loads((site / "api" / f"{api}.openapi.json").read_text())
        assert document["openapi"].startswith("3.") and document["paths"]
    page = (site / "api" / "index.html").read_text()
    assert "/self-service/registration/api" in page and "/admin/identities" in page
