"""The settings flow over HTTP with the profile and password methods (API and browser flows).

Sessions come from real password logins. API calls carry ``X-Session-Token`` on a client that
never holds cookies; browser tests use a cookie-keeping client, CSRF tokens from the flow and
either HTML form posts (``Accept: */*``) or SPA calls (``Accept: application/json``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from litestar import Request, get

import kratos_password.plugin as password_plugin
from kratos_core import hookimpl
from kratos_core.actions.runner import SETTINGS_AFTER
from kratos_core.app import KratosApp
from kratos_core.errors import BadRequest
from kratos_core.flows.errors import FlowValidationError
from kratos_core.flows.settings import create_settings_flow, protected_data_changed
from kratos_core.ui import messages
from tests.conftest import _merge, base_config, make_app

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a quite different passphrase 1984"
EMAIL = "jane@example.org"
PUBLIC = "http://127.0.0.1:4433"
UI = "http://127.0.0.1:4455"
SETTINGS_UI = f"{UI}/settings"
LOGIN_UI = f"{UI}/login"
CSRF_COOKIE = "csrf_token_" + hashlib.sha256(f"{PUBLIC}/".encode()).hexdigest()
JSON = {"Accept": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

SELFSERVICE: dict[str, Any] = {
    "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
    "flows": {"settings": {"ui_url": SETTINGS_UI}},
}


class Kratos:
    """A started app: an API client (never holds cookies), an admin client, browsers on demand."""

    def __init__(self, app: KratosApp) -> None:
        self.app = app
        self.api = self._client(app.public, PUBLIC)
        self.admin = self._client(app.admin, "http://127.0.0.1:4434")
        self._browsers: list[httpx.AsyncClient] = []

    @staticmethod
    def _client(asgi: Any, base_url: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url=base_url)

    def browser(self) -> httpx.AsyncClient:
        client = self._client(self.app.public, PUBLIC)
        self._browsers.append(client)
        return client

    async def close(self) -> None:
        for client in (self.api, self.admin, *self._browsers):
            await client.aclose()
        await self.app.stop()

    # -- identities and sessions -----------------------------------------------------------

    async def create_identity(self, email: str = EMAIL, **traits: Any) -> dict[str, Any]:
        body = {
            "schema_id": "default",
            "traits": {"email": email, **traits},
            "credentials": {"password": {"config": {"password": PASSWORD}}},
        }
        response = await self.admin.post("/admin/identities", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    async def stored(self, identity_id: str) -> dict[str, Any]:
        response = await self.admin.get(f"/admin/identities/{identity_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def login(self, email: str = EMAIL, password: str = PASSWORD) -> httpx.Response:
        flow = (await self.api.get("/self-service/login/api")).json()
        body = {"method": "password", "identifier": email, "password": password}
        return await self.api.post("/self-service/login", params={"flow": flow["id"]}, json=body)

    async def token(self, email: str = EMAIL, password: str = PASSWORD) -> str:
        response = await self.login(email, password)
        assert response.status_code == 200, response.text
        return response.json()["session_token"]

    # -- the settings API ------------------------------------------------------------------

    async def api_flow(self, token: str) -> dict[str, Any]:
        response = await self.api.get("/self-service/settings/api", headers={"X-Session-Token": token})
        assert response.status_code == 200, response.text
        return response.json()

    async def submit(self, flow_id: str, body: dict[str, Any], token: str | None, **headers: str) -> httpx.Response:
        if token:
            headers["X-Session-Token"] = token
        return await self.api.post("/self-service/settings", params={"flow": flow_id}, json=body, headers=headers)

    async def fetch(self, flow_id: str, token: str | None, client: httpx.AsyncClient | None = None, **headers: str) -> httpx.Response:
        if token:
            headers["X-Session-Token"] = token
        return await (client or self.api).get("/self-service/settings/flows", params={"id": flow_id}, headers=headers)

    async def expire(self, flow_id: str) -> None:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        await self.app.db.execute("UPDATE selfservice_flows SET expires_at = $2 WHERE id = $1", uuid.UUID(flow_id), past)

    # -- browsers --------------------------------------------------------------------------

    async def browser_login(self, browser: httpx.AsyncClient, email: str = EMAIL) -> None:
        response = await browser.get("/self-service/login/browser")
        flow_id = flow_id_of(response)
        flow = (await browser.get("/self-service/login/flows", params={"id": flow_id})).json()
        form = {"csrf_token": csrf_of(flow), "identifier": email, "password": PASSWORD, "method": "password"}
        done = await browser.post("/self-service/login", params={"flow": flow_id}, data=form, headers=FORM)
        assert done.status_code == 303, done.text

    async def browser_flow(self, browser: httpx.AsyncClient, **params: str) -> dict[str, Any]:
        """Init like a link click (303 to the settings UI), then read the flow as the UI would."""
        response = await browser.get("/self-service/settings/browser", params=params)
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith(f"{SETTINGS_UI}?flow=")
        fetched = await self.fetch(flow_id_of(response), None, browser)
        assert fetched.status_code == 200, fetched.text
        return fetched.json()

    async def post_form(self, browser: httpx.AsyncClient, flow: dict[str, Any], form: dict[str, str], **headers: str) -> httpx.Response:
        data = {"csrf_token": csrf_of(flow), **form}
        return await browser.post("/self-service/settings", params={"flow": flow["id"]}, data=data, headers={**FORM, **headers})


def flow_id_of(response: httpx.Response) -> str:
    return parse_qs(urlsplit(response.headers["location"]).query)["flow"][0]


def csrf_of(flow: dict[str, Any]) -> str:
    return next(n["attributes"]["value"] for n in flow["ui"]["nodes"] if n["attributes"]["name"] == "csrf_token")


def node(flow: dict[str, Any], name: str, value: Any = None) -> dict[str, Any]:
    return next(
        n for n in flow["ui"]["nodes"] if n["attributes"].get("name") == name and (value is None or n["attributes"].get("value") == value)
    )


def message_ids(flow: dict[str, Any]) -> list[int]:
    return [m["id"] for m in flow["ui"].get("messages", [])]


def set_cookie_names(response: httpx.Response) -> set[str]:
    return {h.split("=", 1)[0] for h in response.headers.get_list("set-cookie")}


async def started(tmp_path: Path, plugins: list[object] = (), **selfservice: Any) -> Kratos:
    cfg = base_config(tmp_path, selfservice=_merge(SELFSERVICE, selfservice))
    app = make_app(tmp_path, cfg, plugins=[password_plugin, *plugins])
    await app.start(migrate=True)
    return Kratos(app)


@pytest.fixture
async def kc(tmp_path: Path) -> AsyncIterator[Kratos]:
    k = await started(tmp_path)
    yield k
    await k.close()


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[Kratos] = []

    async def build(plugins: list[object] = (), **selfservice: Any) -> Kratos:
        made.append(await started(tmp_path, plugins, **selfservice))
        return made[-1]

    yield build
    for k in made:
        await k.close()


# -- init ------------------------------------------------------------------------------------


async def test_api_flow_shape_nodes_and_order(kc: Kratos) -> None:
    identity = await kc.create_identity(name={"first": "Jane"})
    flow = await kc.api_flow(await kc.token())
    assert flow["type"] == "api" and flow["state"] == "show_form" and flow["organization_id"] is None
    assert {"return_to", "active", "continue_with", "created_at"}.isdisjoint(flow) and "messages" not in flow["ui"]
    issued = dt.datetime.fromisoformat(flow["issued_at"].replace("Z", "+00:00"))
    assert dt.datetime.fromisoformat(flow["expires_at"].replace("Z", "+00:00")) - issued == dt.timedelta(hours=1)
    assert flow["ui"]["action"] == f"{PUBLIC}/self-service/settings?flow={flow['id']}" and flow["ui"]["method"] == "POST"
    assert flow["request_url"] == f"{PUBLIC}/self-service/settings/api"
    # The session's identity, without credentials or admin metadata.
    assert flow["identity"]["id"] == identity["id"] and flow["identity"]["traits"] == identity["traits"]
    assert "credentials" not in flow["identity"] and "metadata_admin" not in flow["identity"]
    got = [(n["group"], n["attributes"]["name"], n["attributes"].get("value")) for n in flow["ui"]["nodes"]]
    assert got == [
        ("password", "password", None),
        ("password", "method", "password"),
        ("profile", "traits.email", EMAIL),
        ("profile", "traits.name.first", "Jane"),
        ("profile", "traits.name.last", None),
        ("profile", "method", "profile"),
    ]
    assert node(flow, "password")["attributes"]["autocomplete"] == "new-password"
    assert node(flow, "password")["meta"]["label"]["id"] == 1070001
    assert node(flow, "method", "password")["meta"]["label"]["id"] == 1070003
    assert node(flow, "method", "profile")["meta"]["label"] == {"id": 1070003, "text": "Save", "type": "info"}
    assert node(flow, "traits.email")["meta"]["label"]["id"] == 1070002


async def test_init_needs_a_session(kc: Kratos) -> None:
    api = await kc.api.get("/self-service/settings/api")
    assert api.status_code == 401
    assert api.json()["error"]["id"] == "session_inactive"
    assert api.json()["error"]["reason"] == "This endpoint can only be accessed with a valid session. Please log in and try again."
    spa = await kc.browser().get("/self-service/settings/browser", headers=JSON)
    assert spa.status_code == 401 and spa.json()["error"]["id"] == "session_inactive"
    page = await kc.browser().get("/self-service/settings/browser", params={"return_to": f"{UI}/profile"})
    assert page.status_code == 303
    assert page.headers["location"] == f"{PUBLIC}/self-service/login/browser?" + urlencode({"return_to": f"{UI}/profile"})
    bare = await kc.browser().get("/self-service/settings/browser")
    assert bare.headers["location"] == f"{PUBLIC}/self-service/login/browser"


async def test_init_refuses_a_forbidden_return_to(kc: Kratos) -> None:
    await kc.create_identity()
    token = await kc.token()
    response = await kc.api.get("/self-service/settings/api", params={"return_to": "https://evil.example/"}, headers={"X-Session-Token": token})
    assert response.status_code == 400 and response.json()["error"]["id"] == "self_service_flow_return_to_forbidden"


# -- fetch -----------------------------------------------------------------------------------


async def test_fetch_checks_session_owner_and_expiry(kc: Kratos) -> None:
    await kc.create_identity()
    await kc.create_identity("john@example.org")
    jane, john = await kc.token(), await kc.token("john@example.org")
    flow = await kc.api_flow(jane)
    assert (await kc.fetch(flow["id"], jane)).json()["id"] == flow["id"]

    anonymous = await kc.fetch(flow["id"], None, **JSON)
    assert anonymous.status_code == 401 and "id" not in anonymous.json()["error"]
    assert anonymous.json()["error"]["reason"] == "A valid Ory Session Cookie or Ory Session Token is missing."
    page = await kc.fetch(flow["id"], None)
    assert page.status_code == 302 and page.headers["location"] == LOGIN_UI

    other = await kc.fetch(flow["id"], john)
    assert other.status_code == 403 and other.json()["error"]["id"] == "security_identity_mismatch"
    assert "ui" not in other.json()
    assert (await kc.fetch(str(uuid.uuid4()), jane)).status_code == 404
    assert (await kc.fetch("not-a-uuid", jane)).status_code == 404

    await kc.expire(flow["id"])
    gone = await kc.fetch(flow["id"], jane)
    assert gone.status_code == 410
    error = gone.json()["error"]
    assert error["id"] == "self_service_flow_expired" and error["details"]["api"] == f"{PUBLIC}/self-service/settings/api"


# -- profile ---------------------------------------------------------------------------------


async def test_profile_update_succeeds_and_rebuilds_the_form(kc: Kratos) -> None:
    identity = await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    traits = {"email": EMAIL, "name": {"first": "Jane", "last": "Doe"}}
    response = await kc.submit(flow["id"], {"method": "profile", "traits": traits}, token)
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["id"] == flow["id"] and done["state"] == "success" and done["active"] == "profile"
    assert done["ui"]["messages"] == [{"id": 1050001, "text": "Your changes have been saved!", "type": "success"}]
    assert done["identity"]["traits"] == traits and "continue_with" not in done
    assert node(done, "traits.name.last")["attributes"]["value"] == "Doe"
    assert all(n["messages"] == [] for n in done["ui"]["nodes"])
    assert (await kc.stored(identity["id"]))["traits"] == traits
    # The flow as stored says the same.
    assert (await kc.fetch(flow["id"], token)).json()["state"] == "success"


async def test_profile_without_traits_is_refused_on_the_flow(kc: Kratos) -> None:
    await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    for body in ({"method": "profile", "traits": {}}, {"method": "profile"}):
        response = await kc.submit(flow["id"], body, token)
        assert response.status_code == 400
        shown = response.json()
        assert shown["ui"]["messages"] == [
            {"id": 4000001, "text": "Did not receive any value changes.", "type": "error", "context": {"reason": "Did not receive any value changes."}}
        ]
        assert shown["state"] == "show_form"


async def test_invalid_traits_show_on_their_nodes_and_nothing_is_stored(kc: Kratos) -> None:
    identity = await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    body = {"method": "profile", "traits": {"email": "not-an-email", "name": {"first": "X"}}}
    response = await kc.submit(flow["id"], body, token)
    assert response.status_code == 400
    shown = response.json()
    email = node(shown, "traits.email")
    assert [m["id"] for m in email["messages"]] == [4000040]
    assert email["attributes"]["value"] == "not-an-email"  # the submitted value is shown again
    assert node(shown, "traits.name.first")["attributes"]["value"] == "X"
    assert shown["identity"]["traits"] == {"email": EMAIL}  # the stored identity
    missing = await kc.submit(flow["id"], {"method": "profile", "traits": {"name": {"first": "X"}}}, token)
    assert [m["id"] for m in node(missing.json(), "traits.email")["messages"]] == [4000002]
    wrong_type = await kc.submit(flow["id"], {"method": "profile", "traits": "jane"}, token)
    assert wrong_type.status_code == 400
    assert (await kc.stored(identity["id"]))["traits"] == {"email": EMAIL}


async def test_changing_the_email_makes_a_new_pending_address_and_identifier(kc: Kratos) -> None:
    identity = await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    response = await kc.submit(flow["id"], {"method": "profile", "traits": {"email": "Jane.New@Example.org"}}, token)
    assert response.status_code == 200, response.text
    stored = await kc.stored(identity["id"])
    assert [(a["value"], a["status"], a["verified"]) for a in stored["verifiable_addresses"]] == [("jane.new@example.org", "pending", False)]
    assert [a["value"] for a in stored["recovery_addresses"]] == ["jane.new@example.org"]
    assert (await kc.login("jane.new@example.org")).status_code == 200
    assert (await kc.login(EMAIL)).status_code == 400


async def test_a_taken_email_is_shown_on_the_flow(kc: Kratos) -> None:
    await kc.create_identity()
    await kc.create_identity("john@example.org")
    token = await kc.token()
    flow = await kc.api_flow(token)
    response = await kc.submit(flow["id"], {"method": "profile", "traits": {"email": "john@example.org"}}, token)
    assert response.status_code == 400 and message_ids(response.json()) == [4000007]


async def test_protected_changes_need_a_privileged_session(make: Any) -> None:
    kc = await make(flows={"settings": {"privileged_session_max_age": "1ms"}})
    identity = await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    await asyncio.sleep(0.01)  # the session is older than 1 ms on any machine
    # Traits that are neither identifiers nor addresses may change with an old session.
    named = await kc.submit(flow["id"], {"method": "profile", "traits": {"email": EMAIL, "name": {"first": "J"}}}, token)
    assert named.status_code == 200, named.text
    refused = await kc.submit(flow["id"], {"method": "profile", "traits": {"email": "other@example.org"}}, token)
    assert refused.status_code == 403
    body = refused.json()
    assert body["error"]["id"] == "session_refresh_required" and body["error"]["code"] == 403
    back = f"{PUBLIC}/self-service/settings?flow={flow['id']}"
    assert body["redirect_browser_to"] == f"{PUBLIC}/self-service/login/browser?" + urlencode({"refresh": "true", "return_to": back})
    password = await kc.submit(flow["id"], {"method": "password", "password": NEW_PASSWORD}, token)
    assert password.status_code == 403 and password.json()["error"]["id"] == "session_refresh_required"
    stored = await kc.stored(identity["id"])
    assert stored["traits"] == {"email": EMAIL, "name": {"first": "J"}}
    assert (await kc.login(EMAIL, PASSWORD)).status_code == 200


def test_protected_data_covers_credentials_and_addresses() -> None:
    from kratos_core.identity.model import Credential, Identity, RecoveryAddress, utcnow

    now = utcnow()
    cred = Credential(id=uuid.uuid4(), type="password", identifiers=["a@x.org"], config={"hashed_password": "h"}, created_at=now, updated_at=now)
    before = Identity(id=uuid.uuid4(), schema_id="default", traits={}, created_at=now, updated_at=now, credentials={"password": cred})
    same = Identity(**{f: getattr(before, f) for f in before.__struct_fields__})
    assert not protected_data_changed(before, same)
    import copy

    changed = copy.deepcopy(before)
    changed.credentials["password"].config = {"hashed_password": "other"}
    assert protected_data_changed(before, changed)
    added = copy.deepcopy(before)
    added.recovery_addresses = [RecoveryAddress(id=uuid.uuid4(), value="a@x.org", via="email", created_at=now, updated_at=now)]
    assert protected_data_changed(before, added)


# -- password --------------------------------------------------------------------------------


async def test_password_change_logs_in_with_the_new_password_only(kc: Kratos) -> None:
    identity = await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    response = await kc.submit(flow["id"], {"method": "password", "password": NEW_PASSWORD}, token)
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["state"] == "success" and done["active"] == "password" and message_ids(done) == [1050001]
    assert "value" not in node(done, "password")["attributes"]
    assert (await kc.login(EMAIL, NEW_PASSWORD)).status_code == 200
    old = await kc.login(EMAIL, PASSWORD)
    assert old.status_code == 400 and message_ids(old.json()) == [4000006]
    # The session that changed it stays valid (no revoke_active_sessions configured).
    assert (await kc.api.get("/sessions/whoami", headers={"X-Session-Token": token})).status_code == 200
    assert (await kc.stored(identity["id"]))["traits"] == {"email": EMAIL}


async def test_password_validation_messages(kc: Kratos) -> None:
    await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)

    async def password_messages(body: dict[str, Any]) -> list[int]:
        response = await kc.submit(flow["id"], {"method": "password", **body}, token)
        assert response.status_code == 400, response.text
        shown = response.json()
        assert shown["state"] == "show_form" and "value" not in node(shown, "password")["attributes"]
        return [m["id"] for m in node(shown, "password")["messages"]]

    assert await password_messages({}) == [4000002]
    assert await password_messages({"password": ""}) == [4000002]
    assert await password_messages({"password": PASSWORD}) == [4000039]
    assert await password_messages({"password": "short"}) == [4000032]
    assert await password_messages({"password": "jane@example.org1"}) == [4000031]
    assert (await kc.login(EMAIL, PASSWORD)).status_code == 200


async def test_revoke_active_sessions_after_a_password_change(make: Any) -> None:
    kc = await make(flows={"settings": {"after": {"password": {"hooks": [{"hook": "revoke_active_sessions"}]}}}})
    await kc.create_identity()
    other, token = await kc.token(), await kc.token()
    flow = await kc.api_flow(token)
    assert (await kc.submit(flow["id"], {"method": "password", "password": NEW_PASSWORD}, token)).status_code == 200
    assert (await kc.api.get("/sessions/whoami", headers={"X-Session-Token": token})).status_code == 200
    assert (await kc.api.get("/sessions/whoami", headers={"X-Session-Token": other})).status_code == 401
    # A profile change runs the profile list (empty), so nothing is revoked.
    third = await kc.token(password=NEW_PASSWORD)
    flow = await kc.api_flow(token)
    assert (await kc.submit(flow["id"], {"method": "profile", "traits": {"email": EMAIL}}, token)).status_code == 200
    assert (await kc.api.get("/sessions/whoami", headers={"X-Session-Token": third})).status_code == 200


# -- the submit pipeline ---------------------------------------------------------------------


async def test_unknown_or_missing_method(kc: Kratos) -> None:
    await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    for body in ({"method": "totp", "totp_code": "123456"}, {"password": NEW_PASSWORD}, {}):
        response = await kc.submit(flow["id"], body, token)
        assert response.status_code == 400 and message_ids(response.json()) == [4010004]


async def test_a_disabled_method_answers_404(make: Any) -> None:
    kc = await make(methods={"profile": {"enabled": False}})
    await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    assert [n["group"] for n in flow["ui"]["nodes"]] == ["password", "password"]
    response = await kc.submit(flow["id"], {"method": "profile", "traits": {"email": EMAIL}}, token)
    assert response.status_code == 404


async def test_submit_needs_the_owners_session(kc: Kratos) -> None:
    identity = await kc.create_identity()
    await kc.create_identity("john@example.org")
    jane, john = await kc.token(), await kc.token("john@example.org")
    flow = await kc.api_flow(jane)
    body = {"method": "profile", "traits": {"email": EMAIL, "name": {"first": "Mallory"}}}
    stolen = await kc.submit(flow["id"], body, john)
    assert stolen.status_code == 403 and stolen.json()["error"]["id"] == "security_identity_mismatch"
    anonymous = await kc.submit(flow["id"], body, None)
    assert anonymous.status_code == 401 and "id" not in anonymous.json()["error"]
    await kc.api.delete("/sessions", headers={"X-Session-Token": jane})  # revokes the others only
    await kc.app.sessions.revoke_token(jane)
    revoked = await kc.submit(flow["id"], body, jane)
    assert revoked.status_code == 401
    assert (await kc.stored(identity["id"]))["traits"] == {"email": EMAIL}
    malformed = await kc.api.post("/self-service/settings", params={"flow": "nope"}, json=body, headers={"X-Session-Token": john})
    assert malformed.status_code == 400
    unknown = await kc.submit(str(uuid.uuid4()), body, john)
    assert unknown.status_code == 404


async def test_api_flows_refuse_browser_requests(kc: Kratos) -> None:
    await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    body = {"method": "profile", "traits": {"email": EMAIL}}
    response = await kc.submit(flow["id"], body, token, Origin=UI)
    assert response.status_code == 400 and message_ids(response.json()) == [4000001]


async def test_expired_submit_answers_410_with_a_replacement(kc: Kratos) -> None:
    await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    await kc.expire(flow["id"])
    response = await kc.submit(flow["id"], {"method": "profile", "traits": {"email": EMAIL}}, token)
    assert response.status_code == 410
    body = response.json()
    assert body["error"]["id"] == "self_service_flow_expired" and body["since"] > 0
    fresh = (await kc.fetch(body["use_flow_id"], token)).json()
    assert fresh["type"] == "api" and fresh["state"] == "show_form" and message_ids(fresh) == [4050001]
    assert fresh["ui"]["messages"][0]["context"]["expired_at"]


async def test_a_failed_submit_after_success_keeps_success(kc: Kratos) -> None:
    await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    assert (await kc.submit(flow["id"], {"method": "password", "password": NEW_PASSWORD}, token)).status_code == 200
    again = await kc.submit(flow["id"], {"method": "password", "password": NEW_PASSWORD}, token)
    assert again.status_code == 400
    shown = again.json()
    assert shown["state"] == "success" and message_ids(shown) == []
    assert [m["id"] for m in node(shown, "password")["messages"]] == [4000039]
    # And a later success on the same flow works too.
    later = await kc.submit(flow["id"], {"method": "profile", "traits": {"email": EMAIL, "name": {"last": "D"}}}, token)
    assert later.status_code == 200 and message_ids(later.json()) == [1050001]


# -- AAL ---------------------------------------------------------------------------------------


class FakeTotp:
    """A second factor that only exists as an imported credential (enough for the AAL rule)."""

    id = "totp"
    credential_type = "totp"
    config_model = None
    aal = "aal2"

    def configure(self, config: Any, app_config: Any) -> None:
        del config, app_config

    def second_factor(self, credential: Any) -> bool:
        return bool(credential.config.get("totp_url"))

    async def import_credentials(self, identity: Any, raw: dict[str, Any]) -> dict[str, Any]:
        del identity
        return dict(raw["config"])


class FakeTotpPlugin:
    @hookimpl
    def kratos_register_methods(self, register: Any) -> None:
        register(FakeTotp())


async def test_highest_available_aal_needs_the_second_factor(make: Any) -> None:
    kc = await make([FakeTotpPlugin()], methods={"totp": {"enabled": True}})
    body = {
        "schema_id": "default",
        "traits": {"email": EMAIL},
        "credentials": {"password": {"config": {"password": PASSWORD}}, "totp": {"config": {"totp_url": "otpauth://totp/x"}}},
    }
    assert (await kc.admin.post("/admin/identities", json=body)).status_code == 201
    token = await kc.token()
    api = await kc.api.get("/self-service/settings/api", headers={"X-Session-Token": token})
    assert api.status_code == 403 and api.json()["error"]["id"] == "session_aal2_required"
    assert api.json()["redirect_browser_to"] == f"{PUBLIC}/self-service/login/browser?aal=aal2"

    browser = kc.browser()
    await kc.browser_login(browser)
    page = await browser.get("/self-service/settings/browser")
    assert page.status_code == 303 and page.headers["location"] == f"{PUBLIC}/self-service/login/browser?aal=aal2"
    with_return = await browser.get("/self-service/settings/browser", params={"return_to": f"{UI}/x"})
    target = parse_qs(urlsplit(with_return.headers["location"]).query)
    assert target["aal"] == ["aal2"] and target["return_to"][0].startswith(f"{PUBLIC}/self-service/settings/browser?return_to=")
    spa = await browser.get("/self-service/settings/browser", headers=JSON)
    assert spa.status_code == 403 and spa.json()["error"]["id"] == "session_aal2_required"


async def test_required_aal1_lets_aal1_sessions_in(make: Any) -> None:
    kc = await make([FakeTotpPlugin()], methods={"totp": {"enabled": True}}, flows={"settings": {"required_aal": "aal1"}})
    body = {
        "schema_id": "default",
        "traits": {"email": EMAIL},
        "credentials": {"password": {"config": {"password": PASSWORD}}, "totp": {"config": {"totp_url": "otpauth://totp/x"}}},
    }
    assert (await kc.admin.post("/admin/identities", json=body)).status_code == 201
    flow = await kc.api_flow(await kc.token())
    assert flow["state"] == "show_form"


# -- browser flows ---------------------------------------------------------------------------


async def test_browser_form_post_updates_and_redirects_to_the_settings_ui(kc: Kratos) -> None:
    identity = await kc.create_identity()
    browser = kc.browser()
    await kc.browser_login(browser)
    flow = await kc.browser_flow(browser)
    assert flow["type"] == "browser" and flow["ui"]["nodes"][0]["attributes"]["name"] == "csrf_token"
    response = await kc.post_form(browser, flow, {"method": "profile", "traits.email": EMAIL, "traits.name.first": "Jane"})
    assert response.status_code == 303
    assert response.headers["location"] == f"{SETTINGS_UI}?flow={flow['id']}"
    assert "ory_kratos_session" in set_cookie_names(response)  # the cookie is re-issued
    assert (await kc.stored(identity["id"]))["traits"] == {"email": EMAIL, "name": {"first": "Jane"}}
    shown = (await kc.fetch(flow["id"], None, browser)).json()
    assert shown["state"] == "success" and message_ids(shown) == [1050001]
    # The form's csrf token still works for the next change.
    again = await kc.post_form(browser, shown, {"method": "password", "password": NEW_PASSWORD})
    assert again.status_code == 303
    assert (await kc.login(EMAIL, NEW_PASSWORD)).status_code == 200


async def test_browser_json_success_carries_continue_with(kc: Kratos) -> None:
    await kc.create_identity()
    browser = kc.browser()
    await kc.browser_login(browser)
    flow = await kc.browser_flow(browser)
    body = {"csrf_token": csrf_of(flow), "method": "profile", "traits": {"email": EMAIL}}
    response = await browser.post("/self-service/settings", params={"flow": flow["id"]}, json=body, headers=JSON)
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["state"] == "success"
    assert done["continue_with"] == [{"action": "redirect_browser_to", "redirect_browser_to": f"{SETTINGS_UI}?flow={flow['id']}"}]
    assert "ory_kratos_session" in set_cookie_names(response)


async def test_browser_return_urls(make: Any) -> None:
    after = {
        "default_browser_return_url": f"{UI}/after",
        "password": {"default_browser_return_url": f"{UI}/after-password"},
    }
    kc = await make(flows={"settings": {"after": after}})
    await kc.create_identity()
    browser = kc.browser()
    await kc.browser_login(browser)
    flow = await kc.browser_flow(browser)
    profile = await kc.post_form(browser, flow, {"method": "profile", "traits.email": EMAIL})
    assert profile.headers["location"] == f"{UI}/after"
    flow = await kc.browser_flow(browser)
    password = await kc.post_form(browser, flow, {"method": "password", "password": NEW_PASSWORD})
    assert password.headers["location"] == f"{UI}/after-password"
    flow = await kc.browser_flow(browser, return_to=f"{UI}/back-to-app")
    assert flow["return_to"] == f"{UI}/back-to-app"
    chosen = await kc.post_form(browser, flow, {"method": "profile", "traits.email": EMAIL})
    assert chosen.headers["location"] == f"{UI}/back-to-app"


async def test_browser_csrf_is_checked(kc: Kratos) -> None:
    identity = await kc.create_identity()
    browser = kc.browser()
    await kc.browser_login(browser)
    flow = await kc.browser_flow(browser)
    body = {"method": "profile", "traits": {"email": EMAIL, "name": {"first": "Evil"}}}
    spa = await browser.post("/self-service/settings", params={"flow": flow["id"]}, json=body, headers=JSON)
    assert spa.status_code == 403 and spa.json()["error"]["id"] == "security_csrf_violation"
    page = await browser.post("/self-service/settings", params={"flow": flow["id"]}, data={"method": "profile", "traits.email": EMAIL}, headers=FORM)
    assert page.status_code == 303 and page.headers["location"].startswith(f"{UI}/error?id=")
    assert (await kc.stored(identity["id"]))["traits"] == {"email": EMAIL}


async def test_browser_without_a_session(kc: Kratos) -> None:
    await kc.create_identity()
    browser = kc.browser()
    await kc.browser_login(browser)
    flow = await kc.browser_flow(browser)
    stranger = kc.browser()
    page = await stranger.post("/self-service/settings", params={"flow": flow["id"]}, data={"method": "profile"}, headers=FORM)
    assert page.status_code == 302 and page.headers["location"] == LOGIN_UI
    spa = await stranger.post("/self-service/settings", params={"flow": flow["id"]}, json={"method": "profile"}, headers=JSON)
    assert spa.status_code == 401 and "id" not in spa.json()["error"]


async def test_browser_refresh_and_resume(make: Any) -> None:
    kc = await make(flows={"settings": {"privileged_session_max_age": "1ms"}})
    identity = await kc.create_identity()
    browser = kc.browser()
    await kc.browser_login(browser)
    flow = await kc.browser_flow(browser)
    await asyncio.sleep(0.01)  # the session is older than 1 ms on any machine
    page = await kc.post_form(browser, flow, {"method": "password", "password": NEW_PASSWORD})
    assert page.status_code == 303
    back = f"{PUBLIC}/self-service/settings?flow={flow['id']}"
    assert page.headers["location"] == f"{PUBLIC}/self-service/login/browser?" + urlencode({"refresh": "true", "return_to": back})
    spa = await kc.post_form(browser, flow, {"method": "password", "password": NEW_PASSWORD}, Accept="application/json")
    assert spa.status_code == 403 and spa.json()["redirect_browser_to"] == page.headers["location"]
    # After the refresh login the browser comes back to the submit URL and is shown the flow.
    resumed = await browser.get("/self-service/settings", params={"flow": flow["id"]})
    assert resumed.status_code == 303 and resumed.headers["location"] == f"{SETTINGS_UI}?flow={flow['id']}"
    assert (await kc.stored(identity["id"]))["traits"] == {"email": EMAIL}


async def test_browser_expired_flow_moves_to_a_new_one(kc: Kratos) -> None:
    await kc.create_identity()
    browser = kc.browser()
    await kc.browser_login(browser)
    flow = await kc.browser_flow(browser, return_to=f"{UI}/x")
    await kc.expire(flow["id"])
    fetched = await kc.fetch(flow["id"], None, browser)
    assert fetched.status_code == 410
    details = fetched.json()["error"]["details"]
    assert details["redirect_to"] == f"{PUBLIC}/self-service/settings/browser?" + urlencode({"return_to": f"{UI}/x"})
    response = await kc.post_form(browser, flow, {"method": "profile", "traits.email": EMAIL})
    assert response.status_code == 303
    new_id = flow_id_of(response)
    assert new_id != flow["id"] and response.headers["location"].startswith(SETTINGS_UI)
    fresh = (await kc.fetch(new_id, None, browser)).json()
    assert message_ids(fresh) == [4050001] and fresh["return_to"] == f"{UI}/x"


async def test_fetch_of_a_browser_flow_needs_no_csrf_cookie(kc: Kratos) -> None:
    await kc.create_identity()
    browser = kc.browser()
    await kc.browser_login(browser)
    flow = await kc.browser_flow(browser)
    session_only = kc.browser()
    session_only.cookies.set("ory_kratos_session", browser.cookies["ory_kratos_session"])
    assert (await kc.fetch(flow["id"], None, session_only)).status_code == 200


# -- hooks and actions -----------------------------------------------------------------------


class SettingsHooks:
    """Records the settings hooks and can veto the pre-persist stage."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.veto: Exception | None = None
        self.veto_before: Exception | None = None

    @hookimpl
    def kratos_settings_before(self, flow: Any, request: Any, identity: Any, session: Any) -> None:
        self.calls.append(("before", {"flow": flow, "identity": identity, "session": session}))
        if self.veto_before is not None:
            raise self.veto_before

    @hookimpl
    async def kratos_settings_pre_persist(self, flow: Any, identity: Any, session: Any, method: str) -> None:
        self.calls.append(("pre_persist", {"traits": dict(identity.traits), "method": method, "state": flow.state}))
        if self.veto is not None:
            raise self.veto

    @hookimpl
    def kratos_settings_post_persist(self, flow: Any, identity: Any, session: Any, method: str) -> None:
        self.calls.append(("post_persist", {"traits": dict(identity.traits), "method": method, "state": flow.state}))
        raise RuntimeError("observers are contained")

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


