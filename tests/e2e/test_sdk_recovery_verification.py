"""The official SDK drives native verification and recovery and the admin recovery API.

Every response goes through ``ory_kratos_client``'s models (``VerificationFlow``,
``RecoveryFlow`` with ``continue_with``, ``RecoveryCodeForIdentity``, ``RecoveryLinkForIdentity``),
so a field the SDK does not accept fails here. Codes are read from the queued courier messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import ory_kratos_client
import pytest
from ory_kratos_client.api.frontend_api import FrontendApi
from ory_kratos_client.api.identity_api import IdentityApi
from ory_kratos_client.exceptions import ApiException
from ory_kratos_client.models.continue_with_set_ory_session_token import ContinueWithSetOrySessionToken
from ory_kratos_client.models.continue_with_settings_ui import ContinueWithSettingsUi
from ory_kratos_client.models.create_identity_body import CreateIdentityBody
from ory_kratos_client.models.create_recovery_code_for_identity_body import CreateRecoveryCodeForIdentityBody
from ory_kratos_client.models.create_recovery_link_for_identity_body import CreateRecoveryLinkForIdentityBody
from ory_kratos_client.models.recovery_flow import RecoveryFlow
from ory_kratos_client.models.update_recovery_flow_body import UpdateRecoveryFlowBody
from ory_kratos_client.models.update_recovery_flow_with_code_method import UpdateRecoveryFlowWithCodeMethod
from ory_kratos_client.models.update_verification_flow_body import UpdateVerificationFlowBody
from ory_kratos_client.models.update_verification_flow_with_code_method import UpdateVerificationFlowWithCodeMethod
from ory_kratos_client.models.verification_flow import VerificationFlow

import kratos_code.plugin as code_plugin
from tests.conftest import LiveServer, base_config, free_port, make_app

T = TypeVar("T")
UI = "http://127.0.0.1:4455"
EMAIL = "sdk@example.org"


def run(live: LiveServer, coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the live server's event loop (it owns the database connection)."""
    assert live._loop is not None
    return asyncio.run_coroutine_threadsafe(coro, live._loop).result(10)


def latest(live: LiveServer, template_type: str, field: str) -> str:
    """The ``field`` of the newest queued message of ``template_type`` (what the inbox shows)."""

    async def go() -> str:
        rows = await live.app.db.fetch(
            "SELECT template_data FROM courier_messages WHERE template_type = $1 ORDER BY created_at DESC",
            template_type,
        )
        assert rows, f"no {template_type} message was queued"
        return rows[0]["template_data"][field]

    return run(live, go())


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    selfservice = {
        "methods": {"code": {"enabled": True}, "link": {"enabled": True}},
        "flows": {
            "verification": {"enabled": True, "ui_url": f"{UI}/verification"},
            "recovery": {"enabled": True, "ui_url": f"{UI}/recovery"},
            "settings": {"ui_url": f"{UI}/settings"},
        },
    }
    cfg = base_config(tmp_path, selfservice=selfservice, feature_flags={"use_continue_with_transitions": True})
    with LiveServer(make_app(tmp_path, cfg, plugins=[code_plugin])) as server:
        yield server


@pytest.fixture
def frontend(live: LiveServer) -> FrontendApi:
    return FrontendApi(ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=live.public_url)))


@pytest.fixture
def identity_api(live: LiveServer) -> IdentityApi:
    return IdentityApi(ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=live.admin_url)))


def verification_body(**fields: Any) -> UpdateVerificationFlowBody:
    return UpdateVerificationFlowBody(UpdateVerificationFlowWithCodeMethod(method="code", **fields))


def recovery_body(**fields: Any) -> UpdateRecoveryFlowBody:
    return UpdateRecoveryFlowBody(UpdateRecoveryFlowWithCodeMethod(method="code", **fields))


