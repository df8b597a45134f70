"""Every hookspec is exercised by some test: it fired into a plugin (not a built-in) implementing it.

The recording comes from kratos_core.testing's session recorder (a probe registered into every
plugin host a test builds). This test is marked ``kratos_hook_coverage``, which turns the
recorder on and makes the test run last, after every other collected test. When the session did
not collect the whole suite (``pytest tests/meta``), it runs the rest of the suite in a
subprocess with ``--kratos-record-hooks`` and reads that run's report instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kratos_core.testing import hookspec_names

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve()
# This test itself, and tests whose apps run in other processes (baked plugins, the docs build),
# where recording cannot see them.
NOT_RECORDED = (HERE, ROOT / "tests" / "test_plugin_template.py", ROOT / "tests" / "meta" / "test_hookspecs_documented.py")


def suite_files() -> set[Path]:
    files = set((ROOT / "tests").rglob("test_*.py")) | set((ROOT / "plugins").glob("*/tests/**/test_*.py"))
    return {f for f in files if not any(f == p or p in f.parents for p in NOT_RECORDED)}


def collected_files(session: pytest.Session) -> set[Path]:
    return {Path(item.path).resolve() for item in session.items}


def recorded_elsewhere(tmp_path: Path) -> dict[str, int]:
    """Run the rest of the suite with recording on; the per-hook counts of implemented calls."""
    report = tmp_path / "hooks.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")}
    ignores = [f"--ignore={p}" for p in NOT_RECORDED]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--kratos-record-hooks", f"--kratos-hook-report={report}", *ignores],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert report.exists(), f"the recording run wrote no report:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(report.read_text())["implemented"]


@pytest.mark.kratos_hook_coverage
@pytest.mark.slow
def test_every_hookspec_is_exercised_by_a_test(request: pytest.FixtureRequest, kratos_hook_coverage: Any, tmp_path: Path) -> None:
    missing_files = suite_files() - collected_files(request.session)
    if kratos_hook_coverage is not None and not missing_files:
        unexercised = kratos_hook_coverage.unexercised()
    else:
        implemented = recorded_elsewhere(tmp_path)
        unexercised = [name for name in hookspec_names() if not implemented.get(name)]
    assert not unexercised, (
        "no test plugs into these hooks and sees them fire (add a test with a plugin implementing "
        f"each, e.g. kratos_core.testing.HookRecorder): {unexercised}"
    )
