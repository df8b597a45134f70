"""Two-factor sign-in end to end (issue 10, "Done when"): password + TOTP, password + backup code.

Native apps (API flows) and browsers (SPA JSON and HTML form posts), on SQLite and PostgreSQL,
with the real password, totp and lookup_secret plugins. Every JSON answer is parsed with both
official SDKs (``ory_kratos_client`` and ``ory_client``), as Kratos's own UIs would read it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import kratos_lookup_secret.plugin as lookup_plugin
import kratos_password.plugin as password_plugin
import kratos_totp.plugin as totp_plugin
import ory_client
import ory_kratos_client
import pyotp
import pytest

from kratos_core.app import KratosApp
from kratos_core.testing import read_together
from tests.conftest import base_config, make_app

PASSWORD = "correct horse battery staple"
PUBLIC = "http://127.0.0.1:4433"
JSON = {"Accept": "application/json"}
CSRF_COOKIE = "csrf_token_" + hashlib.sha256(f"{PUBLIC}/".encode()).hexdigest()
SELFSERVICE: dict[str, Any] = {
    "methods": {
        "password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}},
        "totp": {"enabled": True, "config": {"issuer": "Example"}},
        "lookup_secret": {"enabled": True},
    },
    "flows": {
        "registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}},
        "settings": {"ui_url": "http://127.0.0.1:4455/settings"},
    },
}


def parse(kind: str, body: str) -> None:
    """Parse ``body`` as the SDK model ``kind`` with both official SDKs (raises if they cannot)."""
    for sdk in (ory_kratos_client, ory_client):
        model = getattr(sdk, kind)
        assert model.from_json(body) is not None, (sdk.__name__, kind)


def node(flow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in flow["ui"]["nodes"] if n["attributes"].get("name", n["attributes"].get("id")) == name)


def groups(flow: dict[str, Any]) -> set[str]:
    return {n["group"] for n in flow["ui"]["nodes"]} - {"default"}


def flow_messages(flow: dict[str, Any]) -> list[int]:
    return [m["id"] for m in flow["ui"].get("messages", [])]


class Client:
    """A native app (``token`` set) or a browser (cookies) on one app."""

    def __init__(self, app: KratosApp, *, browser: bool) -> None:
        self.app, self.browser = app, browser
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url=PUBLIC)
        self.token: str | None = None
        self.email = ""

    @property
    def headers(self) -> dict[str, str]:
        headers = dict(JSON)
        if self.token:
            headers["X-Session-Token"] = self.token
        return headers

    def kind(self) -> str:
        return "browser" if self.browser else "api"

    async def init(self, flow: str, **params: str) -> dict[str, Any]:
        response = await self.http.get(f"/self-service/{flow}/{self.kind()}", params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        parse({"login": "LoginFlow", "registration": "RegistrationFlow", "settings": "SettingsFlow"}[flow], response.text)
        return response.json()

    async def submit(self, flow: str, body: dict[str, Any], data: dict[str, Any]) -> httpx.Response:
        if self.browser:
            data = {**data, "csrf_token": node(body, "csrf_token")["attributes"]["value"]}
        return await self.http.post(f"/self-service/{flow}", params={"flow": body["id"]}, json=data, headers=self.headers)

    async def register(self, email: str) -> None:
        self.email = email
        flow = await self.init("registration")
        done = await self.submit("registration", flow, {"method": "password", "traits": {"email": email}, "password": PASSWORD})
        assert done.status_code == 200, done.text
        parse("SuccessfulNativeRegistration", done.text)
        if not self.browser:
            self.token = done.json()["session_token"]

    async def logout(self) -> None:
        if self.browser:
            response = await self.http.get("/self-service/logout/browser", headers=JSON)
            assert response.status_code == 200, response.text
            parse("LogoutFlow", response.text)
            out = await self.http.get(response.json()["logout_url"])
            assert out.status_code == 303
        else:
            out = await self.http.request("DELETE", "/self-service/logout/api", json={"session_token": self.token})
            assert out.status_code == 204
            self.token = None

    async def password_login(self) -> dict[str, Any]:
        flow = await self.init("login")
        done = await self.submit("login", flow, {"method": "password", "identifier": self.email, "password": PASSWORD})
        assert done.status_code == 200, done.text
        parse("SuccessfulNativeLogin", done.text)
        body = done.json()
        if not self.browser:
            self.token = body["session_token"]
        return body

    async def whoami(self, expect: int) -> dict[str, Any]:
        response = await self.http.get("/sessions/whoami", headers=self.headers)
        assert response.status_code == expect, response.text
        parse("Session" if expect == 200 else "ErrorAuthenticatorAssuranceLevelNotSatisfied", response.text)
        return response.json()

    async def settings_submit(self, data: dict[str, Any], flow: dict[str, Any] | None = None) -> dict[str, Any]:
        flow = flow or await self.init("settings")
        done = await self.submit("settings", flow, data)
        assert done.status_code == 200, done.text
        parse("SettingsFlow", done.text)
        return done.json()

    async def set_up_totp(self) -> pyotp.TOTP:
        flow = await self.init("settings")
        authenticator = pyotp.TOTP(node(flow, "totp_secret_key")["attributes"]["text"]["text"])
        await self.settings_submit({"method": "totp", "totp_code": authenticator.now()}, flow)
        return authenticator

    async def set_up_lookup(self) -> list[str]:
        flow = await self.init("settings")
        shown = await self.settings_submit({"method": "lookup_secret", "lookup_secret_regenerate": True}, flow)
        text = node(shown, "lookup_secret_codes")["attributes"]["text"]
        await self.settings_submit({"method": "lookup_secret", "lookup_secret_confirm": True}, shown)
        return [s["context"]["secret"] for s in text["context"]["secrets"]]

    async def second_factor(self, data: dict[str, Any], expect: int = 200) -> httpx.Response:
        flow = await self.init("login", aal="aal2")
        assert flow["requested_aal"] == "aal2" and 1010004 in flow_messages(flow)
        assert "password" not in groups(flow)  # only second factors at aal2
        done = await self.submit("login", flow, data)
        assert done.status_code == expect, done.text
        parse("SuccessfulNativeLogin" if expect == 200 else "LoginFlow", done.text)
        return done


@pytest.fixture
async def app(tmp_path: Path, any_dsn: str) -> AsyncIterator[KratosApp]:
    config = base_config(
        tmp_path,
        dsn=any_dsn,
        selfservice=SELFSERVICE,
        ciphers={"algorithm": "aes"},
        secrets={"cookie": ["a-test-secret-that-is-long-enough"], "cipher": ["0123456789abcdef0123456789abcdef"]},
    )
    instance = make_app(tmp_path, config, plugins=[password_plugin, totp_plugin, lookup_plugin])
    await instance.start(migrate=True)
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.mark.parametrize("browser", [False, True], ids=["api", "browser"])
async def test_password_then_totp(app: KratosApp, browser: bool) -> None:
    client = Client(app, browser=browser)
    await client.register("totp-user@example.org")
    authenticator = await client.set_up_totp()
    await client.logout()

    login = await client.password_login()
    if browser:
        # The first factor sends the browser on to the aal2 login, keeping nothing else.
        target = login["continue_with"][0]["redirect_browser_to"]
        assert target == f"{PUBLIC}/self-service/login/browser?aal=aal2"
    refused = await client.whoami(403)
    assert refused["error"]["id"] == "session_aal2_required"
    assert refused["redirect_browser_to"] == f"{PUBLIC}/self-service/login/browser?aal=aal2"
    first_session = login["session"]["id"]

    wrong = "000000" if authenticator.now() != "000000" else "111111"
    bad = await client.second_factor({"method": "totp", "totp_code": wrong}, expect=400)
    assert flow_messages(bad.json()) == [4000008]
    # The code typed at set-up was used; the next period's code is within the window.
    done = await client.second_factor({"method": "totp", "totp_code": authenticator.at(time.time() + 30)})
    assert done.json()["session"]["id"] == first_session  # the same session, stepped up

    session = await client.whoami(200)
    assert session["id"] == first_session
    assert session["authenticator_assurance_level"] == "aal2"
    assert [m["method"] for m in session["authentication_methods"]] == ["password", "totp"]
    assert [m["aal"] for m in session["authentication_methods"]] == ["aal1", "aal2"]


@pytest.mark.parametrize("browser", [False, True], ids=["api", "browser"])
async def test_password_then_backup_code_once(app: KratosApp, browser: bool) -> None:
    client = Client(app, browser=browser)
    await client.register("lookup-user@example.org")
    codes = await client.set_up_lookup()
    await client.logout()

    await client.password_login()
    assert (await client.whoami(403))["error"]["id"] == "session_aal2_required"
    await client.second_factor({"method": "lookup_secret", "lookup_secret": codes[0]})
    session = await client.whoami(200)
    assert session["authenticator_assurance_level"] == "aal2"
    assert [m["method"] for m in session["authentication_methods"]] == ["password", "lookup_secret"]

    await client.logout()
    await client.password_login()
    again = await client.second_factor({"method": "lookup_secret", "lookup_secret": codes[0]}, expect=400)
    assert flow_messages(again.json()) == [4000012]
    await client.whoami(403)


async def test_settings_need_aal2_once_a_second_factor_exists(app: KratosApp) -> None:
    client = Client(app, browser=False)
    await client.register("settings-aal@example.org")
    await client.set_up_lookup()
    await client.logout()
    await client.password_login()
    init = await client.http.get("/self-service/settings/api", headers=client.headers)
    assert init.status_code == 403 and init.json()["error"]["id"] == "session_aal2_required"
    parse("ErrorAuthenticatorAssuranceLevelNotSatisfied", init.text)


async def test_html_form_login_is_redirected_to_the_aal2_login(app: KratosApp) -> None:
    client = Client(app, browser=True)
    await client.register("html-user@example.org")
    authenticator = await client.set_up_totp()
    await client.logout()
    start = await client.http.get("/self-service/login/browser", params={"return_to": "http://127.0.0.1:4455/app"})
    flow_id = parse_qs(urlsplit(start.headers["location"]).query)["flow"][0]
    flow = (await client.http.get("/self-service/login/flows", params={"id": flow_id}, headers=JSON)).json()
    form = {
        "csrf_token": node(flow, "csrf_token")["attributes"]["value"],
        "method": "password",
        "identifier": client.email,
        "password": PASSWORD,
    }
    done = await client.http.post("/self-service/login", params={"flow": flow_id}, data=form)
    assert done.status_code == 303
    target = urlsplit(done.headers["location"])
    assert target.path == "/self-service/login/browser"
    assert parse_qs(target.query) == {"aal": ["aal2"], "return_to": ["http://127.0.0.1:4455/app"]}
    # The aal2 login keeps return_to and sends the browser there once the code is in.
    step = await client.http.get(done.headers["location"])
    assert step.status_code == 303, step.text
    aal2_id = parse_qs(urlsplit(step.headers["location"]).query)["flow"][0]
    aal2 = (await client.http.get("/self-service/login/flows", params={"id": aal2_id}, headers=JSON)).json()
    assert aal2["requested_aal"] == "aal2" and aal2["return_to"] == "http://127.0.0.1:4455/app"
    code = {"csrf_token": node(aal2, "csrf_token")["attributes"]["value"], "method": "totp", "totp_code": authenticator.at(time.time() + 30)}
    finished = await client.http.post("/self-service/login", params={"flow": aal2_id}, data=code)
    assert finished.status_code == 303 and finished.headers["location"] == "http://127.0.0.1:4455/app"
    assert (await client.whoami(200))["authenticator_assurance_level"] == "aal2"


async def test_racing_submits_of_one_backup_code(app: KratosApp) -> None:
    owner = Client(app, browser=False)
    await owner.register("race@example.org")
    codes = await owner.set_up_lookup()
    clients = []
    for _ in range(8):
        client = Client(app, browser=False)
        client.email = owner.email
        await client.password_login()
        clients.append(client)
    flows = [await c.init("login", aal="aal2") for c in clients]
    read_together(app, 8)
    answers = await asyncio.gather(
        *(c.submit("login", f, {"method": "lookup_secret", "lookup_secret": codes[7]}) for c, f in zip(clients, flows, strict=True))
    )
    assert sorted(a.status_code for a in answers) == [200] + [400] * 7
    assert {flow_messages(a.json())[0] for a in answers if a.status_code == 400} == {4000012}


async def test_admin_deleting_the_second_factor_lets_aal1_sessions_pass(app: KratosApp) -> None:
    client = Client(app, browser=False)
    await client.register("admin-delete@example.org")
    await client.set_up_totp()
    await client.logout()
    await client.password_login()
    await client.whoami(403)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://127.0.0.1:4434") as admin:
        listed = (await admin.get("/admin/identities", params={"credentials_identifier": client.email})).json()
        identity_id = listed[0]["id"]
        shown = (await admin.get(f"/admin/identities/{identity_id}", params={"include_credential": "totp"})).json()
        assert "otpauth" not in str(shown["credentials"]["totp"])  # never the key in plain text
        deleted = await admin.delete(f"/admin/identities/{identity_id}/credentials/totp")
        assert deleted.status_code == 204
    session = await client.whoami(200)
    assert session["authenticator_assurance_level"] == "aal1"


async def test_bad_second_factor_input_gets_kratos_answers(app: KratosApp) -> None:
    client = Client(app, browser=False)
    await client.register("bad-input@example.org")
    await client.set_up_totp()
    await client.logout()
    await client.password_login()
    # A first factor in an aal2 flow: no strategy for it there, and the session stays aal1.
    flow = await client.init("login", aal="aal2")
    refused = await client.submit("login", flow, {"method": "password", "identifier": client.email, "password": PASSWORD})
    assert refused.status_code == 400 and flow_messages(refused.json()) == [4010002]
    parse("LoginFlow", refused.text)
    for code in ("abcdef", "1234567", "12345", "12 34 56"):
        wrong = await client.second_factor({"method": "totp", "totp_code": code}, expect=400)
        assert flow_messages(wrong.json()) == [4000008], code
    empty = await client.second_factor({"method": "totp", "totp_code": ""}, expect=400)
    assert [m["id"] for m in node(empty.json(), "totp_code")["messages"]] == [4000002]
    # A method the identity has not set up.
    none = await client.second_factor({"method": "lookup_secret", "lookup_secret": "abcd1234"}, expect=400)
    assert flow_messages(none.json()) == [4000014]
    await client.whoami(403)
    # aal2 without any session is Kratos's 401.
    anonymous = await client.http.get("/self-service/login/api", params={"aal": "aal2"}, headers=JSON)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["id"] == "session_aal1_required"
