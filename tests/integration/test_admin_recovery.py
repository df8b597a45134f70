"""``POST /admin/recovery/code`` and ``/admin/recovery/link`` (kratos-behaviour.md section 5.3)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx

from tests.integration.test_verification_flow import (  # noqa: F401 - kc and make are fixtures
    ADMIN,
    PUBLIC,
    SESSION_COOKIE,
    UI,
    Kratos,
    kc,
    make,
    message_ids,
    node,
    query,
)

LINK_ON = {"methods": {"link": {"enabled": True}}}


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def create_code(kc: Kratos, identity_id: str, **body: Any) -> httpx.Response:
    return await kc.admin.post("/admin/recovery/code", json={"identity_id": identity_id, **body})


# -- codes -----------------------------------------------------------------------------------


async def test_admin_code_recovers_in_a_browser_that_never_saw_the_flow(kc: Kratos) -> None:
    identity = await kc.create_identity()
    before = dt.datetime.now(dt.UTC)
    response = await create_code(kc, identity["id"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"recovery_link", "recovery_code", "expires_at"}
    assert body["recovery_link"].startswith(f"{UI}/recovery?flow=")
    assert len(body["recovery_code"]) == 6 and body["recovery_code"].isdigit()
    assert dt.timedelta(minutes=59) < _when(body["expires_at"]) - before <= dt.timedelta(hours=1, seconds=5)
    assert await kc.messages() == []  # the administrator hands the code over, nothing is sent

    browser = kc.client()
    flow_id = query(body["recovery_link"])["flow"]
    fetched = await kc.fetch("recovery", flow_id, browser)
    assert fetched.status_code == 200, fetched.text  # no CSRF cookie needed for this flow
    flow = fetched.json()
    assert flow["state"] == "sent_email" and flow["type"] == "browser"
    assert node(flow, "method")["meta"]["label"]["id"] == 1070005
    done = await kc.post_form("recovery", flow_id, browser, {"method": "code", "code": body["recovery_code"]})
    assert done.status_code == 303 and done.headers["location"].startswith(f"{UI}/settings?flow=")
    assert SESSION_COOKIE in browser.cookies
    # An administrator's code proves nothing about the address: it stays unverified.
    assert (await kc.identity(identity["id"]))["verifiable_addresses"][0]["verified"] is False


async def test_admin_code_for_native_apps_and_custom_expiry(make: Any) -> None:
    kc = await make(sections={"feature_flags": {"use_continue_with_transitions": True}})
    identity = await kc.create_identity()
    before = dt.datetime.now(dt.UTC)
    response = await create_code(kc, identity["id"], expires_in="10m", flow_type="api")
    assert response.status_code == 201, response.text
    body = response.json()
    assert dt.timedelta(minutes=9) < _when(body["expires_at"]) - before <= dt.timedelta(minutes=10, seconds=5)
    flow_id = query(body["recovery_link"])["flow"]
    flow = (await kc.fetch("recovery", flow_id)).json()
    assert flow["type"] == "api" and _when(flow["expires_at"]) == _when(body["expires_at"])
    done = await kc.submit("recovery", flow_id, {"method": "code", "code": body["recovery_code"]})
    assert done.status_code == 200, done.text
    assert [c["action"] for c in done.json()["continue_with"]] == ["set_ory_session_token", "show_settings_ui"]


async def test_admin_code_wrong_guesses_count_too(kc: Kratos) -> None:
    identity = await kc.create_identity()
    body = (await create_code(kc, identity["id"], flow_type="api")).json()
    flow_id = query(body["recovery_link"])["flow"]
    wrong = "000000" if body["recovery_code"] != "000000" else "111111"
    response = await kc.submit("recovery", flow_id, {"method": "code", "code": wrong})
    assert response.status_code == 200 and message_ids(response.json()) == [4060006]
    assert (await kc.submit("recovery", flow_id, {"method": "code", "code": body["recovery_code"]})).status_code == 422


async def test_admin_code_refuses_bad_input(kc: Kratos) -> None:
    identity = await kc.create_identity()
    unknown = await create_code(kc, str(uuid.uuid4()))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == 404
    for bad in ({"identity_id": "nope"}, {}, {"identity_id": identity["id"], "expires_in": "soon"}):
        response = await kc.admin.post("/admin/recovery/code", json=bad)
        assert response.status_code == 400, (bad, response.text)
    negative = await create_code(kc, identity["id"], expires_in="-1h")
    assert negative.status_code == 400 and "expires_in" in negative.json()["error"]["reason"]
    # Longer than any Go duration (and past year 9999 from now): 400, not an overflow's 500.
    for huge in ("100000000h", "9999999999999999999s"):
        overflow = await create_code(kc, identity["id"], expires_in=huge)
        assert overflow.status_code == 400 and "expires_in" in overflow.json()["error"]["reason"]
    bad_type = await create_code(kc, identity["id"], flow_type="carrier-pigeon")
    assert bad_type.status_code == 400
    not_json = await kc.admin.post(
        "/admin/recovery/code", content=b"identity_id=x", headers={"Content-Type": "text/plain"}
    )
    assert not_json.status_code == 400
    assert int(await kc.app.db.fetchval("SELECT count(*) FROM selfservice_flows")) == 0  # nothing half-written


async def test_admin_code_when_recovery_or_the_method_is_off(make: Any) -> None:
    off = await make(flows={"recovery": {"enabled": False}})
    identity = await off.create_identity()
    response = await create_code(off, identity["id"])
    assert response.status_code == 400 and "disabled" in response.json()["error"]["reason"]
    no_code = await make(methods={"code": {"enabled": False}})
    identity = await no_code.create_identity("other@example.org")
    response = await create_code(no_code, identity["id"])
    assert response.status_code == 404 and "disabled by system administrator" in response.json()["error"]["reason"]


async def test_admin_routes_answer_without_the_prefix_and_only_on_the_admin_port(kc: Kratos) -> None:
    identity = await kc.create_identity()
    assert (await kc.admin.post("/recovery/code", json={"identity_id": identity["id"]})).status_code == 201
    hop = await kc.api.post("/recovery/code", json={"identity_id": identity["id"]})
    assert hop.status_code == 307 and hop.headers["location"] == f"{ADMIN}/recovery/code"


# -- links -----------------------------------------------------------------------------------


async def test_admin_link_signs_the_user_in_once(make: Any) -> None:
    kc = await make(**LINK_ON)
    identity = await kc.create_identity()
    response = await kc.admin.post("/admin/recovery/link", json={"identity_id": identity["id"], "expires_in": "30m"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"recovery_link", "expires_at"}
    link = query(body["recovery_link"])
    assert body["recovery_link"].startswith(f"{PUBLIC}/self-service/recovery?") and len(link["token"]) == 32

    browser = kc.client()
    opened = await browser.get(body["recovery_link"])
    assert opened.status_code == 303 and opened.headers["location"].startswith(f"{UI}/settings?flow=")
    me = (await browser.get("/sessions/whoami")).json()
    assert me["identity"]["id"] == identity["id"] and me["authentication_methods"][0]["method"] == "link_recovery"
    again = await kc.client().get(body["recovery_link"])
    assert again.status_code == 303 and again.headers["location"].startswith(f"{UI}/recovery?flow=")


async def test_admin_link_return_to_and_bad_input(make: Any) -> None:
    kc = await make(**LINK_ON)
    identity = await kc.create_identity()
    ok = await kc.admin.post(
        "/admin/recovery/link", params={"return_to": f"{UI}/after"}, json={"identity_id": identity["id"]}
    )
    assert ok.status_code == 200
    flow = (await kc.fetch("recovery", query(ok.json()["recovery_link"])["flow"])).json()
    assert flow["return_to"] == f"{UI}/after"
    forbidden = await kc.admin.post(
        "/admin/recovery/link", params={"return_to": "https://evil.example.com"}, json={"identity_id": identity["id"]}
    )
    assert forbidden.status_code == 400
    assert (await kc.admin.post("/admin/recovery/link", json={"identity_id": str(uuid.uuid4())})).status_code == 404
    for bad in ("-5m", "100000000h"):
        assert (
            await kc.admin.post("/admin/recovery/link", json={"identity_id": identity["id"], "expires_in": bad})
        ).status_code == 400


async def test_admin_link_needs_the_link_method(kc: Kratos) -> None:
    identity = await kc.create_identity()
    response = await kc.admin.post("/admin/recovery/link", json={"identity_id": identity["id"]})
    assert response.status_code == 404 and "disabled by system administrator" in response.json()["error"]["reason"]
