"""Login flows through HTTP with the password plugin: API flows, the error matrix, hashes, hooks."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from argon2.low_level import Type, hash_secret

import kratos_password.plugin as password_plugin
from kratos_core import hookimpl
from kratos_core.app import KratosApp
from kratos_core.errors import Forbidden
from kratos_core.flows.errors import FlowValidationError
from kratos_core.ui import messages
from tests.conftest import _merge, base_config, make_app

PASSWORD = "correct horse battery staple"

PASSWORD_ON = {
    "selfservice": {
        "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
        "flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}},
    }
}


def password_config(tmp_path: Path, dsn: str = "memory", **sections: Any) -> dict[str, Any]:
    return base_config(tmp_path, dsn, **_merge(PASSWORD_ON, sections))


class Clients:
    """A started app with clients for both APIs."""

    def __init__(self, app: KratosApp) -> None:
        self.app = app
        self.public = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433")
        self.admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://127.0.0.1:4434")

    async def close(self) -> None:
        await self.public.aclose()
        await self.admin.aclose()

    async def create_identity(self, email: str, *, state: str = "active", **credentials: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"schema_id": "default", "traits": {"email": email}, "state": state}
        body["credentials"] = {"password": {"config": credentials or {"password": PASSWORD}}}
        response = await self.admin.post("/admin/identities", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    async def api_flow(self, **params: str) -> dict[str, Any]:
        response = await self.public.get("/self-service/login/api", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def submit(self, flow_id: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return await self.public.post("/self-service/login", params={"flow": flow_id}, json=body, **kwargs)

    async def login(self, identifier: str, password: str = PASSWORD, **kwargs: Any) -> httpx.Response:
        flow = await self.api_flow()
        return await self.submit(flow["id"], {"method": "password", "identifier": identifier, "password": password}, **kwargs)

    async def stored_hash(self, identity_id: str) -> str:
        response = await self.admin.get(f"/admin/identities/{identity_id}", params={"include_credential": "password"})
        return response.json()["credentials"]["password"]["config"]["hashed_password"]


async def started(tmp_path: Path, cfg: dict[str, Any], plugins: list[object] = ()) -> Clients:
    app = make_app(tmp_path, cfg, plugins=[password_plugin, *plugins])
    await app.start(migrate=True)
    return Clients(app)


@pytest.fixture
async def kc(tmp_path: Path) -> AsyncIterator[Clients]:
    clients = await started(tmp_path, password_config(tmp_path))
    yield clients
    await clients.close()
    await clients.app.stop()


def message_ids(flow: dict[str, Any]) -> list[int]:
    return [m["id"] for m in flow["ui"].get("messages", [])]


def node(flow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in flow["ui"]["nodes"] if n["attributes"].get("name") == name)


# -- init ------------------------------------------------------------------------------------


async def test_api_flow_has_kratos_shape(kc: Clients) -> None:
    flow = await kc.api_flow()
    assert flow["type"] == "api" and flow["state"] == "choose_method"
    assert flow["refresh"] is False and flow["requested_aal"] == "aal1" and flow["organization_id"] is None
    assert {"created_at", "updated_at", "issued_at", "expires_at", "request_url"} <= set(flow)
    assert "return_to" not in flow and "active" not in flow and "messages" not in flow["ui"]
    issued = dt.datetime.fromisoformat(flow["issued_at"].replace("Z", "+00:00"))
    expires = dt.datetime.fromisoformat(flow["expires_at"].replace("Z", "+00:00"))
    assert expires - issued == dt.timedelta(hours=1)
    assert flow["ui"]["action"] == f"http://127.0.0.1:4433/self-service/login?flow={flow['id']}"
    names = [(n["attributes"]["name"], n["group"]) for n in flow["ui"]["nodes"]]
    assert names == [("identifier", "default"), ("password", "password"), ("method", "password")]
    assert node(flow, "identifier")["attributes"]["value"] == ""
    assert node(flow, "password")["attributes"]["autocomplete"] == "current-password"
    assert node(flow, "method")["meta"]["label"]["id"] == 1010022
    assert node(flow, "identifier")["meta"]["label"]["id"] == 1070002


async def test_init_refuses_bad_parameters(kc: Clients) -> None:
    bad_aal = await kc.public.get("/self-service/login/api", params={"aal": "aal3"})
    assert bad_aal.status_code == 400 and "Assurance Level" in bad_aal.json()["error"]["reason"]
    no_session = await kc.public.get("/self-service/login/api", params={"aal": "aal2"})
    assert no_session.status_code == 401 and no_session.json()["error"]["id"] == "session_aal1_required"
    forbidden = await kc.public.get("/self-service/login/api", params={"return_to": "https://evil.example/"})
    assert forbidden.status_code == 400
    assert forbidden.json()["error"]["id"] == "self_service_flow_return_to_forbidden"
    schema = await kc.public.get("/self-service/login/api", params={"identity_schema": "nope"})
    assert schema.status_code == 400


async def test_refresh_without_session_is_ignored(kc: Clients) -> None:
    flow = await kc.api_flow(refresh="true")
    assert flow["refresh"] is False and "messages" not in flow["ui"]


# -- native login ----------------------------------------------------------------------------


async def test_native_login_returns_token_session_and_null_continue_with(kc: Clients) -> None:
    identity = await kc.create_identity("jane@example.org")
    response = await kc.login("jane@example.org")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"session_token", "session", "continue_with"}
    assert body["continue_with"] is None and body["session_token"].startswith("ory_st_")
    session = body["session"]
    assert session["identity"]["id"] == identity["id"] and "credentials" not in session["identity"]
    assert session["authentication_methods"][0]["method"] == "password"
    assert "set-cookie" not in response.headers
    whoami = await kc.public.get("/sessions/whoami", headers={"X-Session-Token": body["session_token"]})
    assert whoami.status_code == 200 and whoami.json()["id"] == session["id"]


@pytest.mark.parametrize(
    "identifier",
    ["  JANE@Example.ORG ", "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ", "jane@example.org"],
    ids=["case-and-spaces", "full-width", "plain"],
)
async def test_identifiers_are_normalised(kc: Clients, identifier: str) -> None:
    await kc.create_identity("jane@example.org")
    response = await kc.login(identifier)
    assert response.status_code == 200, response.text


async def test_legacy_password_identifier_field(kc: Clients) -> None:
    await kc.create_identity("jane@example.org")
    flow = await kc.api_flow()
    body = {"method": "password", "password_identifier": "jane@example.org", "password": PASSWORD}
    assert (await kc.submit(flow["id"], body)).status_code == 200


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    """A login flow without what differs between two flows (ids, times)."""
    out = {k: v for k, v in body.items() if k not in ("id", "issued_at", "expires_at", "created_at", "updated_at")}
    out["ui"] = {**body["ui"], "action": None}
    return out


async def test_wrong_password_and_unknown_identifier_answer_identically(kc: Clients) -> None:
    await kc.create_identity("jane@example.org")
    wrong = await kc.login("jane@example.org", "not the password at all")
    unknown = await kc.login("nobody@example.org", "not the password at all")
    assert wrong.status_code == unknown.status_code == 400
    assert message_ids(wrong.json()) == message_ids(unknown.json()) == [4000006]
    left, right = _comparable(wrong.json()), _comparable(unknown.json())
    node(right, "identifier")["attributes"]["value"] = "jane@example.org"
    assert left == right
    assert node(wrong.json(), "identifier")["attributes"]["value"] == "jane@example.org"
    assert "value" not in node(wrong.json(), "password")["attributes"]
    assert wrong.json()["active"] == "password"


async def test_missing_fields_are_field_messages(kc: Clients) -> None:
    flow = await kc.api_flow()
    no_identifier = await kc.submit(flow["id"], {"method": "password", "password": "x"})
    assert no_identifier.status_code == 400
    assert node(no_identifier.json(), "identifier")["messages"][0]["id"] == 4000002
    no_password = await kc.submit(flow["id"], {"method": "password", "identifier": "a@b.co"})
    assert node(no_password.json(), "password")["messages"][0]["id"] == 4000002


async def test_inactive_identity_gets_4010011(kc: Clients) -> None:
    await kc.create_identity("gone@example.org", state="inactive")
    response = await kc.login("gone@example.org")
    assert response.status_code == 400 and message_ids(response.json()) == [4010011]


@pytest.mark.parametrize("method", ["nope", None, "profile"])
async def test_unknown_method_is_4010002_on_the_flow(kc: Clients, method: str | None) -> None:
    flow = await kc.api_flow()
    body = {"identifier": "a@b.co", "password": "x"}
    if method:
        body["method"] = method
    response = await kc.submit(flow["id"], body)
    assert response.status_code == 400 and message_ids(response.json()) == [4010002]


async def test_disabled_method_is_404(tmp_path: Path) -> None:
    cfg = password_config(tmp_path, selfservice={"methods": {"password": {"enabled": False}}})
    kc = await started(tmp_path, cfg)
    try:
        flow = await kc.api_flow()
        assert flow["ui"]["nodes"] == []
        response = await kc.submit(flow["id"], {"method": "password", "identifier": "a@b.co", "password": "x"})
        assert response.status_code == 404
        assert "disabled by system administrator" in response.json()["error"]["reason"]
    finally:
        await kc.close()
        await kc.app.stop()


@pytest.mark.parametrize(
    ("flow_param", "status"),
    [(None, 400), ("not-a-uuid", 400), (str(uuid.uuid4()), 404)],
    ids=["missing", "malformed", "unknown"],
)
async def test_bad_flow_ids(kc: Clients, flow_param: str | None, status: int) -> None:
    params = {"flow": flow_param} if flow_param else {}
    response = await kc.public.post("/self-service/login", params=params, json={"method": "password"})
    assert response.status_code == status
    if status == 400:
        assert response.json()["error"]["reason"] == "The flow query parameter is missing or malformed."
    fetched = await kc.public.get("/self-service/login/flows", params={"id": flow_param or ""})
    assert fetched.status_code == 404


async def test_registration_flow_ids_are_not_login_flows(kc: Clients) -> None:
    registration = (await kc.public.get("/self-service/registration/api")).json()
    assert (await kc.public.get("/self-service/login/flows", params={"id": registration["id"]})).status_code == 404


@pytest.mark.parametrize(
    ("content", "headers"),
    [(b"[1, 2]", {"content-type": "application/json"}), (b"{nope", {"content-type": "application/json"}), (b"x", {"content-type": "text/plain"})],
    ids=["not-an-object", "bad-json", "unknown-type"],
)
async def test_undecodable_bodies_are_4000001(kc: Clients, content: bytes, headers: dict[str, str]) -> None:
    flow = await kc.api_flow()
    response = await kc.public.post("/self-service/login", params={"flow": flow["id"]}, content=content, headers=headers)
    assert response.status_code == 400 and message_ids(response.json()) == [4000001]


async def test_extra_fields_are_ignored(kc: Clients) -> None:
    await kc.create_identity("jane@example.org")
    flow = await kc.api_flow()
    body = {"method": "password", "identifier": "jane@example.org", "password": PASSWORD, "whatever": [1], "transient_payload": {"a": 1}}
    assert (await kc.submit(flow["id"], body)).status_code == 200


async def test_completed_flow_cannot_be_replayed(kc: Clients) -> None:
    await kc.create_identity("jane@example.org")
    flow = await kc.api_flow()
    body = {"method": "password", "identifier": "jane@example.org", "password": PASSWORD}
    assert (await kc.submit(flow["id"], body)).status_code == 200
    replay = await kc.submit(flow["id"], body)
    assert replay.status_code == 400 and message_ids(replay.json()) == [4010007]


# -- API flows refuse browsers ---------------------------------------------------------------


async def test_api_submit_with_origin_or_cookie_is_refused(kc: Clients) -> None:
    await kc.create_identity("jane@example.org")
    with_origin = await kc.login("jane@example.org", headers={"Origin": "https://app.example.org"})
    assert with_origin.status_code == 400 and message_ids(with_origin.json()) == [4000001]
    assert "Origin" in with_origin.json()["ui"]["messages"][0]["text"]
    with_cookie = await kc.login("jane@example.org", headers={"Cookie": "foo=bar"})
    assert with_cookie.status_code == 400 and "Cookie" in with_cookie.json()["ui"]["messages"][0]["text"]
    cloudflare = await kc.login("jane@example.org", headers={"Cookie": "__cf_bm=1; cf_clearance=2"})
    assert cloudflare.status_code == 200


# -- sessions: already logged in, refresh ------------------------------------------------------


async def test_already_logged_in(kc: Clients) -> None:
    await kc.create_identity("jane@example.org")
    token = (await kc.login("jane@example.org")).json()["session_token"]
    auth = {"X-Session-Token": token}
    init = await kc.public.get("/self-service/login/api", headers=auth)
    assert init.status_code == 400 and init.json()["error"]["id"] == "session_already_available"
    flow = await kc.api_flow()
    body = {"method": "password", "identifier": "jane@example.org", "password": PASSWORD}
    submit = await kc.submit(flow["id"], body, headers=auth)
    assert submit.status_code == 400 and message_ids(submit.json()) == [4000001]


async def test_refresh_keeps_the_session_id(kc: Clients) -> None:
    await kc.create_identity("jane@example.org")
    first = (await kc.login("jane@example.org")).json()
    auth = {"X-Session-Token": first["session_token"]}
    flow = (await kc.public.get("/self-service/login/api", params={"refresh": "true"}, headers=auth)).json()
    assert flow["refresh"] is True and message_ids(flow) == [1010003]
    assert node(flow, "identifier")["attributes"] == {
        "name": "identifier", "type": "hidden", "value": "jane@example.org", "required": True, "disabled": False, "node_type": "input",
    }
    body = {"method": "password", "identifier": "jane@example.org", "password": PASSWORD}
    again = await kc.submit(flow["id"], body, headers=auth)
    assert again.status_code == 200, again.text
    second = again.json()
    assert second["session"]["id"] == first["session"]["id"] and second["session_token"] == first["session_token"]
    assert second["session"]["authenticated_at"] > first["session"]["authenticated_at"]
    assert len(second["session"]["authentication_methods"]) == 2


# -- expiry ------------------------------------------------------------------------------------


async def test_expired_flow(tmp_path: Path) -> None:
    kc = await started(tmp_path, password_config(tmp_path, selfservice={"flows": {"login": {"lifespan": "1ms"}}}))
    try:
        flow = await kc.api_flow(return_to="http://127.0.0.1:4455/after")
        await asyncio.sleep(0.01)  # past the 1 ms lifespan on any machine
        fetched = await kc.public.get("/self-service/login/flows", params={"id": flow["id"]})
        assert fetched.status_code == 410
        error = fetched.json()["error"]
        assert error["id"] == "self_service_flow_expired" and error["details"]["api"].endswith("/self-service/login/api")
        response = await kc.submit(flow["id"], {"method": "password", "identifier": "a@b.co", "password": "x"})
        assert response.status_code == 410
        body = response.json()
        assert body["error"]["id"] == "self_service_flow_expired" and body["error"]["message"] == "self-service flow expired"
        assert body["use_flow_id"] != flow["id"] and body["since"] > 0 and body["expired_at"] == flow["expires_at"]
        # The replacement has the same short lifespan; its stored state is what we check.
        stored = await kc.app.db.fetchrow(
            "SELECT ui, return_to, issued_at, expires_at FROM selfservice_flows WHERE id = $1", uuid.UUID(body["use_flow_id"])
        )
        assert [m["id"] for m in stored["ui"]["messages"]] == [4010001]
        assert stored["return_to"] == "http://127.0.0.1:4455/after"
        assert stored["expires_at"] - stored["issued_at"] == dt.timedelta(milliseconds=1)
        await asyncio.sleep(0.01)  # past the replacement's 1 ms as well (a fast machine gets here sooner)
        replacement = await kc.public.get("/self-service/login/flows", params={"id": body["use_flow_id"]})
        assert replacement.status_code == 410
    finally:
        await kc.close()
        await kc.app.stop()


# -- imported hashes ---------------------------------------------------------------------------


def _argon2id(password: str, memory_kib: int) -> str:
    return hash_secret(password.encode(), b"0123456789abcdef", time_cost=1, memory_cost=memory_kib, parallelism=1, hash_len=32, type=Type.ID).decode()


@pytest.mark.parametrize(
    "hashed",
    [
        bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4, prefix=b"2a")).decode(),
        _argon2id(PASSWORD, 2048),
    ],
    ids=["bcrypt", "argon2id-other-params"],
)
async def test_imported_hashes_log_in_and_are_rehashed(kc: Clients, hashed: str) -> None:
    identity = await kc.create_identity("imported@example.org", hashed_password=hashed)
    assert await kc.stored_hash(identity["id"]) == hashed
    assert (await kc.login("imported@example.org", "wrong password here")).status_code == 400
    assert await kc.stored_hash(identity["id"]) == hashed
    assert (await kc.login("imported@example.org")).status_code == 200
    rehashed = await kc.stored_hash(identity["id"])
    assert rehashed.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert (await kc.login("imported@example.org")).status_code == 200
    assert await kc.stored_hash(identity["id"]) == rehashed


async def test_hash_of_the_configured_hasher_is_kept(kc: Clients) -> None:
    hashed = _argon2id(PASSWORD, 1024)
    identity = await kc.create_identity("same@example.org", hashed_password=hashed)
    assert (await kc.login("same@example.org")).status_code == 200
    assert await kc.stored_hash(identity["id"]) == hashed


# -- hooks and actions -------------------------------------------------------------------------


async def test_revoke_active_sessions_action(tmp_path: Path) -> None:
    hooks = {"flows": {"login": {"after": {"password": {"hooks": [{"hook": "revoke_active_sessions"}]}}}}}
    kc = await started(tmp_path, password_config(tmp_path, selfservice=hooks))
    try:
        await kc.create_identity("jane@example.org")
        first = (await kc.login("jane@example.org")).json()["session_token"]
        second = (await kc.login("jane@example.org")).json()["session_token"]
        assert (await kc.public.get("/sessions/whoami", headers={"X-Session-Token": first})).status_code == 401
        assert (await kc.public.get("/sessions/whoami", headers={"X-Session-Token": second})).status_code == 200
    finally:
        await kc.close()
        await kc.app.stop()


class LoginHooks:
    def __init__(self, *, veto_before: bool = False, veto_after: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.veto_before = veto_before
        self.veto_after = veto_after

    @hookimpl
    async def kratos_login_before(self, flow: Any, request: Any) -> None:
        self.calls.append(("before", flow.kind))
        if self.veto_before:
            raise FlowValidationError.on_flow(messages.validation_generic("not today"))

    @hookimpl
    def kratos_login_after(self, flow: Any, identity: Any, session: Any) -> None:
        self.calls.append(("after", session))
        if self.veto_after:
            raise Forbidden("Logins are closed.")


async def test_lifecycle_hooks_see_and_can_veto(tmp_path: Path) -> None:
    hooks = LoginHooks()
    kc = await started(tmp_path, password_config(tmp_path), plugins=[hooks])
    try:
        await kc.create_identity("jane@example.org")
        assert (await kc.login("jane@example.org")).status_code == 200
        assert [c[0] for c in hooks.calls] == ["before", "after"]
        hooks.veto_before = True
        vetoed = await kc.public.get("/self-service/login/api")
        assert vetoed.status_code == 400 and message_ids(vetoed.json()) == [4000001]
        hooks.veto_before, hooks.veto_after = False, True
        refused = await kc.login("jane@example.org")
        assert refused.status_code == 403
        session = hooks.calls[-1][1]
        # Fail closed: the refused login's session was never stored, and only the first
        # login's session exists.
        assert await kc.app.db.fetchrow("SELECT id FROM sessions WHERE id = $1", session.id) is None
        assert await kc.app.db.fetchval("SELECT count(*) FROM sessions") == 1
    finally:
        await kc.close()
        await kc.app.stop()


async def test_login_works_on_every_database(tmp_path: Path, any_dsn: str) -> None:
    kc = await started(tmp_path, password_config(tmp_path, any_dsn))
    try:
        await kc.create_identity("db@example.org")
        response = await kc.login("DB@example.org")
        assert response.status_code == 200, response.text
        assert (await kc.login("db@example.org", "wrong password!")).status_code == 400
    finally:
        await kc.close()
        await kc.app.stop()
