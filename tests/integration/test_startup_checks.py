"""Config that names something no installed plugin provides stops the start, naming the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from kratos_core.plugins.manager import PluginError
from tests.conftest import base_config, make_app


def test_unknown_flow_action_fails_with_the_package_to_install(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    cfg["selfservice"]["flows"]["login"]["after"] = {"hooks": [{"hook": "web_hook", "config": {"url": "http://hooks.example.org"}}]}
    with pytest.raises(PluginError) as err:
        make_app(tmp_path, cfg)
    assert "selfservice.flows.login.after.hooks.0" in str(err.value)
    assert "kratos-webhook" in str(err.value)


def test_made_up_action_fails_naming_it(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    cfg["selfservice"]["flows"]["registration"]["after"] = {"password": {"hooks": [{"hook": "sesion"}]}}
    with pytest.raises(PluginError, match='"sesion"'):
        make_app(tmp_path, cfg)


def test_unknown_courier_channel_fails_with_the_package_to_install(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    cfg["courier"] = {"channels": [{"id": "pager", "type": "http", "request_config": {"url": "http://pager.example.org", "method": "POST"}}]}
    with pytest.raises(PluginError, match='"pager"'):
        make_app(tmp_path, cfg)


def test_builtin_actions_are_accepted(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    cfg["selfservice"]["flows"]["registration"]["after"] = {"password": {"hooks": [{"hook": "session"}]}}
    cfg["selfservice"]["flows"]["login"]["after"] = {"hooks": [{"hook": "revoke_active_sessions"}]}
    assert make_app(tmp_path, cfg).plugins.actions.get("session") is not None