async def test_settings_hooks_fire_in_order_and_follow_their_error_policy(make: Any) -> None:
    hooks = SettingsHooks()
    kc = await make([hooks])
    identity = await kc.create_identity()
    token = await kc.token()
    flow = await kc.api_flow(token)
    assert hooks.names() == ["before"] and str(hooks.calls[0][1]["identity"].id) == identity["id"]
    traits = {"email": EMAIL, "name": {"first": "Hooked"}}
    response = await kc.submit(flow["id"], {"method": "profile", "traits": traits}, token)
    assert response.status_code == 200  # the post-persist error is contained
    assert hooks.names() == ["before", "pre_persist", "post_persist"]
    assert hooks.calls[1][1] == {"traits": traits, "method": "profile", "state": "show_form"}
    assert hooks.calls[2][1]["state"] == "success"

    # Pre-persist fails closed: its messages are shown and nothing is stored.
    hooks.veto = FlowValidationError.on_field("traits.name.first", messages.validation_generic("no"))
    vetoed = await kc.submit(flow["id"], {"method": "profile", "traits": {"email": EMAIL, "name": {"first": "No"}}}, token)
    assert vetoed.status_code == 400 and [m["id"] for m in node(vetoed.json(), "traits.name.first")["messages"]] == [4000001]
    hooks.veto = BadRequest("Not today.")
    vetoed = await kc.submit(flow["id"], {"method": "password", "password": NEW_PASSWORD}, token)
    assert vetoed.status_code == 400 and vetoed.json()["ui"]["messages"][0]["text"] == "Not today."
    assert (await kc.stored(identity["id"]))["traits"] == traits
    assert (await kc.login(EMAIL, PASSWORD)).status_code == 200

    # Before: validation messages are shown on the stored flow (400), other errors abort.
    hooks.veto_before = FlowValidationError.on_flow(messages.validation_generic("Please read this."))
    shown = await kc.api.get("/self-service/settings/api", headers={"X-Session-Token": token})
    assert shown.status_code == 400 and message_ids(shown.json()) == [4000001]
    assert (await kc.fetch(shown.json()["id"], token)).status_code == 200
    hooks.veto_before = BadRequest("closed")
    refused = await kc.api.get("/self-service/settings/api", headers={"X-Session-Token": token})
    assert refused.status_code == 400 and refused.json()["error"]["reason"] == "closed"


