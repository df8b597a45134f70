"""Browser flows: redirects to the UI, form posts with CSRF, session cookies, errors via the error UI.

The client keeps cookies like a browser does. ``Accept`` is left at httpx's ``*/*``, which Kratos
treats as HTML (a form post), unless a test sends ``Accept: application/json`` (an SPA).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import kratos_password.plugin as password_plugin
from kratos_core.app import KratosApp
from kratos_core.flows.csrf import tokens_match
from tests.conftest import _merge, base_config, make_app

PASSWORD = "correct horse battery staple"
PUBLIC = "http://127.0.0.1:4433"
UI = "http://127.0.0.1:4455"
CSRF_COOKIE = "csrf_token_" + hashlib.sha256(f"{PUBLIC}/".encode()).hexdigest()
JSON = {"Accept": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

SELFSERVICE = {
    "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
    "flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}},
}


class Browser:
    """A cookie-keeping client on the public API plus an admin client."""

    def __init__(self, app: KratosApp) -> None:
        self.app = app
        self.client = self.new_client()
        self.admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://127.0.0.1:4434")

    def new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app.public), base_url=PUBLIC)

    async def close(self) -> None:
        await self.client.aclose()
        await self.admin.aclose()

    async def start(self, kind: str, client: httpx.AsyncClient | None = None, **params: str) -> str:
        """Init a browser flow like a link click: 303 to the UI; returns the flow id."""
        response = await (client or self.client).get(f"/self-service/{kind}/browser", params=params)
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith(f"{UI}/{kind}?flow=")
        return parse_qs(urlsplit(location).query)["flow"][0]

    async def fetch(self, kind: str, flow_id: str, client: httpx.AsyncClient | None = None) -> httpx.Response:
        return await (client or self.client).get(f"/self-service/{kind}/flows", params={"id": flow_id})

    async def csrf(self, kind: str, flow_id: str) -> str:
        flow = (await self.fetch(kind, flow_id)).json()
        return next(n["attributes"]["value"] for n in flow["ui"]["nodes"] if n["attributes"]["name"] == "csrf_token")

    async def post(self, kind: str, flow_id: str, form: dict[str, str], **kwargs: Any) -> httpx.Response:
        headers = {**FORM, **kwargs.pop("headers", {})}
        return await self.client.post(f"/self-service/{kind}", params={"flow": flow_id}, data=form, headers=headers, **kwargs)

    async def create_identity(self, email: str) -> None:
        body = {"schema_id": "default", "traits": {"email": email}, "credentials": {"password": {"config": {"password": PASSWORD}}}}
        assert (await self.admin.post("/admin/identities", json=body)).status_code == 201

    async def login(self, email: str, **params: str) -> httpx.Response:
        flow_id = await self.start("login", **params)
        token = await self.csrf("login", flow_id)
        form = {"csrf_token": token, "identifier": email, "password": PASSWORD, "method": "password"}
        return await self.post("login", flow_id, form)


async def browser_for(tmp_path: Path, **selfservice: Any) -> Browser:
    app = make_app(tmp_path, base_config(tmp_path, selfservice=_merge(SELFSERVICE, selfservice)), plugins=[password_plugin])
    await app.start(migrate=True)
    return Browser(app)


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    b = await browser_for(tmp_path)
    yield b
    await b.close()
    await b.app.stop()


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[Browser] = []

    async def build(**selfservice: Any) -> Browser:
        made.append(await browser_for(tmp_path, **selfservice))
        return made[-1]

    yield build
    for b in made:
        await b.close()
        await b.app.stop()


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def message_ids(flow: dict[str, Any]) -> list[int]:
    return [m["id"] for m in flow["ui"].get("messages", [])]


# -- init and fetch --------------------------------------------------------------------------


async def test_init_redirects_to_the_ui_and_sets_the_csrf_cookie(browser: Browser) -> None:
    response = await browser.client.get("/self-service/login/browser")
    assert response.status_code == 303
    cookie = set_cookies(response)[CSRF_COOKIE]
    assert "HttpOnly" in cookie and "Path=/" in cookie and "SameSite=Lax" in cookie
    assert "Max-Age=31536000" in cookie and "Secure" not in cookie  # --dev: plain HTTP
    flow_id = parse_qs(urlsplit(response.headers["location"]).query)["flow"][0]
    flow = (await browser.fetch("login", flow_id)).json()
    csrf_node = flow["ui"]["nodes"][0]
    assert csrf_node["attributes"]["name"] == "csrf_token" and csrf_node["attributes"]["type"] == "hidden"
    assert tokens_match(csrf_node["attributes"]["value"], browser.client.cookies[CSRF_COOKIE])
    # A second init reuses the browser's token instead of replacing the cookie.
    again = await browser.client.get("/self-service/login/browser")
    assert CSRF_COOKIE not in set_cookies(again)


async def test_another_browser_cannot_read_the_flow(browser: Browser) -> None:
    flow_id = await browser.start("login")
    async with browser.new_client() as stranger:
        no_cookie = await browser.fetch("login", flow_id, stranger)
        assert no_cookie.status_code == 403 and no_cookie.json()["error"]["id"] == "security_csrf_violation"
        await stranger.get("/self-service/login/browser")  # it now has its own anti-CSRF cookie
        other = await browser.fetch("login", flow_id, stranger)
        assert other.status_code == 403


async def test_spa_init_answers_json(browser: Browser) -> None:
    response = await browser.client.get("/self-service/login/browser", headers=JSON)
    assert response.status_code == 200 and response.json()["type"] == "browser"
    assert CSRF_COOKIE in set_cookies(response)


# -- login -----------------------------------------------------------------------------------


async def test_form_login_sets_the_session_cookie_and_renews_csrf(browser: Browser) -> None:
    await browser.create_identity("jane@example.org")
    flow_id = await browser.start("login", return_to=f"{UI}/dashboard")
    before = browser.client.cookies[CSRF_COOKIE]
    token = await browser.csrf("login", flow_id)
    form = {"csrf_token": token, "identifier": "jane@example.org", "password": PASSWORD, "method": "password"}
    response = await browser.post("login", flow_id, form)
    assert response.status_code == 303 and response.headers["location"] == f"{UI}/dashboard"
    cookies = set_cookies(response)
    assert "ory_kratos_session" in cookies and "HttpOnly" in cookies["ory_kratos_session"]
    assert browser.client.cookies[CSRF_COOKIE] != before
    whoami = await browser.client.get("/sessions/whoami")
    assert whoami.status_code == 200 and whoami.json()["identity"]["traits"]["email"] == "jane@example.org"
    # Logged in: a new login goes straight to the return URL.
    again = await browser.client.get("/self-service/login/browser")
    assert again.status_code == 303 and again.headers["location"] == "http://127.0.0.1:4455/welcome"


async def test_wrong_password_goes_back_to_the_ui(browser: Browser) -> None:
    await browser.create_identity("jane@example.org")
    flow_id = await browser.start("login")
    token = await browser.csrf("login", flow_id)
    form = {"csrf_token": token, "identifier": "jane@example.org", "password": "wrong password", "method": "password"}
    response = await browser.post("login", flow_id, form)
    assert response.status_code == 303 and response.headers["location"] == f"{UI}/login?flow={flow_id}"
    flow = (await browser.fetch("login", flow_id)).json()
    assert message_ids(flow) == [4000006]
    fresh = next(n["attributes"]["value"] for n in flow["ui"]["nodes"] if n["attributes"]["name"] == "csrf_token")
    assert fresh != token and tokens_match(fresh, token)
    assert (await browser.client.get("/sessions/whoami")).status_code == 401


async def test_spa_login_answers_session_and_redirect(browser: Browser) -> None:
    await browser.create_identity("jane@example.org")
    init = await browser.client.get("/self-service/login/browser", headers=JSON)
    flow = init.json()
    token = flow["ui"]["nodes"][0]["attributes"]["value"]
    body = {"csrf_token": token, "identifier": "jane@example.org", "password": PASSWORD, "method": "password"}
    response = await browser.client.post("/self-service/login", params={"flow": flow["id"]}, json=body)
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"session", "continue_with"} and "session_token" not in data
    assert data["continue_with"] == [{"action": "redirect_browser_to", "redirect_browser_to": "http://127.0.0.1:4455/welcome"}]
    assert "ory_kratos_session" in set_cookies(response)


@pytest.mark.parametrize("token", [None, "forged", "AAAA" * 22], ids=["missing", "garbage", "forged"])
async def test_csrf_failures(browser: Browser, token: str | None) -> None:
    flow_id = await browser.start("login")
    form = {"identifier": "jane@example.org", "password": PASSWORD, "method": "password"}
    if token:
        form["csrf_token"] = token
    as_form = await browser.post("login", flow_id, form)
    assert as_form.status_code == 303 and as_form.headers["location"].startswith(f"{UI}/error?id=")
    error_id = parse_qs(urlsplit(as_form.headers["location"]).query)["id"][0]
    stored = await browser.client.get("/self-service/errors", params={"id": error_id})
    assert stored.status_code == 200
    assert stored.json()["error"]["id"] == "security_csrf_violation" and stored.json()["error"]["code"] == 403
    as_json = await browser.client.post("/self-service/login", params={"flow": flow_id}, json=form)
    assert as_json.status_code == 403 and as_json.json()["error"]["id"] == "security_csrf_violation"


async def test_browser_flow_without_any_cookie_is_refused(browser: Browser) -> None:
    flow_id = await browser.start("login")
    token = await browser.csrf("login", flow_id)
    async with browser.new_client() as native:
        body = {"csrf_token": token, "identifier": "a@b.co", "password": PASSWORD, "method": "password"}
        response = await native.post("/self-service/login", params={"flow": flow_id}, json=body)
    assert response.status_code == 403
    assert response.json()["error"]["details"]["reject_reason"] == "The HTTP Cookie Header is empty or not set."


async def test_return_to_is_checked_at_init(browser: Browser) -> None:
    html = await browser.client.get("/self-service/login/browser", params={"return_to": "https://evil.example/"})
    assert html.status_code == 303 and html.headers["location"].startswith(f"{UI}/error?id=")
    as_json = await browser.client.get("/self-service/login/browser", params={"return_to": "https://evil.example/"}, headers=JSON)
    assert as_json.status_code == 400 and as_json.json()["error"]["id"] == "self_service_flow_return_to_forbidden"
    flow_id = await browser.start("login", return_to=f"{UI}/ok")
    assert (await browser.fetch("login", flow_id)).json()["return_to"] == f"{UI}/ok"


async def test_expired_browser_flow_moves_to_a_new_one(make: Any) -> None:
    browser = await make(flows={"login": {"lifespan": "1ms"}})
    flow_id = await browser.start("login")
    await asyncio.sleep(0.01)  # past the 1 ms lifespan on any machine
    form = {"csrf_token": "x", "identifier": "a@b.co", "password": PASSWORD, "method": "password"}
    html = await browser.post("login", flow_id, form)
    assert html.status_code == 303
    new_id = parse_qs(urlsplit(html.headers["location"]).query)["flow"][0]
    assert new_id != flow_id and html.headers["location"].startswith(f"{UI}/login?flow=")
    spa = await browser.client.post("/self-service/login", params={"flow": flow_id}, json=form)
    assert spa.status_code == 410 and spa.json()["use_flow_id"] not in (flow_id, new_id)
    fetched = await browser.fetch("login", flow_id)
    details = fetched.json()["error"]["details"]
    assert fetched.status_code == 410 and details["redirect_to"] == f"{PUBLIC}/self-service/login/browser"


# -- registration ----------------------------------------------------------------------------


async def test_form_registration_in_two_steps(browser: Browser) -> None:
    flow_id = await browser.start("registration")
    token = await browser.csrf("registration", flow_id)
    step = await browser.post("registration", flow_id, {"csrf_token": token, "method": "profile", "traits.email": "new@example.org"})
    assert step.status_code == 303 and step.headers["location"] == f"{UI}/registration?flow={flow_id}"
    flow = (await browser.fetch("registration", flow_id)).json()
    assert message_ids(flow) == [1040009]
    token = await browser.csrf("registration", flow_id)
    form = {"csrf_token": token, "method": "password", "password": PASSWORD, "traits.email": "new@example.org"}
    done = await browser.post("registration", flow_id, form)
    assert done.status_code == 303 and done.headers["location"] == "http://127.0.0.1:4455/welcome"
    assert "ory_kratos_session" in set_cookies(done)
    assert (await browser.client.get("/sessions/whoami")).status_code == 200
    # With a session, registration sends the browser on.
    assert (await browser.client.get("/self-service/registration/browser")).status_code == 303


async def test_registration_without_session_hook_does_not_log_in(make: Any) -> None:
    browser = await make(flows={"registration": {"style": "unified", "after": {"password": {"hooks": []}}}})
    flow_id = await browser.start("registration", return_to=f"{UI}/thanks")
    token = await browser.csrf("registration", flow_id)
    form = {"csrf_token": token, "method": "password", "password": PASSWORD, "traits.email": "quiet@example.org"}
    done = await browser.post("registration", flow_id, form)
    assert done.status_code == 303 and done.headers["location"] == f"{UI}/thanks"
    assert "ory_kratos_session" not in set_cookies(done)
    assert (await browser.client.get("/sessions/whoami")).status_code == 401
    replay = await browser.post("registration", flow_id, {**form, "traits.email": "again@example.org"})
    assert replay.status_code == 303
    assert message_ids((await browser.fetch("registration", flow_id)).json()) == [4040002]


async def test_spa_registration_answer(browser: Browser) -> None:
    flow = (await browser.client.get("/self-service/registration/browser", headers=JSON)).json()
    token = flow["ui"]["nodes"][0]["attributes"]["value"]
    body = {"csrf_token": token, "method": "password", "password": PASSWORD, "traits": {"email": "spa@example.org"}}
    response = await browser.client.post("/self-service/registration", params={"flow": flow["id"]}, json=body)
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"session", "identity", "continue_with"}
    assert data["continue_with"][0]["action"] == "redirect_browser_to"


# -- the error store -------------------------------------------------------------------------


async def test_error_store(browser: Browser) -> None:
    stub = await browser.client.get("/self-service/errors", params={"id": "stub:500"})
    assert stub.status_code == 200 and stub.json()["error"]["code"] == 500 and stub.json()["id"] == "stub:500"
    assert (await browser.client.get("/self-service/errors", params={"id": "nope"})).status_code == 404
    unknown = await browser.client.get("/self-service/errors", params={"error": "7c0b8e3c-7f4b-4a7e-9a0e-5d3b0b1c2d3e"})
    assert unknown.status_code == 404
