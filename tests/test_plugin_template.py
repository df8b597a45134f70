"""The plugin template (``plugin_template/``): what it generates, and that what it generates works.

Fast tests bake every ``plugin_kind`` with cookiecutter's Python API and compare the tree and its
key lines; they also check that invalid names are refused before anything is written, and that
the first-party plugins keep the shape the template teaches.

The slow tests (marked ``slow``; they run in the default suite and in CI) install each baked
package the way a plugin author would, into one fresh virtualenv per module: ``python -m venv``
(no ``--system-site-packages``: nothing leaks in from ``.venv``), then
``pip install -e <this checkout> -e "<baked>[test]"`` with dependencies resolved by pip from the
machine's package index. Installing into the shared ``.venv`` instead would be faster, but its
entry points are read by every other test and by other people's runs in the same tree, so an
extra plugin there (or one left behind by a crashed test) would change what they see. In that
virtualenv the baked package's own tests run with pytest in a subprocess (so they pass with
only kratos-core and the plugin installed), and ``kratos plugins`` must list it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "plugin_template"

#: One plugin name per kind (names differ so all four install into one virtualenv).
BAKES = {
    "credential_method": "backup pin",
    "courier_channel": "rot13 courier",
    "flow_action": "domain gate",
    "observer": "audit trail",
}
COMMON = ["README.md", "pyproject.toml", "src/{pkg}/__init__.py", "src/{pkg}/config.py", "src/{pkg}/plugin.py", "tests/conftest.py", "tests/test_plugin.py"]
OWN = {
    "credential_method": ["src/{pkg}/method.py", "tests/test_method.py"],
    "courier_channel": ["src/{pkg}/channel.py", "tests/test_channel.py"],
    "flow_action": ["src/{pkg}/action.py", "tests/test_action.py"],
    "observer": ["tests/test_observer.py"],
}
HOOKS = {
    "credential_method": ["kratos_register_methods"],
    "courier_channel": ["kratos_register_courier_channels"],
    "flow_action": ["kratos_register_flow_actions"],
    "observer": ["kratos_register_config", "kratos_event", "kratos_identity_post_persist"],
}


def names(kind: str) -> tuple[str, str, str]:
    """(directory and distribution, import package, component id) for a kind's bake."""
    hyphenated = BAKES[kind].replace(" ", "-")
    underscored = hyphenated.replace("-", "_")
    return f"kratos-{hyphenated}", f"kratos_{underscored}", underscored


