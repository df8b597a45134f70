"""Golden test: the order in which lifecycle hooks fire for registration, login and logout.

tox pins its hook order the same way: a change here is a change of the plugin contract, so it
must be deliberate (update the list and say so in the hookspec's ``Changed in``).
"""

from __future__ import annotations

from typing import Any

import pytest

import kratos_password.plugin as password_plugin
from kratos_core.testing import FlowDriver, HookRecorder, merge

PASSWORD = "correct horse battery staple"

START_UP = [
    "kratos_add_hookspecs",
    "kratos_register_methods",
    "kratos_register_flow_actions",
    "kratos_register_courier_channels",
    "kratos_register_config",
]

REGISTRATION = [
    "kratos_registration_before",
    "kratos_registration_pre_persist",
    "kratos_identity_pre_persist",
    "kratos_identity_post_persist",
    "kratos_event:identity.created",
    "kratos_event:session.issued",
    "kratos_registration_post_persist",
    "kratos_event:registration.succeeded",
]
LOGIN = ["kratos_login_before", "kratos_login_after", "kratos_event:session.issued", "kratos_event:login.succeeded"]
LOGOUT = ["kratos_event:session.revoked"]


@pytest.fixture
def kratos_plugins(kratos_hook_recorder: HookRecorder) -> list[object]:
    return [password_plugin, kratos_hook_recorder]


@pytest.fixture
def kratos_config(kratos_config: dict[str, Any]) -> dict[str, Any]:
    selfservice = {
        "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
        "flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}},
    }
    return merge(kratos_config, {"selfservice": selfservice})


async def test_password_registration_login_logout_hook_order(
    kratos_app: Any, kratos_flows: FlowDriver, kratos_hook_recorder: HookRecorder
) -> None:
    assert kratos_hook_recorder.names()[: len(START_UP)] == START_UP
    assert kratos_hook_recorder.lifecycle() == ["kratos_startup"]
    kratos_hook_recorder.clear()
    await kratos_flows.register({"email": "golden@example.org"}, password=PASSWORD)
    assert kratos_hook_recorder.lifecycle() == REGISTRATION

    kratos_hook_recorder.clear()
    login = await kratos_flows.login("golden@example.org", password=PASSWORD)
    assert kratos_hook_recorder.lifecycle() == LOGIN

    kratos_hook_recorder.clear()
    await kratos_flows.logout(login.json()["session_token"])
    assert kratos_hook_recorder.lifecycle() == LOGOUT

    kratos_hook_recorder.clear()
    await kratos_app.stop()
    assert kratos_hook_recorder.lifecycle() == ["kratos_shutdown"]
