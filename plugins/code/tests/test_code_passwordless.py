"""Sign-in and sign-up by code through HTTP, with only kratos-core and this package.

Apps come from kratos-core's testing kit (``kratos_app_factory``); codes are read from the queued
courier messages, as a user reads them from their inbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kratos_core.testing import clients, default_config, merge

import kratos_code.plugin as code_plugin

EMAIL = "jane@example.org"
PASSWORDLESS: dict[str, Any] = {
    "methods": {"code": {"enabled": True, "passwordless_enabled": True}},
    "flows": {"registration": {"after": {"code": {"hooks": [{"hook": "session"}]}}}},
}


class Client:
    """The public and admin clients of one app, and its queued messages."""

    def __init__(self, app: Any, public: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
        self.app, self.public, self.admin = app, public, admin

    async def flow(self, kind: str) -> dict[str, Any]:
        response = await self.public.get(f"/self-service/{kind}/api")
        assert response.status_code == 200, response.text
        return response.json()

    async def submit(self, kind: str, flow_id: str, body: dict[str, Any]) -> httpx.Response:
        return await self.public.post(f"/self-service/{kind}", params={"flow": flow_id}, json=body)

    async def code(self, template_type: str, field: str, recipient: str = EMAIL) -> str:
        rows = await self.app.db.fetch(
            "SELECT template_data FROM courier_messages WHERE template_type = $1 AND recipient = $2 ORDER BY created_at DESC",
            template_type,
            recipient,
        )
        assert rows, f"no {template_type} message to {recipient}"
        return rows[0]["template_data"][field]

    async def create_identity(self, email: str = EMAIL) -> dict[str, Any]:
        response = await self.admin.post("/admin/identities", json={"schema_id": "default", "traits": {"email": email}})
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
async def kc(kratos_app_factory: Any, tmp_path: Path) -> AsyncIterator[Client]:
    config = merge(default_config(tmp_path), {"selfservice": PASSWORDLESS})
    app = await kratos_app_factory(config, plugins=[code_plugin])
    async with clients(app) as (public, admin):
        yield Client(app, public, admin)


def ids(flow: dict[str, Any]) -> list[int]:
    return [m["id"] for m in flow["ui"].get("messages", [])]


def names(flow: dict[str, Any]) -> list[tuple[str, str]]:
    return [(n["attributes"].get("name"), n["attributes"].get("type")) for n in flow["ui"]["nodes"]]


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


# -- login -----------------------------------------------------------------------------------


async def test_login_by_code(kc: Client) -> None:
    identity = await kc.create_identity()
    flow = await kc.flow("login")
    assert ("identifier", "text") in names(flow) and ("method", "submit") in names(flow)
    button = next(n for n in flow["ui"]["nodes"] if n["attributes"].get("name") == "method")
    assert button["group"] == "code" and button["meta"]["label"]["id"] == 1010015

    sent = await kc.submit("login", flow["id"], {"method": "code", "identifier": EMAIL})
    assert sent.status_code == 400, sent.text  # an intermediate step (pitfall 1)
    body = sent.json()
    assert body["state"] == "sent_email" and ids(body) == [1010014] and body["active"] == "code"
    assert names(body) == [
        ("identifier", "hidden"),
        ("code", "text"),
        ("method", "hidden"),
        ("method", "submit"),
        ("resend", "submit"),
    ]
    code = await kc.code("login_code_valid", "login_code")

    bad = await kc.submit("login", flow["id"], {"method": "code", "identifier": EMAIL, "code": wrong(code)})
    assert bad.status_code == 400 and ids(bad.json()) == [4010008]
    done = await kc.submit("login", flow["id"], {"method": "code", "identifier": EMAIL, "code": code})
    assert done.status_code == 200, done.text
    session = done.json()["session"]
    assert [m["method"] for m in session["authentication_methods"]] == ["code"]
    assert session["authenticator_assurance_level"] == "aal1"
    address = (await kc.admin.get(f"/admin/identities/{identity['id']}")).json()["verifiable_addresses"][0]
    assert address["verified"] is True and address["status"] == "completed"


async def test_login_by_code_for_unknown_identifiers(kc: Client) -> None:
    flow = await kc.flow("login")
    response = await kc.submit("login", flow["id"], {"method": "code", "identifier": "nobody@example.org"})
    assert response.status_code == 400 and ids(response.json()) == [4000035]
    missing = await kc.submit("login", flow["id"], {"method": "code"})
    assert missing.status_code == 400


async def test_login_resend_replaces_the_code(kc: Client) -> None:
    await kc.create_identity()
    flow = await kc.flow("login")
    await kc.submit("login", flow["id"], {"method": "code", "identifier": EMAIL})
    first = await kc.code("login_code_valid", "login_code")
    again = await kc.submit("login", flow["id"], {"method": "code", "identifier": EMAIL, "resend": "code"})
    assert again.status_code == 400 and again.json()["state"] == "sent_email"
    second = await kc.code("login_code_valid", "login_code")
    if first != second:
        stale = await kc.submit("login", flow["id"], {"method": "code", "identifier": EMAIL, "code": first})
        assert ids(stale.json()) == [4010008]
    assert (
        await kc.submit("login", flow["id"], {"method": "code", "identifier": EMAIL, "code": second})
    ).status_code == 200


async def test_login_guessing_stops_at_max_submissions(kc: Client) -> None:
    await kc.create_identity()
    flow = await kc.flow("login")
    await kc.submit("login", flow["id"], {"method": "code", "identifier": EMAIL})
    code = await kc.code("login_code_valid", "login_code")
    for _ in range(5):
        assert ids((await kc.submit("login", flow["id"], {"method": "code", "code": wrong(code)})).json()) == [4010008]
    refused = await kc.submit("login", flow["id"], {"method": "code", "code": code})
    # Login shows the refusal on the same flow (section 6.2), not on a replacement.
    assert refused.status_code == 400
    [notice] = refused.json()["ui"]["messages"]
    assert notice["id"] == 4000001 and "too often" in notice["text"]


async def test_codes_are_single_use(kc: Client) -> None:
    await kc.create_identity()
    flow = await kc.flow("login")
    await kc.submit("login", flow["id"], {"method": "code", "identifier": EMAIL})
    code = await kc.code("login_code_valid", "login_code")
    assert (await kc.submit("login", flow["id"], {"method": "code", "code": code})).status_code == 200
    replay = await kc.submit("login", flow["id"], {"method": "code", "code": code})
    assert replay.status_code == 400 and ids(replay.json()) == [4010007]  # the flow is finished


async def test_code_login_is_off_without_passwordless(kratos_app_factory: Any, tmp_path: Path) -> None:
    config = merge(default_config(tmp_path), {"selfservice": {"methods": {"code": {"enabled": True}}}})
    app = await kratos_app_factory(config, plugins=[code_plugin])
    async with clients(app) as (public, admin):
        kc = Client(app, public, admin)
        flow = await kc.flow("login")
        assert all(n["attributes"].get("value") != "code" for n in flow["ui"]["nodes"])
        response = await kc.submit("login", flow["id"], {"method": "code", "identifier": EMAIL})
        assert response.status_code == 400 and ids(response.json()) == [4010002]


# -- registration ----------------------------------------------------------------------------


async def test_registration_by_code(kc: Client) -> None:
    flow = await kc.flow("registration")
    traits = {"email": EMAIL, "name": {"first": "Jane"}}
    sent = await kc.submit("registration", flow["id"], {"method": "code", "traits": traits})
    assert sent.status_code == 400, sent.text
    body = sent.json()
    assert body["state"] == "sent_email" and ids(body) == [1040005]
    assert ("traits.email", "hidden") in names(body) and ("code", "text") in names(body)
    code = await kc.code("registration_code_valid", "registration_code")

    mismatch = await kc.submit(
        "registration", flow["id"], {"method": "code", "traits": {"email": "other@example.org"}, "code": code}
    )
    assert mismatch.status_code == 400 and ids(mismatch.json()) == [4000036]
    bad = await kc.submit("registration", flow["id"], {"method": "code", "traits": traits, "code": wrong(code)})
    assert bad.status_code == 400 and ids(bad.json()) == [4040003]
    done = await kc.submit("registration", flow["id"], {"method": "code", "traits": traits, "code": code})
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["session_token"] and result["continue_with"][0]["action"] == "set_ory_session_token"
    address = result["identity"]["verifiable_addresses"][0]
    assert address["verified"] is True and address["status"] == "completed"
    assert [m["method"] for m in result["session"]["authentication_methods"]] == ["code"]


async def test_registration_by_code_refuses_invalid_traits_and_taken_addresses(kc: Client) -> None:
    flow = await kc.flow("registration")
    invalid = await kc.submit("registration", flow["id"], {"method": "code", "traits": {"email": "not-an-email"}})
    assert invalid.status_code == 400 and invalid.json()["state"] == "choose_method"
    await kc.create_identity()
    flow = await kc.flow("registration")
    await kc.submit("registration", flow["id"], {"method": "code", "traits": {"email": EMAIL}})
    code = await kc.code("registration_code_valid", "registration_code")
    taken = await kc.submit("registration", flow["id"], {"method": "code", "traits": {"email": EMAIL}, "code": code})
    assert taken.status_code == 400 and ids(taken.json()) == [4000007]