class ContinueAction:
    """An ``after`` action standing in for ``show_verification_ui``: it adds to continue_with."""

    id = "test_continue"
    config_model = None
    stages = frozenset({SETTINGS_AFTER})

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def execute(self, ctx: Any, config: Any) -> None:
        del config
        self.seen.append((ctx.method, ctx.flow.state))
        pending = [a.value for a in ctx.identity.verifiable_addresses if a.status == "pending"]
        item = {"id": str(uuid.uuid4()), "verifiable_address": pending[0]}
        ctx.continue_with.append({"action": "show_verification_ui", "flow": item})


class ContinuePlugin:
    def __init__(self) -> None:
        self.action = ContinueAction()

    @hookimpl
    def kratos_register_flow_actions(self, register: Any) -> None:
        register(self.action)


async def test_after_actions_run_per_method_and_add_continue_with(make: Any) -> None:
    plugin = ContinuePlugin()
    after = {"hooks": [{"hook": "revoke_active_sessions"}], "profile": {"hooks": [{"hook": "test_continue"}]}}
    kc = await make([plugin], flows={"settings": {"after": after}})
    await kc.create_identity()
    other, token = await kc.token(), await kc.token()
    flow = await kc.api_flow(token)
    response = await kc.submit(flow["id"], {"method": "profile", "traits": {"email": "new@example.org"}}, token)
    assert response.status_code == 200, response.text
    assert plugin.action.seen == [("profile", "success")]
    item = response.json()["continue_with"][0]
    assert item["action"] == "show_verification_ui" and item["flow"]["verifiable_address"] == "new@example.org"
    # The profile list replaced the global one: the other session lives on.
    assert (await kc.api.get("/sessions/whoami", headers={"X-Session-Token": other})).status_code == 200
    # The password has no list of its own, so the global list applies.
    assert (await kc.submit(flow["id"], {"method": "password", "password": NEW_PASSWORD}, token)).status_code == 200
    assert (await kc.api.get("/sessions/whoami", headers={"X-Session-Token": other})).status_code == 401
    assert plugin.action.seen == [("profile", "success")]


