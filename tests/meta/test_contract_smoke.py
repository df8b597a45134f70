"""Smoke runs of the plugin contract: what a plugin registers through each registration hook
reaches the server (pytest's "plugin smoke runs"). Lifecycle hooks are pinned by
``test_hook_order.py``."""

from __future__ import annotations

from typing import Any

import click
import pluggy
import pytest
from click.testing import CliRunner
from litestar import get

from kratos_core import hookimpl, hookspec
from kratos_core.plugins.manager import PluginHost
from kratos_core.plugins.registry import DuplicateRegistration
from kratos_core.testing import AppFactory, StubChannel, clients


class Extras:
    """A plugin using every registration hook once."""

    def __init__(self) -> None:
        self.channel = StubChannel("carrier_pigeon")
        self.added_specs = False

    @hookimpl
    def kratos_add_hookspecs(self, pm: pluggy.PluginManager) -> None:
        if not hasattr(pm.hook, "kratos_extras_provider"):  # a second Extras in one host
            pm.add_hookspecs(ExtraSpecs)
        self.added_specs = True

    @hookimpl
    def kratos_register_courier_channels(self, register: Any) -> None:
        register(self.channel)

    @hookimpl
    def kratos_register_flow_actions(self, register: Any) -> None:
        register(Noop())

    @hookimpl
    def kratos_register_routes(self, register: Any) -> None:
        @get("/extras/hello", sync_to_thread=False)
        def hello() -> dict[str, str]:
            return {"hello": "public"}

        @get("/admin/extras/hello", sync_to_thread=False)
        def hello_admin() -> dict[str, str]:
            return {"hello": "admin"}

        register(hello)
        register(hello_admin, api="admin")

    @hookimpl
    def kratos_register_commands(self, cli: click.Group) -> None:
        @cli.command()
        @click.argument("name")
        def greet(name: str) -> None:
            """Greet someone."""
            click.echo(f"hello {name}")


class ExtraSpecs:
    """Hook specs a plugin adds for plugins of its own (e.g. OIDC providers)."""

    @hookspec
    def kratos_extras_provider(self) -> None:
        """A hook of the Extras plugin."""


class Noop:
    id = "noop"
    config_model = None
    stages = frozenset({"login.after"})

    async def execute(self, ctx: Any, config: Any) -> None:
        del ctx, config


def test_a_plugin_adds_hookspecs_channels_and_actions() -> None:
    extras = Extras()
    host = PluginHost(autoload=False, plugins=[extras])
    assert extras.added_specs and hasattr(host.pm.hook, "kratos_extras_provider")
    assert host.channels.get("carrier_pigeon") is extras.channel
    assert isinstance(host.actions.get("noop"), Noop)


def test_duplicate_ids_fail_at_start() -> None:
    with pytest.raises(DuplicateRegistration, match="is registered by both plugin"):
        PluginHost(autoload=False, plugins=[Extras(), Extras()])


def test_a_plugin_adds_a_command_to_the_cli() -> None:
    group = click.Group("kratos")
    PluginHost(autoload=False, plugins=[Extras()]).register_commands(group)
    result = CliRunner().invoke(group, ["greet", "jane"])
    assert result.exit_code == 0 and result.output == "hello jane\n"


async def test_a_plugin_adds_routes_to_each_api(tmp_path: Any) -> None:
    factory = AppFactory(tmp_path)
    try:
        app = await factory(plugins=[Extras()])
        async with clients(app) as (public, admin):
            assert (await public.get("/extras/hello")).json() == {"hello": "public"}
            assert (await admin.get("/admin/extras/hello")).json() == {"hello": "admin"}
    finally:
        await factory.close()