def bake(kind: str, into: Path, **extra: str) -> Path:
    context = {"plugin_name": BAKES[kind], "plugin_kind": kind, "author_name": "Test Author", **extra}
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=context, output_dir=str(into)))


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def clean_env() -> dict[str, str]:
    """The environment for subprocesses, without what would point them at this run or .venv."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", "KRATOS_RECORD_HOOKS")
    return {k: v for k, v in os.environ.items() if k not in drop}


# -- the generated tree ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(BAKES))
def test_every_kind_bakes_the_expected_tree(kind: str, tmp_path: Path) -> None:
    project = bake(kind, tmp_path)
    dist, pkg, _ = names(kind)
    assert project.name == dist
    assert tree(project) == sorted(f.format(pkg=pkg) for f in COMMON + OWN[kind])


@pytest.mark.parametrize("kind", list(BAKES))
def test_pyproject_names_the_entry_point_and_depends_on_the_core(kind: str, tmp_path: Path) -> None:
    project = bake(kind, tmp_path)
    dist, pkg, component = names(kind)
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    assert meta["project"]["name"] == dist
    assert meta["project"]["entry-points"]["kratos"] == {component: f"{pkg}.plugin"}
    assert "kratos-core" in meta["project"]["dependencies"]
    assert meta["project"]["authors"] == [{"name": "Test Author"}]
    assert {"pytest>=8", "pytest-asyncio>=0.23"} <= set(meta["project"]["optional-dependencies"]["test"])


@pytest.mark.parametrize("kind", list(BAKES))
def test_plugin_module_holds_only_the_kinds_hook_implementations(kind: str, tmp_path: Path) -> None:
    project = bake(kind, tmp_path)
    _, pkg, _ = names(kind)
    module = ast.parse((project / "src" / pkg / "plugin.py").read_text())
    functions = [node for node in module.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert [f.name for f in functions] == HOOKS[kind]
    for function in functions:
        assert [ast.unparse(d) for d in function.decorator_list] == ["hookimpl"]
        assert ast.get_docstring(function)
    assert not [node for node in module.body if isinstance(node, ast.ClassDef)]


@pytest.mark.parametrize("kind", list(BAKES))
def test_config_model_forbids_unknown_keys_and_documents_every_field(kind: str, tmp_path: Path) -> None:
    project = bake(kind, tmp_path)
    _, pkg, _ = names(kind)
    module = ast.parse((project / "src" / pkg / "config.py").read_text())
    (model,) = [node for node in module.body if isinstance(node, ast.ClassDef)]
    assert any(k.arg == "forbid_unknown_fields" and ast.unparse(k.value) == "True" for k in model.keywords)
    body = model.body
    fields = [i for i, node in enumerate(body) if isinstance(node, ast.AnnAssign)]
    assert fields, "the model has no fields"
    for i in fields:
        following = body[i + 1] if i + 1 < len(body) else None
        documented = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)
        assert documented, f"{ast.unparse(body[i].target)} has no docstring"


def _assigned(module: ast.Module, class_name: str, attribute: str) -> ast.expr:
    (cls,) = [n for n in module.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    (value,) = [n.value for n in cls.body if isinstance(n, ast.Assign) and [ast.unparse(t) for t in n.targets] == [attribute]]
    return value


def test_the_flow_action_declares_its_stages_and_vetoes_on_a_node(tmp_path: Path) -> None:
    from kratos_core.actions import runner

    project = bake("flow_action", tmp_path)
    _, pkg, _ = names("flow_action")
    source = (project / "src" / pkg / "action.py").read_text()
    module = ast.parse(source)
    stages = _assigned(module, "DomainGateAction", "stages")
    declared = {n.id for n in ast.walk(stages) if isinstance(n, ast.Name) and n.id.isupper()}
    assert declared == {"LOGIN_BEFORE", "REGISTRATION_BEFORE", "REGISTRATION_PRE_PERSIST", "LOGIN_AFTER"}
    assert {getattr(runner, name) for name in declared} <= runner.ALL_STAGES
    assert "FlowValidationError.on_pointer(" in source and "FlowValidationError.on_flow(" in source
    conftest = (project / "tests" / "conftest.py").read_text()
    assert all(f'"{kind}": {{' in conftest for kind in ("login", "registration"))
    tests = ast.parse((project / "tests" / "test_action.py").read_text())
    names_ = {n.name for n in tests.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    assert {"test_new_flows_name_the_allowed_domains", "test_another_domain_is_refused_on_the_email_field_and_nothing_is_stored",
            "test_another_domain_is_refused_and_gets_no_session", "test_naming_it_in_a_stage_it_does_not_declare_stops_the_start"} <= names_


def test_channel_and_observer_receive_their_validated_config(tmp_path: Path) -> None:
    channel = bake("courier_channel", tmp_path / "channel")
    module = ast.parse((channel / "src" / "kratos_rot13_courier" / "channel.py").read_text())
    assert ast.unparse(_assigned(module, "Rot13CourierChannel", "config_model")) == "Rot13CourierConfig"
    observer = bake("observer", tmp_path / "observer")
    plugin = (observer / "src" / "kratos_audit_trail" / "plugin.py").read_text()
    assert 'register("audit_trail", config.AuditTrailConfig, configure=config.configure)' in plugin


@pytest.mark.parametrize(("factor", "aal", "declared"), [("second", "aal2", "second_factor"), ("first", "aal1", "first_factor")])
def test_method_factor_decides_what_the_method_declares(factor: str, aal: str, declared: str, tmp_path: Path) -> None:
    project = bake("credential_method", tmp_path, method_factor=factor)
    _, pkg, _ = names("credential_method")
    module = ast.parse((project / "src" / pkg / "method.py").read_text())
    (method,) = [n for n in module.body if isinstance(n, ast.ClassDef) and n.name.endswith("Method")]
    assert [ast.unparse(b) for b in method.bases] == ["MethodBase"]
    attributes = {
        n.targets[0].id: ast.literal_eval(n.value)
        for n in method.body
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Constant)
    }
    assert attributes["aal"] == aal
    functions = {n.name for n in method.body if isinstance(n, ast.FunctionDef)}
    assert declared in functions and ({"first_factor", "second_factor"} - {declared}).isdisjoint(functions)
    # A first factor takes its identifiers from the schema; a second factor reads no schema key.
    source = ast.unparse(method)
    assert ("credential_schema_keys" in source) is (factor == "first")


def test_other_kinds_ignore_method_factor(tmp_path: Path) -> None:
    first = bake("flow_action", tmp_path / "a", method_factor="first")
    second = bake("flow_action", tmp_path / "b", method_factor="second")
    assert {p: (first / p).read_text() for p in tree(first)} == {p: (second / p).read_text() for p in tree(second)}


def test_the_documented_command_bakes_kratos_rot13_courier(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "plugin_name=rot13 courier", "plugin_kind=courier_channel"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    project = tmp_path / "kratos-rot13-courier"
    assert (project / "src" / "kratos_rot13_courier" / "channel.py").is_file()
    assert 'rot13_courier = "kratos_rot13_courier.plugin"' in (project / "pyproject.toml").read_text()


# -- refusing bad names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("rot13_courier", "not usable"),
        ("1st plugin", "not usable"),
        ("trailing ", "not usable"),
        ("two  spaces", "not usable"),
        ("pin!", "not usable"),
        ("kratos totp", 'leave "kratos" out'),
        ("password", "reserved"),
        ("Lookup Secret", "reserved"),
        ("smtp", "reserved"),
    ],
)
def test_invalid_names_are_refused_before_generation(name: str, reason: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), f"plugin_name={name}", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert result.returncode != 0
    assert "ERROR:" in result.stderr and reason in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_reserved_names_cover_every_first_party_method() -> None:
    from kratos_core.methods import KNOWN_METHOD_PACKAGES

    source = (TEMPLATE / "hooks" / "pre_gen_project.py").read_text()
    reserved = set(re.findall(r'"([a-z-]+)"', source.split("RESERVED = {", 1)[1].split("}", 1)[0]))
    wanted = {m.replace("_", "-") for m in KNOWN_METHOD_PACKAGES} | {p.removeprefix("kratos-") for p in KNOWN_METHOD_PACKAGES.values()}
    assert wanted <= reserved


# -- first-party plugins keep the template's shape ---------------------------------------------------------


@pytest.mark.parametrize("plugin_dir", sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists()), ids=lambda p: p.name)
def test_first_party_plugins_have_the_template_shape(plugin_dir: Path) -> None:
    meta = tomllib.loads((plugin_dir / "pyproject.toml").read_text())
    dist = meta["project"]["name"]
    pkg = dist.replace("-", "_")
    assert dist.startswith("kratos-") and "kratos-core" in meta["project"]["dependencies"]
    assert set(meta["project"]["entry-points"]["kratos"].values()) == {f"{pkg}.plugin"}
    assert (plugin_dir / "README.md").is_file() and list((plugin_dir / "tests").glob("test_*.py"))
    module = ast.parse((plugin_dir / "src" / pkg / "plugin.py").read_text())
    functions = [n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert functions and all(f.name.startswith("kratos_") for f in functions)
    assert not [n for n in module.body if isinstance(n, ast.ClassDef)]


# -- installed and run, as a plugin author would ------------------------------------------------------------


def run(args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=clean_env(), timeout=timeout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv with kratos-core installed (editable) from this checkout."""
    path = tmp_path_factory.mktemp("plugin-venv") / "venv"
    made = run([sys.executable, "-m", "venv", str(path)], cwd=ROOT)
    assert made.returncode == 0, made.stderr
    installed = run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", "-e", str(ROOT)], cwd=ROOT)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    yield path


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(BAKES))
def test_a_baked_plugin_installs_passes_its_tests_and_is_listed(kind: str, venv: Path, tmp_path: Path) -> None:
    project = bake(kind, tmp_path)
    dist, _, _ = names(kind)
    python = str(venv / "bin" / "python")
    installed = run([python, "-m", "pip", "install", "-q", "-e", f"{project}[test]"], cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\d+ passed", tests.stdout) and "skipped" not in tests.stdout

    listed = run([str(venv / "bin" / "kratos"), "plugins", "--format", "json"], cwd=tmp_path, timeout=120)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert plugins[dist]["version"] == "0.1.0" and plugins[dist]["builtin"] is False
    assert plugins[dist]["hooks"] == sorted(HOOKS[kind])


@pytest.mark.slow
def test_a_baked_first_factor_installs_and_passes_its_tests(venv: Path, tmp_path: Path) -> None:
    context = {"plugin_name": "pin login", "plugin_kind": "credential_method", "method_factor": "first", "author_name": "Test Author"}
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=context, output_dir=str(tmp_path)))
    python = str(venv / "bin" / "python")
    installed = run([python, "-m", "pip", "install", "-q", "-e", f"{project}[test]"], cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\d+ passed", tests.stdout) and "skipped" not in tests.stdout
