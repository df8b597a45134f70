"""Each hook has one typed facade method and exactly one greppable call site; no hook is called
by a string (issue 9, item 3; tox 4's typed facade)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from kratos_core import hookspecs
from kratos_core.plugins.hooks import Hooks
from kratos_core.testing import hookspec_names

ROOT = Path(__file__).resolve().parents[2]
#: Facade methods that derive some of the spec's arguments (``event``/``data`` from ``payload``).
DERIVED = {"event": {"event", "data"}}
#: Hooks emitted at many points by design (the event catalogue); every other hook has one call site.
MANY_CALL_SITES = {"event"}


def sources() -> dict[Path, str]:
    files = list((ROOT / "kratos_core").rglob("*.py")) + list((ROOT / "plugins").glob("*/src/**/*.py"))
    return {f: f.read_text() for f in files}


def test_every_hookspec_has_a_facade_method_with_its_parameters() -> None:
    for name in hookspec_names():
        method = getattr(Hooks, name.removeprefix("kratos_"), None)
        assert method is not None, f"Hooks has no method for {name}"
        spec = set(inspect.signature(getattr(hookspecs, name)).parameters)
        params = inspect.signature(method).parameters
        facade = {p for p in params if p != "self"}
        assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in facade), f"{name}: keyword-only"
        assert facade == spec - DERIVED.get(name.removeprefix("kratos_"), set()), name


def test_the_facade_has_no_method_without_a_hookspec() -> None:
    public = {n for n, v in vars(Hooks).items() if inspect.isfunction(v) and not n.startswith("_")} - {"has", "plugin_hook"}
    assert public == {n.removeprefix("kratos_") for n in hookspec_names()}


def test_no_hook_is_called_by_a_string_or_around_the_facade() -> None:
    forbidden = [
        re.compile(r"""\.(call|notify|_call_sync)\(\s*f?["']kratos_"""),  # the old string callers
        re.compile(r"""f["']kratos_\{"""),  # formatted hook names
        re.compile(r"""\bpm\.hook\.kratos_\w+\("""),  # pluggy's own (non-awaiting) caller
        re.compile(r"""getattr\([^)]*\.hook,[^)]*\)\("""),  # hooks called by name
    ]
    allowed = {ROOT / "kratos_core" / "plugins" / "hooks.py", ROOT / "kratos_core" / "plugins" / "manager.py"}
    found = [
        f"{path.relative_to(ROOT)}: {m.group(0)}"
        for path, text in sources().items()
        if path not in allowed
        for pattern in forbidden
        for m in pattern.finditer(text)
    ]
    assert not found


def facade_calls() -> dict[str, list[str]]:
    """``hooks.<method>(...)`` calls in the code (not in docstrings), by method name."""
    calls: dict[str, list[str]] = {}
    for path, text in sources().items():
        for node in ast.walk(ast.parse(text)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if (isinstance(owner, ast.Attribute) and owner.attr == "hooks") or (isinstance(owner, ast.Name) and owner.id == "hooks"):
                calls.setdefault(node.func.attr, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return calls


def test_each_hook_has_exactly_one_call_site() -> None:
    calls = facade_calls()
    for name in hookspec_names():
        method = name.removeprefix("kratos_")
        sites = calls.get(method, [])
        if method in MANY_CALL_SITES:
            assert sites, f"{name} is never called"
            continue
        assert len(sites) == 1, f"{name} is called from {sites or 'nowhere'}"


def test_no_core_hook_is_firstresult_or_historic() -> None:
    # Any core hook may be async, and pluggy can neither await a first result nor replay history.
    from kratos_core.plugins.manager import PluginHost

    relay = PluginHost(autoload=False).pm.hook
    for name in hookspec_names():
        opts = getattr(relay, name).spec.opts
        assert not opts.get("firstresult") and not opts.get("historic"), name
