"""The official SDK drives the settings flow (native and SPA): every response parses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ory_kratos_client
import pytest
from ory_kratos_client.api.frontend_api import FrontendApi
from ory_kratos_client.exceptions import ApiException
from ory_kratos_client.models.error_generic import ErrorGeneric
from ory_kratos_client.models.settings_flow import SettingsFlow
from ory_kratos_client.models.update_login_flow_body import UpdateLoginFlowBody
from ory_kratos_client.models.update_login_flow_with_password_method import UpdateLoginFlowWithPasswordMethod
from ory_kratos_client.models.update_settings_flow_body import UpdateSettingsFlowBody
from ory_kratos_client.models.update_settings_flow_with_password_method import UpdateSettingsFlowWithPasswordMethod
from ory_kratos_client.models.update_settings_flow_with_profile_method import UpdateSettingsFlowWithProfileMethod

import kratos_password.plugin as password_plugin
from kratos_core import hookimpl
from kratos_core.actions.runner import SETTINGS_AFTER
from tests.conftest import LiveServer, _merge, base_config, make_app

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a quite different passphrase 1984"
EMAIL = "sdk-settings@example.org"
SELFSERVICE: dict[str, Any] = {
    "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
    "flows": {
        "settings": {
            "ui_url": "http://127.0.0.1:4455/settings",
            "after": {"profile": {"hooks": [{"hook": "sdk_show_verification"}]}},
        }
    },
}


class ShowVerification:
    """Stands in for the verification actions: a ``show_verification_ui`` item per pending address."""

    id = "sdk_show_verification"
    config_model = None
    stages = frozenset({SETTINGS_AFTER})

    async def execute(self, ctx: Any, config: Any) -> None:
        del config
        for address in ctx.identity.verifiable_addresses:
            if address.status == "pending":
                flow = {"id": str(uuid.uuid4()), "verifiable_address": address.value}
                ctx.continue_with.append({"action": "show_verification_ui", "flow": flow})
                return


class ActionPlugin:
    @hookimpl
    def kratos_register_flow_actions(self, register: Any) -> None:
        register(ShowVerification())


def serve(tmp_path: Path, **selfservice: Any) -> LiveServer:
    cfg = base_config(tmp_path, selfservice=_merge(SELFSERVICE, selfservice))
    return LiveServer(make_app(tmp_path, cfg, plugins=[password_plugin, ActionPlugin()]))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with serve(tmp_path) as live:
        yield live


def frontend_for(live: LiveServer) -> FrontendApi:
    return FrontendApi(ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=live.public_url)))


def create_identity(live: LiveServer) -> None:
    body = {"schema_id": "default", "traits": {"email": EMAIL}, "credentials": {"password": {"config": {"password": PASSWORD}}}}
    assert httpx.post(f"{live.admin_url}/admin/identities", json=body).status_code == 201


def sdk_login(frontend: FrontendApi, password: str = PASSWORD, email: str = EMAIL) -> str:
    flow = frontend.create_native_login_flow()
    body = UpdateLoginFlowBody(UpdateLoginFlowWithPasswordMethod(method="password", identifier=email, password=password))
    return frontend.update_login_flow(flow.id, body).session_token


def profile(traits: dict[str, Any], **extra: Any) -> UpdateSettingsFlowBody:
    return UpdateSettingsFlowBody(UpdateSettingsFlowWithProfileMethod(method="profile", traits=traits, **extra))


def password(value: str, **extra: Any) -> UpdateSettingsFlowBody:
    return UpdateSettingsFlowBody(UpdateSettingsFlowWithPasswordMethod(method="password", password=value, **extra))


def failed(call: Any, status: int) -> str:
    with pytest.raises(ApiException) as raised:
        call()
    assert raised.value.status == status, raised.value.body
    return raised.value.body


def test_native_settings_flow(server: LiveServer) -> None:
    frontend = frontend_for(server)
    create_identity(server)
    token = sdk_login(frontend)

    flow = frontend.create_native_settings_flow(x_session_token=token)
    assert isinstance(flow, SettingsFlow) and flow.type == "api" and flow.state == "show_form"
    assert flow.identity.traits == {"email": EMAIL}
    assert [n.attributes.actual_instance.name for n in flow.ui.nodes][-1] == "method"
    fetched = frontend.get_settings_flow(flow.id, x_session_token=token)
    assert fetched.id == flow.id and fetched.ui.messages is None

    # Validation errors are a 400 carrying the flow.
    shown = SettingsFlow.from_json(failed(lambda: frontend.update_settings_flow(flow.id, profile({"email": "nope"}), x_session_token=token), 400))
    email = next(n for n in shown.ui.nodes if n.attributes.actual_instance.name == "traits.email")
    assert [m.id for m in email.messages] == [4000040]

    done = frontend.update_settings_flow(flow.id, profile({"email": "moved@example.org"}), x_session_token=token)
    assert done.state == "success" and [m.id for m in done.ui.messages] == [1050001]
    assert done.identity.traits == {"email": "moved@example.org"}
    item = done.continue_with[0].actual_instance
    assert item.action == "show_verification_ui" and item.flow.verifiable_address == "moved@example.org"

    changed = frontend.update_settings_flow(flow.id, password(NEW_PASSWORD), x_session_token=token)
    assert changed.state == "success" and changed.active == "password" and changed.continue_with is None
    same = SettingsFlow.from_json(failed(lambda: frontend.update_settings_flow(flow.id, password(NEW_PASSWORD), x_session_token=token), 400))
    assert same.state == "success"

    missing = ErrorGeneric.from_json(failed(lambda: frontend.get_settings_flow(str(uuid.uuid4()), x_session_token=token), 404))
    assert missing.error.code == 404
    anonymous = ErrorGeneric.from_json(failed(lambda: frontend.create_native_settings_flow(), 401))
    assert anonymous.error.id == "session_inactive"
    assert sdk_login(frontend, NEW_PASSWORD, "moved@example.org")


def test_refresh_required_and_expired_errors_parse(tmp_path: Path) -> None:
    with serve(tmp_path, flows={"settings": {"privileged_session_max_age": "1ms", "lifespan": "2s"}}) as live:
        frontend = frontend_for(live)
        create_identity(live)
        token = sdk_login(frontend)
        flow = frontend.create_native_settings_flow(x_session_token=token)
        time.sleep(0.01)  # the session is older than 1 ms on any machine
        refused = ErrorGeneric.from_json(failed(lambda: frontend.update_settings_flow(flow.id, password(NEW_PASSWORD), x_session_token=token), 403))
        assert refused.error.id == "session_refresh_required"
        assert refused.additional_properties["redirect_browser_to"].startswith("http://127.0.0.1:4433/self-service/login/browser?refresh=true")

        time.sleep(2.1)  # the flow's lifespan
        gone = ErrorGeneric.from_json(failed(lambda: frontend.get_settings_flow(flow.id, x_session_token=token), 410))
        assert gone.error.id == "self_service_flow_expired"
        expired = ErrorGeneric.from_json(failed(lambda: frontend.update_settings_flow(flow.id, profile({"email": EMAIL}), x_session_token=token), 410))
        assert expired.additional_properties["use_flow_id"]


def test_spa_settings_flow_with_cookies(server: LiveServer) -> None:
    frontend = frontend_for(server)
    create_identity(server)
    with httpx.Client(base_url=server.public_url) as browser:
        login = browser.get("/self-service/login/browser", headers={"Accept": "application/json"}).json()
        csrf = next(n["attributes"]["value"] for n in login["ui"]["nodes"] if n["attributes"]["name"] == "csrf_token")
        body = {"method": "password", "identifier": EMAIL, "password": PASSWORD, "csrf_token": csrf}
        assert browser.post("/self-service/login", params={"flow": login["id"]}, json=body).status_code == 200
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())

    flow = frontend.create_browser_settings_flow(cookie=cookie)
    assert flow.type == "browser"
    csrf = next(n.attributes.actual_instance.value for n in flow.ui.nodes if n.attributes.actual_instance.name == "csrf_token")
    assert frontend.get_settings_flow(flow.id, cookie=cookie).id == flow.id
    done = frontend.update_settings_flow(flow.id, profile({"email": EMAIL, "name": {"first": "Spa"}}, csrf_token=csrf), cookie=cookie)
    assert done.state == "success"
    redirect = done.continue_with[-1].actual_instance
    assert redirect.action == "redirect_browser_to" and redirect.redirect_browser_to.endswith(f"/settings?flow={flow.id}")
