"""The official SDKs drive native registration, login, whoami and logout; every response parses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ory_client
import ory_kratos_client
import pytest
from ory_client.api.frontend_api import FrontendApi as OryFrontendApi
from ory_client.models.update_login_flow_body import UpdateLoginFlowBody as OryLoginBody
from ory_client.models.update_login_flow_with_password_method import UpdateLoginFlowWithPasswordMethod as OryPasswordLogin
from ory_kratos_client.api.frontend_api import FrontendApi
from ory_kratos_client.exceptions import ApiException
from ory_kratos_client.models.login_flow import LoginFlow
from ory_kratos_client.models.perform_native_logout_body import PerformNativeLogoutBody
from ory_kratos_client.models.registration_flow import RegistrationFlow
from ory_kratos_client.models.update_login_flow_body import UpdateLoginFlowBody
from ory_kratos_client.models.update_login_flow_with_password_method import UpdateLoginFlowWithPasswordMethod
from ory_kratos_client.models.update_registration_flow_body import UpdateRegistrationFlowBody
from ory_kratos_client.models.update_registration_flow_with_password_method import (
    UpdateRegistrationFlowWithPasswordMethod,
)
from ory_kratos_client.models.update_registration_flow_with_profile_method import (
    UpdateRegistrationFlowWithProfileMethod,
)

import kratos_password.plugin as password_plugin
from tests.conftest import LiveServer, base_config, make_app

PASSWORD = "correct horse battery staple"
TRAITS = {"email": "sdk@example.org", "name": {"first": "Sdk", "last": "User"}}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    selfservice = {
        "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
        "flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}},
    }
    app = make_app(tmp_path, base_config(tmp_path, selfservice=selfservice), plugins=[password_plugin])
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def frontend(server: LiveServer) -> FrontendApi:
    return FrontendApi(ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=server.public_url)))


@pytest.fixture
def ory_frontend(server: LiveServer) -> OryFrontendApi:
    return OryFrontendApi(ory_client.ApiClient(ory_client.Configuration(host=server.public_url)))


def register(frontend: FrontendApi) -> str:
    """Two-step native registration; returns the session token."""
    flow = frontend.create_native_registration_flow()
    assert isinstance(flow, RegistrationFlow) and flow.type == "api"
    profile = UpdateRegistrationFlowBody(UpdateRegistrationFlowWithProfileMethod(method="profile", traits=TRAITS))
    with pytest.raises(ApiException) as step:
        frontend.update_registration_flow(flow.id, profile)
    # The credential selection is a 400 carrying the flow (pitfall 1).
    assert step.value.status == 400
    selection = RegistrationFlow.from_json(step.value.body)
    assert [m.id for m in selection.ui.messages] == [1040009]
    password = UpdateRegistrationFlowBody(
        UpdateRegistrationFlowWithPasswordMethod(method="password", password=PASSWORD, traits=TRAITS)
    )
    done = frontend.update_registration_flow(flow.id, password)
    assert done.identity.traits == TRAITS and done.session is not None
    assert done.continue_with[0].actual_instance.ory_session_token == done.session_token
    return done.session_token


def test_native_registration_login_whoami_logout(frontend: FrontendApi, ory_frontend: OryFrontendApi) -> None:
    registered_token = register(frontend)
    assert frontend.to_session(x_session_token=registered_token).identity.traits["email"] == TRAITS["email"]

    flow = ory_frontend.create_native_login_flow()
    body = OryLoginBody(OryPasswordLogin(method="password", identifier="SDK@example.org", password=PASSWORD))
    login = ory_frontend.update_login_flow(str(flow.id), body)
    assert login.session_token and login.session.identity.traits["email"] == TRAITS["email"]
    assert login.continue_with is None

    session = frontend.to_session(x_session_token=login.session_token)
    assert session.id == str(login.session.id) and session.authenticator_assurance_level == "aal1"

    frontend.perform_native_logout(PerformNativeLogoutBody(session_token=login.session_token))
    with pytest.raises(ApiException) as gone:
        frontend.to_session(x_session_token=login.session_token)
    assert gone.value.status == 401


def test_sdk_parses_failed_logins_and_fetched_flows(frontend: FrontendApi) -> None:
    register(frontend)
    flow = frontend.create_native_login_flow()
    assert isinstance(frontend.get_login_flow(flow.id), LoginFlow)
    wrong = UpdateLoginFlowBody(UpdateLoginFlowWithPasswordMethod(method="password", identifier="sdk@example.org", password="nope nope"))
    with pytest.raises(ApiException) as failed:
        frontend.update_login_flow(flow.id, wrong)
    assert failed.value.status == 400
    shown = LoginFlow.from_json(failed.value.body)
    assert [m.id for m in shown.ui.messages] == [4000006] and shown.active == "password"
    refreshed = frontend.create_native_login_flow(refresh=True)
    assert refreshed.refresh is False  # no session: refresh is ignored
