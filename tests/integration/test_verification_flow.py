"""Verification flows over HTTP with the code and link methods (kratos-behaviour.md 1.9, 3.3, 6.2, 6.3, 7.3).

Codes and links are read from the queued courier messages (``courier_messages.template_data``),
as a user reads them from their inbox. The :class:`Kratos` helper here is shared by the recovery
and admin recovery tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import kratos_code.plugin as code_plugin
import kratos_password.plugin as password_plugin
from kratos_core.app import KratosApp
from kratos_core.persistence import codes
from tests.conftest import _merge, base_config, make_app

PUBLIC = "http://127.0.0.1:4433"
ADMIN = "http://127.0.0.1:4434"
UI = "http://127.0.0.1:4455"
CSRF_COOKIE = "csrf_token_" + hashlib.sha256(f"{PUBLIC}/".encode()).hexdigest()
SESSION_COOKIE = "ory_kratos_session"
JSON = {"Accept": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PASSWORD = "correct horse battery staple"
EMAIL = "jane@example.org"

SELFSERVICE: dict[str, Any] = {
    "methods": {"code": {"enabled": True}, "password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
    "flows": {
        "verification": {"enabled": True, "ui_url": f"{UI}/verification"},
        "recovery": {"enabled": True, "ui_url": f"{UI}/recovery"},
        "settings": {"ui_url": f"{UI}/settings"},
    },
}


class Kratos:
    """A started app with an API client, cookie-keeping browsers and a look into the database."""

    def __init__(self, app: KratosApp) -> None:
        self.app = app
        self.api = self.client()
        self.admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url=ADMIN)
        self._clients = [self.api, self.admin]

    def client(self) -> httpx.AsyncClient:
        """A new public client; it keeps cookies like a browser."""
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app.public), base_url=PUBLIC)
        if hasattr(self, "_clients"):
            self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()
        await self.app.stop()

    # -- API flows -------------------------------------------------------------------------

    async def api_flow(self, kind: str, **params: str) -> dict[str, Any]:
        response = await self.api.get(f"/self-service/{kind}/api", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def submit(
        self, kind: str, flow_id: str, body: dict[str, Any], *, client: httpx.AsyncClient | None = None, **kw: Any
    ) -> httpx.Response:
        return await (client or self.api).post(f"/self-service/{kind}", params={"flow": flow_id}, json=body, **kw)

    # -- browser flows ---------------------------------------------------------------------

    async def start(self, kind: str, browser: httpx.AsyncClient, **params: str) -> str:
        response = await browser.get(f"/self-service/{kind}/browser", params=params)
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith(f"{UI}/{kind}?flow="), location
        return query(location)["flow"]

    async def fetch(self, kind: str, flow_id: str, client: httpx.AsyncClient | None = None) -> httpx.Response:
        return await (client or self.api).get(f"/self-service/{kind}/flows", params={"id": flow_id})

    async def csrf(self, kind: str, flow_id: str, browser: httpx.AsyncClient) -> str:
        flow = (await self.fetch(kind, flow_id, browser)).json()
        return node(flow, "csrf_token")["attributes"]["value"]

    async def post_form(
        self, kind: str, flow_id: str, browser: httpx.AsyncClient, form: dict[str, str], **kw: Any
    ) -> httpx.Response:
        headers = {**FORM, **kw.pop("headers", {})}
        return await browser.post(f"/self-service/{kind}", params={"flow": flow_id}, data=form, headers=headers, **kw)

    # -- identities and the database -------------------------------------------------------

    async def create_identity(self, email: str = EMAIL, *, password: bool = False, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"schema_id": "default", "traits": {"email": email}, **fields}
        if password:
            body["credentials"] = {"password": {"config": {"password": PASSWORD}}}
        response = await self.admin.post("/admin/identities", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    async def identity(self, identity_id: str) -> dict[str, Any]:
        response = await self.admin.get(f"/admin/identities/{identity_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def messages(self, template_type: str | None = None, recipient: str | None = None) -> list[dict[str, Any]]:
        rows = await self.app.db.fetch(
            "SELECT recipient, template_type, template_data, channel, subject FROM courier_messages ORDER BY created_at, id"
        )
        return [
            r
            for r in rows
            if (template_type is None or r["template_type"] == template_type)
            and (recipient is None or r["recipient"] == recipient)
        ]

    async def last(self, template_type: str, recipient: str = EMAIL) -> dict[str, Any]:
        found = await self.messages(template_type, recipient)
        assert found, f"no {template_type} message to {recipient}: {await self.messages()}"
        return found[-1]["template_data"]

    async def expire_flow(self, flow_id: str) -> None:
        await self.app.db.execute(
            "UPDATE selfservice_flows SET expires_at = $2 WHERE id = $1",
            _uuid(flow_id),
            dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
        )

    async def expire_codes(self, flow_id: str) -> None:
        await self.app.db.execute(
            "UPDATE one_time_codes SET expires_at = $2 WHERE flow_id = $1",
            _uuid(flow_id),
            dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
        )

    async def active_sessions(self, identity_id: str) -> int:
        return int(
            await self.app.db.fetchval(
                "SELECT count(*) FROM sessions WHERE identity_id = $1 AND active", _uuid(identity_id)
            )
        )


def _uuid(value: str) -> Any:
    import uuid

    return uuid.UUID(value)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def node(flow: dict[str, Any], name: str, **attrs: Any) -> dict[str, Any]:
    for n in flow["ui"]["nodes"]:
        a = n["attributes"]
        if a.get("name", a.get("id")) == name and all(a.get(k) == v for k, v in attrs.items()):
            return n
    raise AssertionError(
        f"no node {name} {attrs} in {[n['attributes'].get('name', n['attributes'].get('id')) for n in flow['ui']['nodes']]}"
    )


def message_ids(flow: dict[str, Any]) -> list[int]:
    return [m["id"] for m in flow["ui"].get("messages", [])]


async def started(
    tmp_path: Path,
    dsn: str = "memory",
    *,
    sections: dict[str, Any] | None = None,
    plugins: list[object] = (),
    **selfservice: Any,
) -> Kratos:
    """A started app with the code and password plugins (plus ``plugins``).

    Args:
        sections: Other top-level config sections (``feature_flags`` ...).
        **selfservice: Merged into the ``selfservice`` section.
    """
    cfg = base_config(tmp_path, dsn, selfservice=_merge(SELFSERVICE, selfservice), **(sections or {}))
    app = make_app(tmp_path, cfg, plugins=[code_plugin, password_plugin, *plugins])
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

    async def build(dsn: str = "memory", **kwargs: Any) -> Kratos:
        made.append(await started(tmp_path, dsn, **kwargs))
        return made[-1]

    yield build
    for k in made:
        await k.close()


async def send_code(kc: Kratos, email: str = EMAIL) -> tuple[str, httpx.Response]:
    flow = await kc.api_flow("verification")
    response = await kc.submit("verification", flow["id"], {"method": "code", "email": email})
    return flow["id"], response


# -- the API flow ----------------------------------------------------------------------------


async def test_api_flow_sends_a_code_and_verifies_the_address(kc: Kratos) -> None:
    identity = await kc.create_identity()
    flow = await kc.api_flow("verification")
    assert flow["state"] == "choose_method" and flow["type"] == "api"
    assert node(flow, "email")["attributes"]["type"] == "email"
    assert node(flow, "method")["attributes"]["value"] == "code"
    assert all(n["attributes"].get("name") != "csrf_token" for n in flow["ui"]["nodes"])

    sent = await kc.submit("verification", flow["id"], {"method": "code", "email": EMAIL})
    assert sent.status_code == 200, sent.text  # recovery/verification answer 200 here (pitfall 1)
    body = sent.json()
    assert body["state"] == "sent_email" and message_ids(body) == [1080003]
    assert node(body, "code")["meta"]["label"]["id"] == 1070011
    assert node(body, "email", type="submit")["attributes"]["value"] == EMAIL  # resend
    assert (await kc.identity(identity["id"]))["verifiable_addresses"][0]["status"] == "sent"

    data = await kc.last("verification_code_valid")
    code = data["verification_code"]
    assert len(code) == 6 and code.isdigit()
    assert query(data["verification_url"]) == {"flow": flow["id"], "code": code}

    done = await kc.submit("verification", flow["id"], {"method": "code", "code": code})
    assert done.status_code == 200, done.text
    finished = done.json()
    assert finished["state"] == "passed_challenge" and message_ids(finished) == [1080002]
    assert finished["ui"]["method"] == "GET" and finished["ui"]["action"] == "http://127.0.0.1:4455/welcome"
    anchor = node(finished, "continue")
    assert anchor["type"] == "a" and anchor["attributes"]["href"] == finished["ui"]["action"]
    address = (await kc.identity(identity["id"]))["verifiable_addresses"][0]
    assert address["verified"] is True and address["status"] == "completed" and address["verified_at"]


async def test_fetching_and_return_to(kc: Kratos) -> None:
    flow = await kc.api_flow("verification", return_to=f"{UI}/done")
    assert flow["return_to"] == f"{UI}/done"
    fetched = await kc.fetch("verification", flow["id"])
    assert fetched.status_code == 200 and fetched.json()["id"] == flow["id"]
    assert (await kc.fetch("verification", "00000000-0000-4000-8000-000000000000")).status_code == 404
    forbidden = await kc.api.get("/self-service/verification/api", params={"return_to": "https://evil.example.com/"})
    assert forbidden.status_code == 400 and forbidden.json()["error"]["id"] == "self_service_flow_return_to_forbidden"
    await kc.create_identity()
    await kc.submit("verification", flow["id"], {"method": "code", "email": EMAIL})
    done = await kc.submit(
        "verification",
        flow["id"],
        {"method": "code", "code": (await kc.last("verification_code_valid"))["verification_code"]},
    )
    assert done.json()["ui"]["action"] == f"{UI}/done"


async def test_unknown_addresses_get_the_same_answer_and_no_message(kc: Kratos) -> None:
    await kc.create_identity()
    _, known = await send_code(kc, EMAIL)
    _, unknown = await send_code(kc, "nobody@example.org")
    assert unknown.status_code == known.status_code == 200

    def shape(flow: dict[str, Any]) -> Any:
        nodes = [
            (n["type"], n["group"], n["attributes"].get("name"), n["attributes"].get("type"))
            for n in flow["ui"]["nodes"]
        ]
        return flow["state"], message_ids(flow), nodes

    assert shape(unknown.json()) == shape(known.json())
    assert await kc.messages(recipient="nobody@example.org") == []


async def test_unknown_addresses_are_notified_when_configured(make: Any) -> None:
    kc = await make(flows={"verification": {"notify_unknown_recipients": True}})
    _, response = await send_code(kc, "nobody@example.org")
    assert response.status_code == 200 and response.json()["state"] == "sent_email"
    [sent] = await kc.messages(recipient="nobody@example.org")
    assert sent["template_type"] == "verification_code_invalid"
    assert "verification_code" not in sent["template_data"]


async def test_a_missing_email_is_a_validation_error(kc: Kratos) -> None:
    flow = await kc.api_flow("verification")
    response = await kc.submit("verification", flow["id"], {"method": "code"})
    assert response.status_code == 400
    assert [m["id"] for m in node(response.json(), "email")["messages"]] == [4000002]


async def test_unknown_methods_and_methods_not_in_use(kc: Kratos) -> None:
    flow = await kc.api_flow("verification")
    response = await kc.submit("verification", flow["id"], {"method": "password", "email": EMAIL})
    assert response.status_code == 400 and message_ids(response.json()) == [4010006]
    disabled = await kc.submit("verification", flow["id"], {"method": "link", "email": EMAIL})
    assert disabled.status_code == 404  # the link method exists but is disabled (section 1.5)


# -- bad codes -------------------------------------------------------------------------------


async def test_wrong_and_expired_codes_leave_a_message_on_the_flow(kc: Kratos) -> None:
    identity = await kc.create_identity()
    flow_id, _ = await send_code(kc)
    code = (await kc.last("verification_code_valid"))["verification_code"]
    wrong = "000000" if code != "000000" else "111111"
    response = await kc.submit("verification", flow_id, {"method": "code", "code": wrong})
    assert response.status_code == 200
    assert response.json()["state"] == "sent_email" and message_ids(response.json()) == [4070006]
    await kc.expire_codes(flow_id)
    expired = await kc.submit("verification", flow_id, {"method": "code", "code": code})
    assert expired.status_code == 200 and message_ids(expired.json()) == [4070006]
    assert (await kc.identity(identity["id"]))["verifiable_addresses"][0]["verified"] is False


async def test_guessing_stops_after_max_submissions(kc: Kratos) -> None:
    identity = await kc.create_identity()
    flow_id, _ = await send_code(kc)
    code = (await kc.last("verification_code_valid"))["verification_code"]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        response = await kc.submit("verification", flow_id, {"method": "code", "code": wrong})
        assert response.status_code == 200 and message_ids(response.json()) == [4070006]
    # The sixth check is refused before the code is even compared: even the right code.
    refused = await kc.submit("verification", flow_id, {"method": "code", "code": code})
    assert refused.status_code == 410, refused.text
    error = refused.json()
    assert error["error"]["id"] == "self_service_flow_replaced"
    replacement = (await kc.fetch("verification", error["use_flow_id"])).json()
    assert replacement["state"] == "choose_method"
    [notice] = replacement["ui"]["messages"]
    assert notice["id"] == 4000001 and "submitted too often" in notice["text"]
    assert (await kc.identity(identity["id"]))["verifiable_addresses"][0]["verified"] is False


async def test_a_resend_makes_the_earlier_code_useless(kc: Kratos) -> None:
    await kc.create_identity()
    flow_id, _ = await send_code(kc)
    first = (await kc.last("verification_code_valid"))["verification_code"]
    again = await kc.submit("verification", flow_id, {"method": "code", "email": EMAIL})
    assert again.status_code == 200 and again.json()["state"] == "sent_email"
    second = (await kc.last("verification_code_valid"))["verification_code"]
    if first != second:
        stale = await kc.submit("verification", flow_id, {"method": "code", "code": first})
        assert message_ids(stale.json()) == [4070006]
    done = await kc.submit("verification", flow_id, {"method": "code", "code": second})
    assert done.json()["state"] == "passed_challenge"


async def test_replaying_a_finished_flow_gives_a_replacement(kc: Kratos) -> None:
    await kc.create_identity()
    flow_id, _ = await send_code(kc)
    code = (await kc.last("verification_code_valid"))["verification_code"]
    assert (await kc.submit("verification", flow_id, {"method": "code", "code": code})).status_code == 200
    replay = await kc.submit("verification", flow_id, {"method": "code", "code": code})
    assert replay.status_code == 410 and replay.json()["error"]["id"] == "self_service_flow_replaced"
    new = (await kc.fetch("verification", replay.json()["use_flow_id"])).json()
    assert message_ids(new) == [4070002] and new["state"] == "choose_method"
    # The flow itself stays finished.
    assert (await kc.fetch("verification", flow_id)).json()["state"] == "passed_challenge"


async def test_a_code_of_another_flow_does_not_work(kc: Kratos) -> None:
    await kc.create_identity()
    await send_code(kc)
    code = (await kc.last("verification_code_valid"))["verification_code"]
    other_id, _ = await send_code(kc, "someone@example.org")
    response = await kc.submit("verification", other_id, {"method": "code", "code": code})
    assert message_ids(response.json()) == [4070006]


async def test_an_expired_flow_is_replaced_and_json_callers_are_redirected(kc: Kratos) -> None:
    flow = await kc.api_flow("verification")
    await kc.expire_flow(flow["id"])
    response = await kc.submit("verification", flow["id"], {"method": "code", "email": EMAIL})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{PUBLIC}/self-service/verification/flows?id=")
    new = (await kc.api.get(location)).json()
    assert new["id"] != flow["id"] and message_ids(new) == [4070005]
    gone = await kc.fetch("verification", flow["id"])
    assert gone.status_code == 410 and gone.json()["error"]["id"] == "self_service_flow_expired"


async def test_a_disabled_flow_is_refused(make: Any) -> None:
    kc = await make(flows={"verification": {"enabled": False}})
    response = await kc.api.get("/self-service/verification/api")
    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "Verification is not allowed because it was disabled."
    browser = kc.client()
    page = await browser.get("/self-service/verification/browser")
    assert page.status_code == 303 and page.headers["location"].startswith(f"{UI}/error?id=")


async def test_a_code_is_used_once_even_when_raced(any_dsn: str, make: Any) -> None:
    kc = await make(any_dsn)
    identity = await kc.create_identity()
    flow_id, _ = await send_code(kc)
    code = (await kc.last("verification_code_valid"))["verification_code"]
    keys = kc.app.config.secrets_for("cookie")
    found = await codes.check_code(
        kc.app.db, keys=keys, flow_id=_uuid(flow_id), kind="verification_code", value=code, max_submissions=5
    )

    async def use() -> bool:
        try:
            async with kc.app.db.transaction() as tx:
                await codes.consume(tx, found)
        except codes.CodeAlreadyUsed:
            return False
        return True

    assert sorted(await asyncio.gather(use(), use(), use())) == [False, False, True]
    with pytest.raises(codes.CodeAlreadyUsed):
        await codes.find(kc.app.db, keys=keys, flow_id=_uuid(flow_id), kind="verification_code", value=code)
    # Over HTTP the used code no longer verifies anything.
    response = await kc.submit("verification", flow_id, {"method": "code", "code": code})
    assert response.status_code == 410
    assert (await kc.identity(identity["id"]))["verifiable_addresses"][0]["verified"] is False


# -- browsers --------------------------------------------------------------------------------


async def test_browser_flow_with_the_code_link(kc: Kratos) -> None:
    identity = await kc.create_identity()
    browser = kc.client()
    flow_id = await kc.start("verification", browser)
    token = await kc.csrf("verification", flow_id, browser)
    sent = await kc.post_form("verification", flow_id, browser, {"csrf_token": token, "method": "code", "email": EMAIL})
    assert sent.status_code == 303 and sent.headers["location"] == f"{UI}/verification?flow={flow_id}"

    data = await kc.last("verification_code_valid")
    cookie_before = browser.cookies[CSRF_COOKIE]
    click = await browser.get(data["verification_url"])
    # Opening the link only pre-fills the code: mail scanners open links too (section 6.2).
    assert click.status_code == 303 and click.headers["location"] == f"{UI}/verification?flow={flow_id}"
    assert browser.cookies[CSRF_COOKIE] != cookie_before
    flow = (await kc.fetch("verification", flow_id, browser)).json()
    assert node(flow, "code")["attributes"]["value"] == data["verification_code"]
    assert (await kc.identity(identity["id"]))["verifiable_addresses"][0]["verified"] is False

    # The code step needs no anti-CSRF token.
    done = await kc.post_form("verification", flow_id, browser, {"method": "code", "code": data["verification_code"]})
    assert done.status_code == 303 and done.headers["location"] == f"{UI}/verification?flow={flow_id}"
    assert (await kc.fetch("verification", flow_id, browser)).json()["state"] == "passed_challenge"
    assert (await kc.identity(identity["id"]))["verifiable_addresses"][0]["verified"] is True


async def test_browser_submits_without_csrf_are_refused(kc: Kratos) -> None:
    browser = kc.client()
    flow_id = await kc.start("verification", browser)
    html = await kc.post_form("verification", flow_id, browser, {"method": "code", "email": EMAIL})
    assert html.status_code == 303 and html.headers["location"].startswith(f"{UI}/error?id=")
    spa = await kc.submit("verification", flow_id, {"method": "code", "email": EMAIL}, client=browser)
    assert spa.status_code == 403 and spa.json()["error"]["id"] == "security_csrf_violation"
    assert await kc.messages() == []
    stranger = kc.client()
    assert (await kc.fetch("verification", flow_id, stranger)).status_code == 403


async def test_spa_gets_json_and_the_replaced_error(kc: Kratos) -> None:
    await kc.create_identity()
    browser = kc.client()
    flow = (await browser.get("/self-service/verification/browser", headers=JSON)).json()
    token = node(flow, "csrf_token")["attributes"]["value"]
    sent = await kc.submit(
        "verification", flow["id"], {"method": "code", "email": EMAIL, "csrf_token": token}, client=browser
    )
    assert sent.status_code == 200 and sent.json()["state"] == "sent_email"
    code = (await kc.last("verification_code_valid"))["verification_code"]
    done = await kc.submit("verification", flow["id"], {"method": "code", "code": code}, client=browser)
    assert done.status_code == 200 and done.json()["state"] == "passed_challenge"
    replay = await kc.submit("verification", flow["id"], {"method": "code", "code": code}, client=browser)
    assert replay.status_code == 410 and "use_flow_id" in replay.json()


# -- the link method -------------------------------------------------------------------------


async def test_link_method_verifies_by_opening_the_link(make: Any) -> None:
    kc = await make(methods={"link": {"enabled": True}}, flows={"verification": {"use": "link"}})
    identity = await kc.create_identity()
    flow = await kc.api_flow("verification", return_to=f"{UI}/done")
    assert node(flow, "method")["attributes"]["value"] == "link" and node(flow, "email")["group"] == "link"
    sent = await kc.submit("verification", flow["id"], {"method": "link", "email": EMAIL})
    assert sent.status_code == 200 and sent.json()["state"] == "sent_email" and message_ids(sent.json()) == [1080001]
    url = (await kc.last("verification_valid"))["verification_url"]
    link = query(url)
    assert link["flow"] == flow["id"] and len(link["token"]) == 32 and link["token"].isalnum()

    browser = kc.client()
    opened = await browser.get(url)
    # As in Kratos, the UI shows the result (and links on to return_to), even with a return_to.
    assert opened.status_code == 303 and opened.headers["location"] == f"{UI}/verification?flow={flow['id']}"
    assert CSRF_COOKIE in browser.cookies  # a clicked link renews the anti-CSRF token
    address = (await kc.identity(identity["id"]))["verifiable_addresses"][0]
    assert address["verified"] is True and address["status"] == "completed"
    finished = (await kc.fetch("verification", flow["id"])).json()
    assert finished["state"] == "passed_challenge" and node(finished, "continue")["group"] == "link"
    assert node(finished, "continue")["attributes"]["href"] == f"{UI}/done"

    # Opening it again finds a finished flow: a replacement, sent on to the UI.
    stranger = kc.client()
    again = await stranger.get(url)  # "the link is invalid or was already used" (section 6.3)
    assert again.status_code == 303 and again.headers["location"].startswith(f"{UI}/verification?flow=")
    replaced = (await kc.fetch("verification", query(again.headers["location"])["flow"], stranger)).json()
    assert message_ids(replaced) == [4070001]


async def test_link_method_refuses_forged_tokens(make: Any) -> None:
    kc = await make(methods={"link": {"enabled": True}}, flows={"verification": {"use": "link"}})
    identity = await kc.create_identity()
    flow = await kc.api_flow("verification")
    await kc.submit("verification", flow["id"], {"method": "link", "email": EMAIL})
    forged = await kc.client().get(
        "/self-service/verification", params={"flow": flow["id"], "token": "A" * 32}, headers=JSON
    )
    assert forged.status_code == 303
    new = (await kc.api.get(forged.headers["location"])).json()
    assert message_ids(new) == [4070001]
    assert (await kc.identity(identity["id"]))["verifiable_addresses"][0]["verified"] is False


# -- the verification, show_verification_ui and require_verified_address actions ---------------


async def test_registration_sends_a_code_and_shows_the_verification_ui(make: Any) -> None:
    hooks = {"hooks": [{"hook": "session"}, {"hook": "show_verification_ui"}]}
    kc = await make(flows={"registration": {"after": {"password": hooks}}})
    flow = await kc.api_flow("registration")
    done = await kc.submit(
        "registration", flow["id"], {"method": "password", "password": PASSWORD, "traits": {"email": EMAIL}}
    )
    assert done.status_code == 200, done.text
    body = done.json()
    show, token_item = body["continue_with"]
    assert show["action"] == "show_verification_ui" and token_item["action"] == "set_ory_session_token"
    assert show["flow"]["verifiable_address"] == EMAIL and "url" not in show["flow"]  # API flows have no UI URL
    assert body["identity"]["verifiable_addresses"][0]["verified"] is False

    verification = (await kc.fetch("verification", show["flow"]["id"])).json()
    assert verification["state"] == "sent_email" and verification["type"] == "api"
    assert (await kc.identity(body["identity"]["id"]))["verifiable_addresses"][0]["status"] == "sent"
    code = (await kc.last("verification_code_valid"))["verification_code"]
    verified = await kc.submit("verification", show["flow"]["id"], {"method": "code", "code": code})
    assert verified.json()["state"] == "passed_challenge"
    assert (await kc.identity(body["identity"]["id"]))["verifiable_addresses"][0]["verified"] is True


async def test_browser_registration_goes_to_the_verification_ui(make: Any) -> None:
    hooks = {"hooks": [{"hook": "session"}, {"hook": "show_verification_ui"}]}
    kc = await make(flows={"registration": {"after": {"password": hooks}}})
    browser = kc.client()
    flow_id = await kc.start("registration", browser)
    token = await kc.csrf("registration", flow_id, browser)
    form = {"csrf_token": token, "method": "password", "password": PASSWORD, "traits.email": EMAIL}
    done = await kc.post_form("registration", flow_id, browser, form)
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert location.startswith(f"{UI}/verification?flow=") and SESSION_COOKIE in browser.cookies
    # The flow was made before registration renewed the anti-CSRF cookie; its owner can read it.
    fetched = await kc.fetch("verification", query(location)["flow"], browser)
    assert fetched.status_code == 200 and fetched.json()["state"] == "sent_email"
    assert (await kc.fetch("verification", query(location)["flow"], kc.client())).status_code == 403


async def test_registration_without_verification_enabled_sends_nothing(make: Any) -> None:
    kc = await make(flows={"verification": {"enabled": False}})
    flow = await kc.api_flow("registration")
    done = await kc.submit(
        "registration", flow["id"], {"method": "password", "password": PASSWORD, "traits": {"email": EMAIL}}
    )
    assert done.status_code == 200 and await kc.messages() == []


async def test_require_verified_address_aborts_the_login(make: Any) -> None:
    kc = await make(flows={"login": {"after": {"password": {"hooks": [{"hook": "require_verified_address"}]}}}})
    identity = await kc.create_identity(password=True)
    flow = await kc.api_flow("login")
    refused = await kc.submit("login", flow["id"], {"method": "password", "identifier": EMAIL, "password": PASSWORD})
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["id"] == "session_verified_address_required" and error["code"] == 400
    [item] = error["details"]["continue_with"]
    assert item["action"] == "show_verification_ui" and item["flow"]["verifiable_address"] == EMAIL
    assert item["flow"]["url"] == f"{UI}/verification?flow={item['flow']['id']}"
    assert await kc.active_sessions(identity["id"]) == 0

    code = (await kc.last("verification_code_valid"))["verification_code"]
    verified = await kc.submit("verification", item["flow"]["id"], {"method": "code", "code": code})
    assert verified.json()["state"] == "passed_challenge"
    flow = await kc.api_flow("login")
    ok = await kc.submit("login", flow["id"], {"method": "password", "identifier": EMAIL, "password": PASSWORD})
    assert ok.status_code == 200 and ok.json()["session_token"]


async def test_require_verified_address_sends_browsers_to_the_verification_ui(make: Any) -> None:
    kc = await make(flows={"login": {"after": {"password": {"hooks": [{"hook": "require_verified_address"}]}}}})
    await kc.create_identity(password=True)
    browser = kc.client()
    flow_id = await kc.start("login", browser)
    token = await kc.csrf("login", flow_id, browser)
    form = {"csrf_token": token, "method": "password", "identifier": EMAIL, "password": PASSWORD}
    response = await kc.post_form("login", flow_id, browser, form)
    assert response.status_code == 303 and response.headers["location"].startswith(f"{UI}/verification?flow=")
    assert SESSION_COOKIE not in browser.cookies
    verification = (await kc.fetch("verification", query(response.headers["location"])["flow"], browser)).json()
    assert verification["state"] == "sent_email" and verification["type"] == "browser"


async def test_verification_on_postgres_and_sqlite(any_dsn: str, make: Any) -> None:
    kc = await make(any_dsn)
    identity = await kc.create_identity()
    flow_id, _ = await send_code(kc)
    code = (await kc.last("verification_code_valid"))["verification_code"]
    wrong = "000000" if code != "000000" else "111111"
    assert message_ids((await kc.submit("verification", flow_id, {"method": "code", "code": wrong})).json()) == [
        4070006
    ]
    done = await kc.submit("verification", flow_id, {"method": "code", "code": code})
    assert done.json()["state"] == "passed_challenge"
    assert (await kc.identity(identity["id"]))["verifiable_addresses"][0]["verified"] is True
    count = await kc.app.db.fetchval("SELECT code_submit_count FROM selfservice_flows WHERE id = $1", _uuid(flow_id))
    assert count == 2


@pytest.mark.parametrize("kind", ["verification", "recovery"])
async def test_garbage_never_causes_a_server_error(kc: Kratos, kind: str) -> None:
    await kc.create_identity()
    flow = await kc.api_flow(kind)
    bodies: list[dict[str, Any]] = [
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"content": b"[1, 2]", "headers": {"Content-Type": "application/json"}},
        {"content": b"\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        {"content": b"hello", "headers": {"Content-Type": "text/plain"}},
        {"json": {"method": ["code"], "email": EMAIL}},
        {"json": {"method": "code", "email": {"a": 1}}},
        {"json": {"method": "code", "code": {"a": 1}}},
        {"json": {"method": "code", "code": 123456}},
        {"json": {"method": "code", "email": 42}},
        {"json": {"method": "code", "email": "x" * 5000}},
        {"json": {"method": "code", "email": EMAIL, "transient_payload": "not an object"}},
        {"json": {"method": "link", "token": "t"}},
        {"json": {"method": "nope"}},
    ]
    for body in bodies:
        response = await kc.api.post(f"/self-service/{kind}", params={"flow": flow["id"]}, **body)
        assert response.status_code < 500, (body, response.text)
    for params in ({"flow": "not-a-uuid"}, {}, {"flow": "00000000-0000-4000-8000-000000000000"}):
        response = await kc.api.post(f"/self-service/{kind}", params=params, json={"method": "code"})
        assert response.status_code in (400, 404), response.text
    for params in ({"flow": flow["id"], "code": "1"}, {"flow": flow["id"], "token": "x"}, {"flow": flow["id"]}):
        response = await kc.client().get(f"/self-service/{kind}", params=params)
        assert response.status_code < 500, response.text
