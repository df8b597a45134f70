"""The official SDKs drive every session and logout endpoint, and every response parses."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import ory_client
import ory_kratos_client
import pytest
from ory_kratos_client.api.frontend_api import FrontendApi
from ory_kratos_client.api.identity_api import IdentityApi
from ory_kratos_client.exceptions import ApiException
from ory_kratos_client.models.create_identity_body import CreateIdentityBody
from ory_kratos_client.models.perform_native_logout_body import PerformNativeLogoutBody

from tests.conftest import LiveServer
from tests.integration.test_sessions import fake_request

T = TypeVar("T")


def run(live: LiveServer, coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the live server's event loop (it owns the database connection)."""
    assert live._loop is not None
    return asyncio.run_coroutine_threadsafe(coro, live._loop).result(10)


@pytest.fixture
def frontend(live: LiveServer) -> FrontendApi:
    return FrontendApi(ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=live.public_url)))


@pytest.fixture
def identity_api(live: LiveServer) -> IdentityApi:
    return IdentityApi(ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=live.admin_url)))


def login(live: LiveServer, identity_id: str) -> tuple[str, str]:
    """A session as a login flow would issue it: (session id, session token)."""

    async def go() -> tuple[str, str]:
        identity = await live.app.identities.get(uuid.UUID(identity_id))
        session, token = await live.app.sessions.issue(
            identity, method="password", request=fake_request({"user-agent": "sdk-test"}, host="203.0.113.5")
        )
        return str(session.id), token

    return run(live, go())


def create_identity(api: IdentityApi, email: str) -> str:
    body = CreateIdentityBody(schema_id="default", traits={"email": email}, metadata_admin={"plan": "pro"})
    return api.create_identity(create_identity_body=body).id


def headers_of(response: Any) -> dict[str, str]:
    # The SDK hands headers over as a plain (case-sensitive) dict; compare names case-insensitively.
    return {k.lower(): v for k, v in response.headers.items()}


def cookie_for(live: LiveServer, token: str) -> str:
    async def go() -> str:
        session = await live.app.sessions.find_by_token(token)
        assert session is not None
        return f"ory_kratos_session={live.app.sessions.codec.encode(token, session.expires_at)}"

    return run(live, go())


def test_sdk_whoami_and_my_sessions(live: LiveServer, frontend: FrontendApi) -> None:
    admin = IdentityApi(ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=live.admin_url)))
    identity_id = create_identity(admin, "sdk-sessions@example.org")
    current_id, token = login(live, identity_id)
    others = [login(live, identity_id) for _ in range(3)]

    session = frontend.to_session(x_session_token=token)
    assert session.id == current_id and session.active is True
    assert session.identity.id == identity_id and session.identity.traits["email"] == "sdk-sessions@example.org"
    assert session.authenticator_assurance_level == "aal1"
    assert session.authentication_methods[0].method == "password"
    assert session.devices[0].ip_address == "203.0.113.5"
    assert frontend.to_session(cookie=cookie_for(live, token)).id == current_id

    # The other official SDK parses whoami too.
    other_sdk = ory_client.FrontendApi(ory_client.ApiClient(ory_client.Configuration(host=live.public_url)))
    parsed = other_sdk.to_session(x_session_token=token)
    assert str(parsed.id) == current_id and str(parsed.identity.id) == identity_id

    listed = frontend.list_my_sessions_with_http_info(x_session_token=token, page_size=2)
    assert len(listed.data) == 2 and headers_of(listed)["x-total-count"] == "3"
    token_param = headers_of(listed)["link"].split("page_token=")[1].split(">")[0]
    rest = frontend.list_my_sessions(x_session_token=token, page_size=2, page_token=token_param)
    assert {s.id for s in listed.data + rest} == {sid for sid, _ in others}

    frontend.disable_my_session(others[0][0], x_session_token=token)
    with pytest.raises(ApiException) as err:
        frontend.to_session(x_session_token=others[0][1])
    assert err.value.status == 401
    with pytest.raises(ApiException) as err:
        frontend.disable_my_session(current_id, x_session_token=token)
    assert err.value.status == 400

    assert frontend.disable_my_other_sessions(x_session_token=token).count == 2
    assert frontend.list_my_sessions(x_session_token=token) == []


def test_sdk_logout(live: LiveServer, frontend: FrontendApi, identity_api: IdentityApi) -> None:
    identity_id = create_identity(identity_api, "sdk-logout@example.org")
    _, browser_token = login(live, identity_id)
    flow = frontend.create_browser_logout_flow(cookie=cookie_for(live, browser_token))
    assert flow.logout_token.startswith("ory_lo_")
    assert flow.logout_url == f"{live.app.public_base_url.rstrip('/')}/self-service/logout?token={flow.logout_token}"
    with pytest.raises(ApiException) as err:
        frontend.create_browser_logout_flow()
    assert err.value.status == 401

    _, native_token = login(live, identity_id)
    frontend.perform_native_logout(PerformNativeLogoutBody(session_token=native_token))
    with pytest.raises(ApiException) as err:
        frontend.to_session(x_session_token=native_token)
    assert err.value.status == 401
    with pytest.raises(ApiException) as err:
        frontend.perform_native_logout(PerformNativeLogoutBody(session_token="ory_st_" + "N" * 32))
    assert err.value.status == 403


def test_sdk_admin_sessions(live: LiveServer, identity_api: IdentityApi) -> None:
    identity_id = create_identity(identity_api, "sdk-admin-sessions@example.org")
    issued = [login(live, identity_id) for _ in range(3)]

    everything = identity_api.list_sessions(expand=["identity", "devices"])
    assert [s.id for s in everything] == [sid for sid, _ in reversed(issued)]
    assert everything[0].identity.metadata_admin == {"plan": "pro"} and everything[0].devices[0].user_agent == "sdk-test"
    page = identity_api.list_sessions_with_http_info(page_size=2)
    assert len(page.data) == 2 and 'rel="next"' in headers_of(page)["link"]
    assert page.data[0].identity is None

    one = identity_api.get_session(issued[0][0], expand=["identity"])
    assert one.id == issued[0][0] and one.identity.id == identity_id
    with pytest.raises(ApiException) as err:
        identity_api.get_session(str(uuid.uuid4()))
    assert err.value.status == 404

    extended = identity_api.extend_session(issued[0][0])
    assert extended.id == issued[0][0] and extended.expires_at >= one.expires_at

    identity_api.disable_session(issued[0][0])
    assert identity_api.get_session(issued[0][0]).active is False
    assert [s.id for s in identity_api.list_sessions(active=True)] == [sid for sid, _ in reversed(issued[1:])]

    mine = identity_api.list_identity_sessions(identity_id)
    assert len(mine) == 3 and all(s.identity.id == identity_id for s in mine)
    assert len(identity_api.list_identity_sessions(identity_id, active=True)) == 2

    identity_api.delete_identity_sessions(identity_id)
    assert identity_api.list_identity_sessions(identity_id) == []
