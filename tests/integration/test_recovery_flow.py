"""Recovery flows over HTTP with the code and link methods (kratos-behaviour.md 1.8, 3.2, 3.3, 6.2, 6.3).

The hand-over after success differs per client (section 1.8, pitfall 24): browsers get the
session cookie and a 303 to the settings UI, SPAs and native apps a 422 pointing there, or with
``feature_flags.use_continue_with_transitions`` the flow with ``continue_with``.
"""

from __future__ import annotations

from typing import Any

from kratos_core import hookimpl
from kratos_core.errors import Forbidden
from kratos_core.flows.errors import FlowValidationError
from kratos_core.testing import HookRecorder
from kratos_core.ui import messages
from tests.integration.test_verification_flow import (  # noqa: F401 - kc and make are fixtures
    CSRF_COOKIE,
    EMAIL,
    JSON,
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

#: ``make(**TRANSITIONS_ON)`` builds an app with ``feature_flags.use_continue_with_transitions``.
TRANSITIONS_ON = {"sections": {"feature_flags": {"use_continue_with_transitions": True}}}


async def request_code(kc: Kratos, email: str = EMAIL) -> tuple[str, Any]:
    flow = await kc.api_flow("recovery")
    response = await kc.submit("recovery", flow["id"], {"method": "code", "email": email})
    return flow["id"], response


async def whoami(kc: Kratos, token: str) -> dict[str, Any]:
    response = await kc.client().get("/sessions/whoami", headers={"X-Session-Token": token})
    assert response.status_code == 200, response.text
    return response.json()


# -- native apps -----------------------------------------------------------------------------


async def test_api_recovery_without_transitions_answers_422(kc: Kratos) -> None:
    identity = await kc.create_identity()
    flow = await kc.api_flow("recovery")
    assert flow["state"] == "choose_method" and node(flow, "email")["group"] == "code"
    sent = await kc.submit("recovery", flow["id"], {"method": "code", "email": EMAIL})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["state"] == "sent_email" and message_ids(body) == [1060003]
    assert node(body, "code")["attributes"]["maxlength"] == 6 and node(body, "code")["meta"]["label"]["id"] == 1070010
    code = (await kc.last("recovery_code_valid"))["recovery_code"]

    done = await kc.submit("recovery", flow["id"], {"method": "code", "code": code})
    assert done.status_code == 422, done.text
    error = done.json()
    assert error["error"]["id"] == "browser_location_change_required"
    assert error["redirect_browser_to"].startswith(f"{UI}/settings?flow=")
    # The session exists (method code_recovery, aal1), and the recovery address is verified.
    row = await kc.app.db.fetchrow(
        "SELECT aal, authentication_methods FROM sessions WHERE identity_id = $1 AND active", _id(identity)
    )
    assert row["aal"] == "aal1" and row["authentication_methods"][0]["method"] == "code_recovery"
    assert (await kc.identity(identity["id"]))["verifiable_addresses"][0]["verified"] is True
    assert (await kc.fetch("recovery", flow["id"])).json()["state"] == "passed_challenge"


async def test_api_recovery_with_transitions_hands_over_the_token(make: Any) -> None:
    kc = await make(**TRANSITIONS_ON)
    identity = await kc.create_identity()
    flow_id, _ = await request_code(kc)
    code = (await kc.last("recovery_code_valid"))["recovery_code"]
    done = await kc.submit("recovery", flow_id, {"method": "code", "code": code})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["state"] == "passed_challenge"
    token_item, settings_item = body["continue_with"]
    assert token_item["action"] == "set_ory_session_token" and token_item["ory_session_token"].startswith("ory_st_")
    assert settings_item["action"] == "show_settings_ui"
    assert settings_item["flow"]["url"] == f"{UI}/settings?flow={settings_item['flow']['id']}"
    me = await whoami(kc, token_item["ory_session_token"])
    assert me["identity"]["id"] == identity["id"] and me["authenticator_assurance_level"] == "aal1"
    assert [m["method"] for m in me["authentication_methods"]] == ["code_recovery"]
    settings = await kc.client().get(
        "/self-service/settings/flows",
        params={"id": settings_item["flow"]["id"]},
        headers={"X-Session-Token": token_item["ory_session_token"]},
    )
    assert settings.status_code == 200, settings.text
    assert 1060001 in message_ids(settings.json())


async def test_unknown_addresses_get_the_same_answer(kc: Kratos) -> None:
    await kc.create_identity()
    _, known = await request_code(kc, EMAIL)
    _, unknown = await request_code(kc, "nobody@example.org")
    assert known.status_code == unknown.status_code == 200

    def shape(flow: dict[str, Any]) -> Any:
        return (
            flow["state"],
            message_ids(flow),
            [(n["group"], n["attributes"].get("name"), n["attributes"].get("type")) for n in flow["ui"]["nodes"]],
        )

    assert shape(known.json()) == shape(unknown.json())
    assert await kc.messages(recipient="nobody@example.org") == []


async def test_unknown_and_disabled_accounts_are_notified_when_configured(make: Any) -> None:
    kc = await make(flows={"recovery": {"notify_unknown_recipients": True}})
    await kc.create_identity("off@example.org", state="inactive")
    for email in ("nobody@example.org", "off@example.org"):
        _, response = await request_code(kc, email)
        assert response.status_code == 200 and response.json()["state"] == "sent_email"
        [sent] = await kc.messages(recipient=email)
        assert sent["template_type"] == "recovery_code_invalid"


async def test_a_phone_number_is_not_a_recovery_address(kc: Kratos) -> None:
    flow_id, response = await request_code(kc, "+4915123456789")
    assert response.status_code == 200 and response.json()["state"] == "sent_email"
    assert await kc.messages() == []


async def test_missing_email_and_missing_code(kc: Kratos) -> None:
    flow = await kc.api_flow("recovery")
    missing = await kc.submit("recovery", flow["id"], {"method": "code"})
    assert missing.status_code == 400 and [m["id"] for m in node(missing.json(), "email")["messages"]] == [4000002]
    await kc.submit("recovery", flow["id"], {"method": "code", "email": EMAIL})
    no_code = await kc.submit("recovery", flow["id"], {"method": "code"})
    assert no_code.status_code == 400 and [m["id"] for m in node(no_code.json(), "code")["messages"]] == [4000002]


async def test_wrong_code_then_guessing_replaces_the_flow(kc: Kratos) -> None:
    identity = await kc.create_identity()
    flow_id, _ = await request_code(kc)
    code = (await kc.last("recovery_code_valid"))["recovery_code"]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        response = await kc.submit("recovery", flow_id, {"method": "code", "code": wrong})
        assert response.status_code == 200 and message_ids(response.json()) == [4060006]
    refused = await kc.submit("recovery", flow_id, {"method": "code", "code": code})
    # Without continue-with transitions JSON callers are sent to the new flow (section 3.3).
    assert refused.status_code == 303
    assert refused.headers["location"].startswith(f"{PUBLIC}/self-service/recovery/flows?id=")
    new = (await kc.api.get(refused.headers["location"])).json()
    assert [m["id"] for m in new["ui"]["messages"]] == [4000001]
    assert await kc.active_sessions(identity["id"]) == 0


async def test_guessing_with_transitions_answers_410_with_continue_with(make: Any) -> None:
    kc = await make(**TRANSITIONS_ON, methods={"code": {"config": {"max_submissions": 1}}})
    await kc.create_identity()
    flow_id, _ = await request_code(kc)
    first = await kc.submit("recovery", flow_id, {"method": "code", "code": "999999x"})
    assert first.status_code == 200 and message_ids(first.json()) == [4060006]
    refused = await kc.submit("recovery", flow_id, {"method": "code", "code": "999999x"})
    assert refused.status_code == 410
    body = refused.json()
    [item] = body["error"]["details"]["continue_with"]
    assert item["action"] == "show_recovery_ui" and item["flow"]["id"] == body["use_flow_id"]


async def test_replaying_a_finished_flow_gives_a_new_flow(kc: Kratos) -> None:
    await kc.create_identity()
    flow_id, _ = await request_code(kc)
    code = (await kc.last("recovery_code_valid"))["recovery_code"]
    assert (await kc.submit("recovery", flow_id, {"method": "code", "code": code})).status_code == 422
    replay = await kc.submit("recovery", flow_id, {"method": "code", "code": code})
    assert replay.status_code == 303
    new = (await kc.api.get(replay.headers["location"])).json()
    assert message_ids(new) == [4060001]


async def test_a_resend_replaces_the_code(kc: Kratos) -> None:
    await kc.create_identity()
    flow_id, _ = await request_code(kc)
    first = (await kc.last("recovery_code_valid"))["recovery_code"]
    resent = await kc.submit("recovery", flow_id, {"method": "code", "email": EMAIL})
    assert resent.status_code == 200 and resent.json()["state"] == "sent_email"
    second = (await kc.last("recovery_code_valid"))["recovery_code"]
    assert len(await kc.messages("recovery_code_valid")) == 2
    if first != second:
        stale = await kc.submit("recovery", flow_id, {"method": "code", "code": first})
        assert message_ids(stale.json()) == [4060006]
    assert (await kc.submit("recovery", flow_id, {"method": "code", "code": second})).status_code == 422


async def test_expired_flows_and_codes(kc: Kratos) -> None:
    await kc.create_identity()
    flow_id, _ = await request_code(kc)
    code = (await kc.last("recovery_code_valid"))["recovery_code"]
    await kc.expire_codes(flow_id)
    expired_code = await kc.submit("recovery", flow_id, {"method": "code", "code": code})
    assert expired_code.status_code == 200 and message_ids(expired_code.json()) == [4060006]
    await kc.expire_flow(flow_id)
    late = await kc.submit("recovery", flow_id, {"method": "code", "code": code})
    assert late.status_code == 303
    new = (await kc.api.get(late.headers["location"])).json()
    assert message_ids(new) == [4060005] and new["state"] == "choose_method"


async def test_expired_api_flow_with_transitions_answers_410(make: Any) -> None:
    kc = await make(**TRANSITIONS_ON)
    flow = await kc.api_flow("recovery")
    await kc.expire_flow(flow["id"])
    late = await kc.submit("recovery", flow["id"], {"method": "code", "email": EMAIL})
    assert late.status_code == 410
    body = late.json()
    assert body["error"]["id"] == "self_service_flow_expired"
    assert body["error"]["details"]["continue_with"][0]["action"] == "show_recovery_ui"


async def test_signed_in_users_cannot_start_recovery(kc: Kratos) -> None:
    await kc.create_identity(password=True)
    login = await kc.api_flow("login")
    token = (
        await kc.submit(
            "login",
            login["id"],
            {"method": "password", "identifier": EMAIL, "password": "correct horse battery staple"},
        )
    ).json()["session_token"]
    refused = await kc.client().get("/self-service/recovery/api", headers={"X-Session-Token": token})
    assert refused.status_code == 400 and refused.json()["error"]["id"] == "session_already_available"


async def test_disabled_recovery(make: Any) -> None:
    kc = await make(flows={"recovery": {"enabled": False}})
    response = await kc.api.get("/self-service/recovery/api")
    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "Recovery is not allowed because it was disabled."


# -- browsers --------------------------------------------------------------------------------


async def test_browser_recovery_signs_in_and_goes_to_settings(kc: Kratos) -> None:
    identity = await kc.create_identity()
    browser = kc.client()
    flow_id = await kc.start("recovery", browser)
    token = await kc.csrf("recovery", flow_id, browser)
    sent = await kc.post_form("recovery", flow_id, browser, {"csrf_token": token, "method": "code", "email": EMAIL})
    assert sent.status_code == 303 and sent.headers["location"] == f"{UI}/recovery?flow={flow_id}"
    code = (await kc.last("recovery_code_valid"))["recovery_code"]
    without_csrf = await kc.post_form("recovery", flow_id, browser, {"method": "code", "code": code})
    assert without_csrf.status_code == 303 and without_csrf.headers["location"].startswith(f"{UI}/error?id=")

    csrf_before = browser.cookies[CSRF_COOKIE]
    token = await kc.csrf("recovery", flow_id, browser)
    done = await kc.post_form("recovery", flow_id, browser, {"csrf_token": token, "method": "code", "code": code})
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert location.startswith(f"{UI}/settings?flow=")
    assert SESSION_COOKIE in browser.cookies and browser.cookies[CSRF_COOKIE] != csrf_before
    me = (await browser.get("/sessions/whoami")).json()
    assert me["identity"]["id"] == identity["id"] and me["authentication_methods"][0]["method"] == "code_recovery"
    settings = await browser.get("/self-service/settings/flows", params={"id": query(location)["flow"]})
    assert settings.status_code == 200, settings.text
    [notice] = [m for m in settings.json()["ui"]["messages"] if m["id"] == 1060001]
    assert notice["type"] == "success" and "privileged_session_expires_at" in notice["context"]


async def test_spa_recovery_without_transitions_answers_422(kc: Kratos) -> None:
    await kc.create_identity()
    browser = kc.client()
    flow = (await browser.get("/self-service/recovery/browser", headers=JSON)).json()
    token = node(flow, "csrf_token")["attributes"]["value"]
    await kc.submit("recovery", flow["id"], {"method": "code", "email": EMAIL, "csrf_token": token}, client=browser)
    code = (await kc.last("recovery_code_valid"))["recovery_code"]
    done = await kc.submit(
        "recovery", flow["id"], {"method": "code", "code": code, "csrf_token": token}, client=browser
    )
    assert done.status_code == 422 and done.json()["redirect_browser_to"].startswith(f"{UI}/settings?flow=")
    assert SESSION_COOKIE in browser.cookies


async def test_spa_recovery_with_transitions_gets_continue_with(make: Any) -> None:
    kc = await make(**TRANSITIONS_ON)
    await kc.create_identity()
    spa = kc.client()
    flow = (await spa.get("/self-service/recovery/browser", headers=JSON)).json()
    token = node(flow, "csrf_token")["attributes"]["value"]
    await kc.submit("recovery", flow["id"], {"method": "code", "email": EMAIL, "csrf_token": token}, client=spa)
    code = (await kc.last("recovery_code_valid"))["recovery_code"]
    done = await kc.submit("recovery", flow["id"], {"method": "code", "code": code, "csrf_token": token}, client=spa)
    assert done.status_code == 200, done.text
    [item] = done.json()["continue_with"]  # browsers get the cookie, never the token
    assert item["action"] == "show_settings_ui"
    assert SESSION_COOKIE in spa.cookies


async def test_skip_settings_sends_the_browser_to_return_to(kc: Kratos) -> None:
    await kc.create_identity()
    browser = kc.client()
    flow_id = await kc.start("recovery", browser, skip_settings="true", return_to=f"{UI}/back")
    token = await kc.csrf("recovery", flow_id, browser)
    await kc.post_form("recovery", flow_id, browser, {"csrf_token": token, "method": "code", "email": EMAIL})
    code = (await kc.last("recovery_code_valid"))["recovery_code"]
    done = await kc.post_form("recovery", flow_id, browser, {"csrf_token": token, "method": "code", "code": code})
    assert done.status_code == 303 and done.headers["location"] == f"{UI}/back"
    assert SESSION_COOKIE in browser.cookies
    assert int(await kc.app.db.fetchval("SELECT count(*) FROM selfservice_flows WHERE kind = 'settings'")) == 0


# -- after hooks -----------------------------------------------------------------------------


async def test_revoke_active_sessions_keeps_only_the_recovery_session(make: Any) -> None:
    kc = await make(flows={"recovery": {"after": {"hooks": [{"hook": "revoke_active_sessions"}]}}})
    identity = await kc.create_identity(password=True)
    for _ in range(2):
        login = await kc.api_flow("login")
        await kc.submit(
            "login",
            login["id"],
            {"method": "password", "identifier": EMAIL, "password": "correct horse battery staple"},
        )
    assert await kc.active_sessions(identity["id"]) == 2
    flow_id, _ = await request_code(kc)
    code = (await kc.last("recovery_code_valid"))["recovery_code"]
    assert (await kc.submit("recovery", flow_id, {"method": "code", "code": code})).status_code == 422
    rows = await kc.app.db.fetch(
        "SELECT authentication_methods FROM sessions WHERE identity_id = $1 AND active", _id(identity)
    )
    assert [r["authentication_methods"][0]["method"] for r in rows] == ["code_recovery"]


async def test_a_failing_recovery_after_hook_revokes_the_new_session(make: Any) -> None:
    class Veto:
        @hookimpl
        async def kratos_recovery_after(self, flow: Any, identity: Any, session: Any) -> None:
            raise Forbidden("recovery is closed today")

    kc = await make(plugins=[Veto()])
    identity = await kc.create_identity()
    flow_id, _ = await request_code(kc)
    code = (await kc.last("recovery_code_valid"))["recovery_code"]
    refused = await kc.submit("recovery", flow_id, {"method": "code", "code": code})
    assert refused.status_code == 403 and refused.json()["error"]["reason"] == "recovery is closed today"
    assert await kc.active_sessions(identity["id"]) == 0
    assert int(await kc.app.db.fetchval("SELECT count(*) FROM selfservice_flows WHERE kind = 'settings'")) == 0


# -- the link method -------------------------------------------------------------------------


async def test_link_recovery_signs_the_browser_in(make: Any) -> None:
    kc = await make(methods={"link": {"enabled": True}}, flows={"recovery": {"use": "link"}})
    identity = await kc.create_identity()
    flow = await kc.api_flow("recovery")
    sent = await kc.submit("recovery", flow["id"], {"method": "link", "email": EMAIL})
    assert sent.status_code == 200 and message_ids(sent.json()) == [1060002] and sent.json()["state"] == "sent_email"
    url = (await kc.last("recovery_valid"))["recovery_url"]
    assert query(url)["flow"] == flow["id"] and len(query(url)["token"]) == 32

    browser = kc.client()
    opened = await browser.get(url)
    # A link opened in a browser signs that browser in, even for a flow an app started.
    assert opened.status_code == 303 and opened.headers["location"].startswith(f"{UI}/settings?flow=")
    assert SESSION_COOKIE in browser.cookies
    rows = await kc.app.db.fetch(
        "SELECT authentication_methods FROM sessions WHERE identity_id = $1 AND active", _id(identity)
    )
    assert [r["authentication_methods"][0]["method"] for r in rows] == ["link_recovery"]
    assert (await kc.identity(identity["id"]))["verifiable_addresses"][0]["verified"] is True


async def test_link_recovery_in_a_browser_and_used_or_forged_tokens(make: Any) -> None:
    kc = await make(methods={"link": {"enabled": True}}, flows={"recovery": {"use": "link"}})
    await kc.create_identity()
    browser = kc.client()
    flow_id = await kc.start("recovery", browser)
    token = await kc.csrf("recovery", flow_id, browser)
    sent = await kc.post_form("recovery", flow_id, browser, {"csrf_token": token, "method": "link", "email": EMAIL})
    assert sent.status_code == 303
    url = (await kc.last("recovery_valid"))["recovery_url"]
    opened = await browser.get(url)
    assert opened.status_code == 303 and opened.headers["location"].startswith(f"{UI}/settings?flow=")
    assert SESSION_COOKIE in browser.cookies

    stranger = kc.client()
    again = await stranger.get(url)  # used (and the flow is finished): "invalid or already used"
    assert again.status_code == 303 and again.headers["location"].startswith(f"{UI}/recovery?flow=")
    replaced = (await kc.fetch("recovery", query(again.headers["location"])["flow"], stranger)).json()
    assert message_ids(replaced) == [4060004]
    other = await kc.api_flow("recovery")
    forged = await kc.client().get("/self-service/recovery", params={"flow": other["id"], "token": "x" * 32})
    assert forged.status_code == 303
    new_id = query(forged.headers["location"])["flow"]
    assert message_ids((await kc.fetch("recovery", new_id)).json()) == [4060004]


def _id(identity: dict[str, Any]) -> Any:
    import uuid

    return uuid.UUID(identity["id"])


# -- lifecycle hooks -------------------------------------------------------------------------


async def test_recovery_and_verification_hooks_fire_in_order(make: Any) -> None:
    recorder = HookRecorder()
    kc = await make(plugins=[recorder])
    identity = await kc.create_identity()
    recorder.clear()
    flow_id, _ = await request_code(kc)
    code = (await kc.last("recovery_code_valid"))["recovery_code"]
    assert (await kc.submit("recovery", flow_id, {"method": "code", "code": code})).status_code == 422
    verification = await kc.api_flow("verification")
    await kc.submit("verification", verification["id"], {"method": "code", "email": EMAIL})
    # The recovery already verified the address; verifying it again still runs the hooks.
    code = (await kc.last("verification_code_valid"))["verification_code"]
    assert (await kc.submit("verification", verification["id"], {"method": "code", "code": code})).status_code == 200
    wanted = ("kratos_recovery", "kratos_verification", "kratos_identity_pre", "kratos_identity_post", "kratos_settings_before")
    assert [n for n in recorder.names() if n.startswith(wanted)] == [
        "kratos_recovery_before",
        "kratos_identity_pre_persist",
        "kratos_identity_post_persist",
        "kratos_recovery_after",
        "kratos_settings_before",
        "kratos_verification_before",
        "kratos_identity_pre_persist",
        "kratos_identity_post_persist",
        "kratos_verification_after",
    ]
    [after] = recorder.of("kratos_recovery_after")
    assert str(after["identity"].id) == identity["id"] and after["session"].aal == "aal1"
    [verified] = recorder.of("kratos_verification_after")
    assert verified["address"].verified is True and verified["flow"].state == "passed_challenge"


async def test_before_hooks_can_show_messages_or_refuse(make: Any) -> None:
    class Gate:
        @hookimpl
        def kratos_recovery_before(self, flow: Any, request: Any) -> None:
            raise FlowValidationError.on_flow(messages.validation_generic("Recovery is watched."))

        @hookimpl
        def kratos_verification_before(self, flow: Any, request: Any) -> None:
            raise Forbidden("not today")

    kc = await make(plugins=[Gate()])
    shown = await kc.api.get("/self-service/recovery/api")
    assert shown.status_code == 400 and message_ids(shown.json()) == [4000001]
    assert (await kc.fetch("recovery", shown.json()["id"])).status_code == 200  # stored, with the message
    refused = await kc.api.get("/self-service/verification/api")
    assert refused.status_code == 403
    assert int(await kc.app.db.fetchval("SELECT count(*) FROM selfservice_flows WHERE kind = 'verification'")) == 0


async def test_a_completed_recovery_ends_the_accounts_other_codes_and_links(make: Any, any_dsn: str) -> None:
    """Issue 15: an older flow's code, or one an administrator made, stops working once another
    recovery of the same account completed."""
    kc = await make(any_dsn)
    identity = await kc.create_identity()
    older_id, _ = await request_code(kc)
    older_code = (await kc.last("recovery_code_valid"))["recovery_code"]
    admin = await kc.admin.post("/admin/recovery/code", json={"identity_id": identity["id"]})
    assert admin.status_code == 201, admin.text
    newer_id, _ = await request_code(kc)
    newer_code = (await kc.last("recovery_code_valid"))["recovery_code"]

    done = await kc.submit("recovery", newer_id, {"method": "code", "code": newer_code})
    assert done.status_code == 422, done.text

    stale = await kc.submit("recovery", older_id, {"method": "code", "code": older_code})
    # A used code ends its flow: a replacement flow, as for any used code (section 6.2).
    assert stale.status_code == 303, stale.text
    admin_flow = query(admin.json()["recovery_link"])["flow"]
    stale_admin = await kc.submit("recovery", admin_flow, {"method": "code", "code": admin.json()["recovery_code"]})
    assert stale_admin.status_code == 303, stale_admin.text
    sessions = await kc.app.db.fetchval("SELECT count(*) FROM sessions WHERE identity_id = $1", _id(identity))
    assert sessions == 1