# -- the hand-over from other flows ------------------------------------------------------------


class HandOver:
    """A route standing in for recovery: it hands the caller's session over to settings."""

    @hookimpl
    def kratos_register_routes(self, register: Any) -> None:
        @get("/test/hand-over")
        async def hand_over(request: Request) -> dict[str, Any]:
            app = request.app.state["kratos"]
            session = await app.sessions.authenticate(request)
            flow = await create_settings_flow(
                app,
                session=session,
                identity=session.identity,
                request=request,
                flow_type="api",
                messages=[messages.recovery_successful(session.authenticated_at + dt.timedelta(minutes=15))],
            )
            return {"id": str(flow.id)}

        register(hand_over)


async def test_create_settings_flow_for_other_flows(make: Any) -> None:
    kc = await make([HandOver()])
    await kc.create_identity()
    token = await kc.token()
    handed = await kc.api.get("/test/hand-over", headers={"X-Session-Token": token})
    assert handed.status_code == 200, handed.text
    flow = (await kc.fetch(handed.json()["id"], token)).json()
    assert flow["state"] == "show_form" and message_ids(flow) == [1060001]
    assert flow["ui"]["messages"][0]["type"] == "success"
    assert node(flow, "traits.email")["attributes"]["value"] == EMAIL
    response = await kc.submit(flow["id"], {"method": "password", "password": NEW_PASSWORD}, token)
    assert response.status_code == 200 and message_ids(response.json()) == [1050001]


# -- storage engines -------------------------------------------------------------------------


async def test_password_and_profile_change_on_each_database(tmp_path: Path, any_dsn: str) -> None:
    cfg = base_config(tmp_path, any_dsn, selfservice=SELFSERVICE)
    app = make_app(tmp_path, cfg, plugins=[password_plugin])
    await app.start(migrate=True)
    kc = Kratos(app)
    try:
        identity = await kc.create_identity()
        token = await kc.token()
        flow = await kc.api_flow(token)
        assert (await kc.submit(flow["id"], {"method": "profile", "traits": {"email": "moved@example.org"}}, token)).status_code == 200
        assert (await kc.submit(flow["id"], {"method": "password", "password": NEW_PASSWORD}, token)).status_code == 200
        assert (await kc.stored(identity["id"]))["traits"] == {"email": "moved@example.org"}
        assert (await kc.login("moved@example.org", NEW_PASSWORD)).status_code == 200
    finally:
        await kc.close()
