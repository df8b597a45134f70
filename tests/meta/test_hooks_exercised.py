"""Every hookspec fires into a plugin implementing it, in one focused scenario.

A :class:`~kratos_core.testing.HookRecorder` (a plugin implementing every hookspec, generated
from the specs, so a new hook is covered without touching this test) is plugged into a real app
that goes through every flow stage, courier outcome and identity write (``scenario.py``), is
started and stopped, builds its HTTP apps (routes) and adds its CLI commands. Unlike the old
session-wide recording this costs one scenario (about a second), not a second run of the suite;
``--kratos-record-hooks`` still reports which hooks a whole run exercised.
"""

from __future__ import annotations

from pathlib import Path

import click

from kratos_core.plugins.manager import PluginHost
from kratos_core.testing import HookRecorder, StubCourier, hookspec_names
from tests.meta.scenario import run_scenario


async def test_every_hookspec_fires_into_a_plugin_in_the_scenario(tmp_path: Path) -> None:
    recorder = HookRecorder()
    await run_scenario(tmp_path, StubCourier(), recorder)
    PluginHost(autoload=False, plugins=[recorder]).register_commands(click.Group("kratos"))
    fired = set(recorder.names())
    unexercised = [name for name in hookspec_names() if name not in fired]
    assert not unexercised, f"the scenario does not reach these hooks (extend tests/meta/scenario.py): {unexercised}"
