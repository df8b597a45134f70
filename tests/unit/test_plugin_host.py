"""The plugin host: registration, duplicates, the async-aware caller and its error policy."""

from __future__ import annotations

import logging
import uuid
from types import SimpleNamespace

import pluggy
import pytest

from kratos_core import hookimpl
from kratos_core.events import IdentityCreated, IdentityDeleted
from kratos_core.plugins.manager import PluginError, PluginHost
from kratos_core.plugins.registry import DuplicateRegistration


class Method:
    def __init__(self, id: str) -> None:
        self.id = id
        self.credential_type = id
        self.config_model = None
        self.configured_with: object = "never"

    def configure(self, config: object, app_config: object) -> None:
        self.configured_with = config


def method_plugin(*ids: str) -> object:
    class Plugin:
        @hookimpl
        def kratos_register_methods(self, register: object) -> None:
            for i in ids:
                register(Method(i))

    return Plugin()


def test_builtin_profile_method_is_registered_through_the_same_hooks() -> None:
    host = PluginHost(autoload=False)
    assert "profile" in host.methods.items
    info = {p["name"]: p for p in host.describe()}
    assert info["kratos_core.builtin.profile"]["builtin"] is True
    assert info["kratos_core.builtin.profile"]["hooks"] == ["kratos_register_methods"]


def test_builtin_can_be_blocked() -> None:
    host = PluginHost(autoload=False, blocked=["kratos_core.builtin.profile"])
    assert "profile" not in host.methods.items


def test_duplicate_ids_fail_naming_both_plugins() -> None:
    with pytest.raises(DuplicateRegistration) as err:
        PluginHost(autoload=False, plugins=[method_plugin("totp"), method_plugin("totp")])
    assert 'method "totp"' in str(err.value)


def test_unknown_hook_names_fail_at_start() -> None:
    class Typo:
        @hookimpl
        def kratos_register_method(self, register: object) -> None:  # missing "s"
            pass

    with pytest.raises(pluggy.PluginValidationError):
        PluginHost(autoload=False, plugins=[Typo()])


async def test_call_awaits_each_implementation_in_order_and_a_veto_stops_the_rest() -> None:
    seen: list[str] = []

    class First:
        @hookimpl(tryfirst=True)
        async def kratos_startup(self, config: object) -> None:
            seen.append("first")
            raise RuntimeError("veto")

    class Second:
        @hookimpl
        def kratos_startup(self, config: object) -> None:
            seen.append("second")

    host = PluginHost(autoload=False, plugins=[Second(), First()])
    with pytest.raises(RuntimeError, match="veto"):
        await host.hooks.startup(config=None)
    assert seen == ["first"]


async def test_call_passes_only_the_arguments_an_implementation_asks_for() -> None:
    got: list[object] = []

    class Minimal:
        @hookimpl
        async def kratos_event(self, event: str) -> str:
            got.append(event)
            return "done"

    host = PluginHost(autoload=False, plugins=[Minimal()])
    await host.hooks.event(payload=IdentityCreated(identity_id=uuid.uuid4(), source="admin"))
    assert got == ["identity.created"]


async def test_notify_contains_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    class Broken:
        @hookimpl
        async def kratos_event(self, event: str, data: dict) -> None:
            raise ValueError("boom")

    class Fine:
        @hookimpl(trylast=True)
        def kratos_event(self, event: str, data: dict) -> None:
            seen.append(event)

    host = PluginHost(autoload=False, plugins=[Broken(), Fine()])
    with caplog.at_level(logging.ERROR, logger="kratos.plugins"):
        await host.hooks.event(payload=IdentityDeleted(identity_id=uuid.uuid4(), source="admin"))
    assert seen == ["identity.deleted"]
    assert "failed in kratos_event" in caplog.text


def _config(**methods: bool) -> SimpleNamespace:
    sections = {name: SimpleNamespace(enabled=on) for name, on in methods.items()}
    return SimpleNamespace(
        selfservice=SimpleNamespace(methods=sections, flows=()),
        courier=SimpleNamespace(channels=()),
        fragment=lambda path: None,
    )


def test_enabled_method_without_provider_fails_with_the_package_to_install() -> None:
    host = PluginHost(autoload=False)
    with pytest.raises(PluginError) as err:
        host.configure(_config(totp=True), explicitly_enabled=["totp"])
    assert "kratos-totp" in str(err.value)
    assert "selfservice.methods.totp" in str(err.value)


def test_default_enabled_method_without_provider_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    host = PluginHost(autoload=False)
    with caplog.at_level(logging.WARNING, logger="kratos.plugins"):
        host.configure(_config(password=True))
    assert "kratos-password" in caplog.text


def test_unknown_enabled_method_fails_even_by_default() -> None:
    host = PluginHost(autoload=False)
    with pytest.raises(PluginError, match="sms_magic"):
        host.configure(_config(sms_magic=True))


def test_configure_hands_methods_their_config_and_lists_enabled_ones() -> None:
    plugin = method_plugin("totp")
    host = PluginHost(autoload=False, plugins=[plugin])
    host.configure(_config(totp=True, profile=True))
    assert host.methods.get("totp").configured_with is None
    assert set(host.enabled_methods(_config(totp=True, profile=False))) == {"totp"}
