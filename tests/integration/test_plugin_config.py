"""Start-up checks of flow-action stages and method keys, typed plugin config, and blocking plugins."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from kratos_core import hookimpl
from kratos_core.actions.runner import LOGIN_AFTER, ActionContext
from kratos_core.app import build_app
from kratos_core.cli import cli
from kratos_core.config import ConfigError
from kratos_core.courier.worker import Deliverer
from kratos_core.plugins.manager import PluginError, PluginHost
from kratos_core.testing import STUB_FIRST_FACTOR, StubFirstFactorPlugin, default_config, merge
from tests.conftest import write_config


class OnlyLogin:
    id = "only_login"
    config_model = None
    stages = frozenset({LOGIN_AFTER})

    async def execute(self, ctx: ActionContext, config: Any) -> None:
        del ctx, config


class Actions:
    @hookimpl
    def kratos_register_flow_actions(self, register: Any) -> None:
        register(OnlyLogin())


class AuditConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    level: str = "info"
    events: tuple[str, ...] = ()


class Audit:
    """An observer plugin with a ``plugins.audit.config`` section."""

    def __init__(self) -> None:
        self.received: list[AuditConfig] = []

    @hookimpl
    def kratos_register_config(self, register: Any) -> None:
        register("audit", AuditConfig, configure=self.received.append)


class PagerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    number: str
    retries: int = 1


class Pager:
    id = "pager"
    config_model = PagerConfig

    def __init__(self) -> None:
        self.configured: list[Any] = []

    def configure(self, section: PagerConfig, config: Any) -> None:
        self.configured.append(section)

    async def send(self, message: Any) -> None:
        del message


class PagerPlugin:
    def __init__(self) -> None:
        self.channel = Pager()

    @hookimpl
    def kratos_register_courier_channels(self, register: Any) -> None:
        register(self.channel)


def build(tmp_path: Path, extra: dict[str, Any], plugins: list[object], env: dict[str, str] | None = None) -> Any:
    selfservice = {"methods": {STUB_FIRST_FACTOR: {"enabled": True}}}
    cfg = merge(default_config(tmp_path), {"selfservice": selfservice})
    path = write_config(tmp_path, merge(cfg, extra))
    return build_app([str(path)], dev=True, plugins=[StubFirstFactorPlugin(), *plugins], autoload=False, env=env or {})


def flows(**sections: Any) -> dict[str, Any]:
    return {"selfservice": {"flows": sections}}


# -- stages and method keys --------------------------------------------------------------------


def test_an_action_named_in_a_stage_it_does_not_declare_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(PluginError) as err:
        build(tmp_path, flows(registration={"before": {"hooks": [{"hook": "only_login"}]}}), [Actions()])
    assert "selfservice.flows.registration.before.hooks.0" in str(err.value)
    assert "registration.before" in str(err.value) and LOGIN_AFTER in str(err.value)
    with pytest.raises(PluginError, match=r"selfservice\.flows\.registration\.after\.hooks\.0 .*registration\.pre_persist"):
        build(tmp_path, flows(registration={"after": {"hooks": [{"hook": "only_login"}]}}), [Actions()])
    with pytest.raises(PluginError, match=r"selfservice\.flows\.login\.before\.hooks\.0"):
        build(tmp_path, flows(login={"before": {"hooks": [{"hook": "session"}]}}), [])
    assert build(tmp_path, flows(login={"after": {"hooks": [{"hook": "only_login"}]}}), [Actions()])


def test_config_for_an_action_without_a_model_stops_the_start(tmp_path: Path) -> None:
    cfg = flows(login={"after": {"hooks": [{"hook": "only_login", "config": {"x": 1}}]}})
    with pytest.raises(PluginError, match=r"login\.after\.hooks\.0\.config: .*takes no config"):
        build(tmp_path, cfg, [Actions()])


def test_an_unknown_method_key_stops_the_start_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        build(tmp_path, flows(login={"after": {"pin": {"hooks": [{"hook": "only_login"}]}}}), [Actions()])
    assert "selfservice.flows.login.after.pin" in str(err.value)


def test_a_plugin_method_key_takes_hooks_from_the_environment(tmp_path: Path) -> None:
    env = {"SELFSERVICE_FLOWS_LOGIN_AFTER_STUB_FIRST_FACTOR_HOOKS": '[{"hook": "only_login"}]'}
    app = build(tmp_path, {}, [Actions()], env=env)
    section = app.config.fragment(f"selfservice.flows.login.after.{STUB_FIRST_FACTOR}")
    assert [h.hook for h in section.hooks] == ["only_login"]
    # A method that takes no part in registration cannot have registration hooks.
    cfg = flows(registration={"after": {STUB_FIRST_FACTOR: {"hooks": [{"hook": "session"}]}}})
    app = build(tmp_path, cfg, [])
    assert app.config.fragment(f"selfservice.flows.registration.after.{STUB_FIRST_FACTOR}").hooks


def test_hooks_of_a_method_that_is_not_installed_only_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = flows(login={"after": {"totp": {"hooks": [{"hook": "only_login"}]}}})
    build(tmp_path, cfg, [Actions()])
    assert "selfservice.flows.login.after.totp lists hooks" in caplog.text


# -- plugins.<name>.config ---------------------------------------------------------------------


def test_a_plugin_section_is_validated_and_handed_over(tmp_path: Path) -> None:
    audit = Audit()
    build(tmp_path, {"plugins": {"audit": {"config": {"events": ["identity.created"]}}}}, [audit], env={"PLUGINS_AUDIT_CONFIG_LEVEL": "debug"})
    assert audit.received == [AuditConfig(level="debug", events=("identity.created",))]
    defaults = Audit()
    build(tmp_path, {}, [defaults])
    assert defaults.received == [AuditConfig()]


def test_unknown_plugin_keys_stop_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"plugins\.audit\.config\.levle"):
        build(tmp_path, {"plugins": {"audit": {"config": {"levle": "debug"}}}}, [Audit()])
    with pytest.raises(ConfigError, match=r"plugins\.audti"):
        build(tmp_path, {"plugins": {"audti": {"config": {}}}}, [Audit()])


# -- courier channel config --------------------------------------------------------------------


def test_a_channel_gets_its_validated_entry_config(tmp_path: Path) -> None:
    pager = PagerPlugin()
    channels = {"courier": {"channels": [{"id": "pager", "config": {"number": "+15550100"}}]}}
    app = build(tmp_path, channels, [pager], env={"COURIER_CHANNELS_0_CONFIG": '{"number": "+15550199", "retries": 3}'})
    Deliverer(app, retry_backoff=dt.timedelta(seconds=1), max_backoff=dt.timedelta(seconds=1)).configure_channels()
    assert pager.channel.configured == [PagerConfig(number="+15550199", retries=3)]
    bad = {"courier": {"channels": [{"id": "pager", "config": {"number": "1", "retry": 3}}]}}
    with pytest.raises(PluginError, match=r"courier\.channels\.0\.config .*retry"):
        build(tmp_path, bad, [PagerPlugin()])
    with pytest.raises(PluginError, match=r"courier\.channels\.0\.config .*missing required field `number`"):
        build(tmp_path, {"courier": {"channels": [{"id": "pager"}]}}, [PagerPlugin()])


# -- blocking ----------------------------------------------------------------------------------


def test_blocking_a_plugin_that_config_needs_says_so(tmp_path: Path) -> None:
    cfg = flows(registration={"after": {"hooks": [{"hook": "session"}]}})
    env = {"KRATOS_BLOCKED_PLUGINS": "kratos_core.builtin.actions, nothing_else"}
    with pytest.raises(PluginError, match=r'after\.hooks\.0 .*"session".*"kratos_core\.builtin\.actions" that provides it is blocked'):
        build(tmp_path, cfg, [], env=env)
    with pytest.raises(PluginError, match="is blocked"):
        build(tmp_path, merge(cfg, {"plugins": {"blocked": ["kratos_core.builtin.actions"]}}), [])
    assert build(tmp_path, {"plugins": {"blocked": ["kratos_core.builtin.actions"]}}, []).plugins.actions.get("session") is None


def test_kratos_plugins_lists_blocked_plugins() -> None:
    host = PluginHost(autoload=False, blocked=["kratos_core.builtin.profile"])
    info = {p["entry_point"]: p for p in host.describe()}
    assert info["kratos_core.builtin.profile"]["blocked"] is True
    assert info["kratos_core.builtin.actions"]["blocked"] is False
    result = CliRunner().invoke(cli, ["plugins"], env={"KRATOS_BLOCKED_PLUGINS": "password"})
    assert result.exit_code == 0, result.output
    assert "kratos-password" in result.output and "(plugin, blocked)" in result.output


def test_an_action_entry_config_comes_from_the_environment_too(tmp_path: Path) -> None:
    class Limits(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
        most: int = 1

    class Limited(OnlyLogin):
        id = "limited"
        config_model = Limits

    class LimitedPlugin:
        @hookimpl
        def kratos_register_flow_actions(self, register: Any) -> None:
            register(Limited())

    cfg = flows(login={"after": {"hooks": [{"hook": "limited", "config": {"most": 2}}]}})
    app = build(tmp_path, cfg, [LimitedPlugin()], env={"SELFSERVICE_FLOWS_LOGIN_AFTER_HOOKS_0_CONFIG": '{"most": 5}'})
    (entry,) = app.config.selfservice.flows.login.after.hooks
    assert app.plugins.actions.config_for(app.plugins.actions.get("limited"), entry) == Limits(most=5)
    with pytest.raises(PluginError, match=r"login\.after\.hooks\.0\.config .*most"):
        build(tmp_path, cfg, [LimitedPlugin()], env={"SELFSERVICE_FLOWS_LOGIN_AFTER_HOOKS_0_CONFIG": '{"most": "x"}'})


def test_an_enabled_method_of_a_blocked_plugin_says_it_is_blocked(tmp_path: Path) -> None:
    cfg = {"selfservice": {"methods": {"profile": {"enabled": True}}}}
    with pytest.raises(PluginError, match=r'selfservice\.methods\.profile .*"kratos_core\.builtin\.profile" that provides it is blocked'):
        build(tmp_path, cfg, [], env={"KRATOS_BLOCKED_PLUGINS": "kratos_core.builtin.profile"})


def test_the_blocked_key_takes_its_own_environment_variable(tmp_path: Path) -> None:
    app = build(tmp_path, {}, [], env={"PLUGINS_BLOCKED": "kratos_core.builtin.actions"})
    assert app.config.plugins.blocked == ("kratos_core.builtin.actions",)
    assert app.plugins.actions.get("session") is None
    assert "kratos_core.builtin.actions" in app.plugins.blocked