def test_sdk_verification_and_recovery(live: LiveServer, frontend: FrontendApi, identity_api: IdentityApi) -> None:
    identity = identity_api.create_identity(
        create_identity_body=CreateIdentityBody(schema_id="default", traits={"email": EMAIL})
    )

    # -- verification ----------------------------------------------------------------------
    flow = frontend.create_native_verification_flow()
    assert isinstance(flow, VerificationFlow) and flow.state == "choose_method"
    sent = frontend.update_verification_flow(flow.id, verification_body(email=EMAIL))
    assert sent.state == "sent_email" and [m.id for m in sent.ui.messages] == [1080003]
    wrong = frontend.update_verification_flow(flow.id, verification_body(code="000000x"))
    assert [m.id for m in wrong.ui.messages] == [4070006]
    done = frontend.update_verification_flow(
        flow.id, verification_body(code=latest(live, "verification_code_valid", "verification_code"))
    )
    assert done.state == "passed_challenge" and done.ui.method == "GET"
    anchor = done.ui.nodes[0].attributes.actual_instance
    assert anchor.id == "continue" and anchor.href == done.ui.action
    assert frontend.get_verification_flow(flow.id).state == "passed_challenge"
    with pytest.raises(ApiException) as replay:
        frontend.update_verification_flow(flow.id, verification_body(code="123456"))
    assert replay.value.status == 410  # self_service_flow_replaced
    verified = identity_api.get_identity(identity.id).verifiable_addresses[0]
    assert verified.verified is True and verified.status == "completed"

    # -- recovery with continue-with transitions -------------------------------------------
    recovery = frontend.create_native_recovery_flow()
    assert isinstance(recovery, RecoveryFlow) and recovery.state == "choose_method"
    sent = frontend.update_recovery_flow(recovery.id, recovery_body(email=EMAIL))
    assert sent.state == "sent_email" and [m.id for m in sent.ui.messages] == [1060003]
    code = latest(live, "recovery_code_valid", "recovery_code")
    recovered = frontend.update_recovery_flow(recovery.id, recovery_body(code=code))
    assert recovered.state == "passed_challenge"
    token_item, settings_item = (c.actual_instance for c in recovered.continue_with)
    assert isinstance(token_item, ContinueWithSetOrySessionToken) and isinstance(settings_item, ContinueWithSettingsUi)
    session = frontend.to_session(x_session_token=token_item.ory_session_token)
    assert session.identity.id == identity.id
    assert [m.method for m in session.authentication_methods] == ["code_recovery"]
    assert frontend.get_recovery_flow(recovery.id).state == "passed_challenge"

    # -- the administrator's code and link -------------------------------------------------
    issued = identity_api.create_recovery_code_for_identity(
        CreateRecoveryCodeForIdentityBody(identity_id=identity.id, expires_in="15m", flow_type="api")
    )
    assert issued.recovery_link.startswith(f"{UI}/recovery?flow=") and len(issued.recovery_code) == 6
    admin_flow_id = issued.recovery_link.split("flow=", 1)[1]
    admin_flow = frontend.get_recovery_flow(admin_flow_id)
    assert admin_flow.state == "sent_email" and admin_flow.type == "api"
    via_admin = frontend.update_recovery_flow(admin_flow_id, recovery_body(code=issued.recovery_code))
    assert via_admin.continue_with[0].actual_instance.ory_session_token
    link = identity_api.create_recovery_link_for_identity(
        create_recovery_link_for_identity_body=CreateRecoveryLinkForIdentityBody(identity_id=identity.id)
    )
    assert "/self-service/recovery?" in link.recovery_link and "token=" in link.recovery_link and link.expires_at
    with pytest.raises(ApiException) as unknown:
        identity_api.create_recovery_code_for_identity(
            CreateRecoveryCodeForIdentityBody(identity_id="00000000-0000-4000-8000-000000000000")
        )
    assert unknown.value.status == 404


def test_sdk_follows_recovery_replacements(tmp_path: Path) -> None:
    """Without the transitions flag a used-up flow answers 303 to the new flow; the SDK follows it."""
    selfservice = {
        "methods": {"code": {"enabled": True, "config": {"max_submissions": 1}}},
        "flows": {"recovery": {"enabled": True, "ui_url": f"{UI}/recovery"}, "settings": {"ui_url": f"{UI}/settings"}},
    }
    # The 303 points at serve.public.base_url: make it the port the server really listens on.
    port = free_port()
    cfg = base_config(tmp_path, selfservice=selfservice, serve={"public": {"base_url": f"http://127.0.0.1:{port}/"}})
    server = LiveServer(make_app(tmp_path, cfg, plugins=[code_plugin]))
    server.public_port, server.public_url = port, f"http://127.0.0.1:{port}"
    with server as live:
        frontend = FrontendApi(ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=live.public_url)))
        flow = frontend.create_native_recovery_flow()
        frontend.update_recovery_flow(flow.id, recovery_body(email="nobody@example.org"))
        first = frontend.update_recovery_flow(flow.id, recovery_body(code="111111"))
        assert [m.id for m in first.ui.messages] == [4060006]
        replaced = frontend.update_recovery_flow(flow.id, recovery_body(code="222222"))
        assert isinstance(replaced, RecoveryFlow) and replaced.id != flow.id
        assert [m.id for m in replaced.ui.messages] == [4000001] and replaced.state == "choose_method"
