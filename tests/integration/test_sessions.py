"""Sessions over HTTP: whoami, the caller's own sessions, and session administration.

Login flows are not needed: sessions are issued through ``SessionManager.issue`` for identities
created through the identity manager, exactly as a flow would do at its end.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from litestar.datastructures import Headers

from kratos_core import hookimpl
from kratos_core.app import KratosApp
from kratos_core.errors import BadRequest
from kratos_core.identity.manager import IdentityDraft
from kratos_core.identity.model import Credential, Identity, utcnow
from kratos_core.session.cookie import SessionCookieCodec
from kratos_core.session.model import Session
from tests.conftest import base_config, make_app

NO_SESSION_REASON = "No valid session credentials found in the request."


# -- helpers (also used by the logout and query tests) ------------------------------------------


async def new_identity(app: KratosApp, email: str = "jane@example.org", **draft: Any) -> Identity:
    return await app.identities.create(
        IdentityDraft(schema_id="default", traits={"email": email, "name": {"first": "Jane"}}, **draft)
    )


def fake_request(headers: dict[str, str] | list[tuple[str, str]] | None = None, host: str = "10.0.0.1") -> Any:
    """The two things session issuing reads from a request: headers and the peer address."""
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
    return SimpleNamespace(headers=Headers(raw), client=SimpleNamespace(host=host))


async def issue(app: KratosApp, identity: Identity, method: str = "password", **kwargs: Any) -> tuple[Session, str]:
    kwargs.setdefault("request", fake_request({"user-agent": "pytest"}))
    return await app.sessions.issue(identity, method=method, **kwargs)


def cookie_header(app: KratosApp, session: Session, token: str) -> dict[str, str]:
    value = app.sessions.codec.encode(token, session.expires_at)
    return {"Cookie": f"ory_kratos_session={value}"}


def token_header(token: str) -> dict[str, str]:
    return {"X-Session-Token": token}


async def expire(app: KratosApp, session: Session) -> None:
    await app.db.execute("UPDATE sessions SET expires_at = $1 WHERE id = $2", utcnow() - dt.timedelta(seconds=1), session.id)


def assert_no_session(r: httpx.Response) -> None:
    assert r.status_code == 401
    err = r.json()["error"]
    assert "id" not in err
    assert err["reason"] == NO_SESSION_REASON
    assert err["message"] == "The request could not be authorized"


# -- whoami ---------------------------------------------------------------------------------------


async def test_whoami_by_session_token_header(app: KratosApp, public: httpx.AsyncClient) -> None:
    identity = await new_identity(app, metadata_admin={"secret": 1}, metadata_public={"nick": "jj"})
    session, token = await issue(app, identity, request=fake_request({"user-agent": "pytest"}, host="192.0.2.9"))
    assert token.startswith("ory_st_") and session.logout_token.startswith("ory_lo_")

    r = await public.get("/sessions/whoami", headers=token_header(token))
    assert r.status_code == 200
    assert r.headers["x-kratos-authenticated-identity-id"] == str(identity.id)
    assert "set-cookie" not in r.headers
    body = r.json()
    assert body["id"] == str(session.id)
    assert body["active"] is True
    assert body["authenticator_assurance_level"] == "aal1"
    [method] = body["authentication_methods"]
    assert (method["method"], method["aal"]) == ("password", "aal1")
    assert body["issued_at"] == body["authenticated_at"]
    expires = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    issued = dt.datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    assert expires - issued == dt.timedelta(hours=24)
    assert body["identity"]["id"] == str(identity.id)
    assert body["identity"]["metadata_public"] == {"nick": "jj"}
    # Public representation: no admin metadata, no credentials; never a token anywhere.
    assert "metadata_admin" not in body["identity"] and "credentials" not in body["identity"]
    assert token not in r.text and session.logout_token not in r.text
    [device] = body["devices"]
    assert device["ip_address"] == "192.0.2.9" and device["user_agent"] == "pytest" and device["location"] == ""


async def test_whoami_by_cookie_and_by_bearer(app: KratosApp, public: httpx.AsyncClient) -> None:
    session, token = await issue(app, await new_identity(app))
    r = await public.get("/sessions/whoami", headers=cookie_header(app, session, token))
    assert r.status_code == 200 and r.json()["id"] == str(session.id)
    for scheme in ("Bearer", "bearer", "BEARER"):
        r = await public.get("/sessions/whoami", headers={"Authorization": f"{scheme} {token}"})
        assert r.status_code == 200, scheme
    assert_no_session(await public.get("/sessions/whoami", headers={"Authorization": f"Basic {token}"}))


async def test_token_sources_are_tried_in_kratos_order(app: KratosApp, public: httpx.AsyncClient) -> None:
    session, token = await issue(app, await new_identity(app))
    # A present X-Session-Token wins even when it is garbage and a valid cookie is there too.
    headers = {**cookie_header(app, session, token), "X-Session-Token": "garbage"}
    assert_no_session(await public.get("/sessions/whoami", headers=headers))
    # A cookie that does not open is skipped in favour of the bearer token.
    headers = {"Cookie": "ory_kratos_session=not-a-cookie", "Authorization": f"Bearer {token}"}
    assert (await public.get("/sessions/whoami", headers=headers)).status_code == 200


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH"])
async def test_whoami_answers_every_method_but_delete(app: KratosApp, public: httpx.AsyncClient, method: str) -> None:
    _, token = await issue(app, await new_identity(app))
    r = await public.request(method, "/sessions/whoami", headers=token_header(token))
    assert r.status_code == 200
    assert (await public.delete("/sessions/whoami", headers=token_header(token))).status_code == 405


async def test_whoami_refusals_are_401_without_error_id(app: KratosApp, public: httpx.AsyncClient) -> None:
    identity = await new_identity(app)
    revoked, revoked_token = await issue(app, identity)
    await app.sessions.revoke(revoked.id)
    expired, expired_token = await issue(app, identity)
    await expire(app, expired)
    live, live_token = await issue(app, identity)
    foreign = SessionCookieCodec(["some-other-secret-of-enough-length"]).encode(live_token, live.expires_at)

    cases = [
        {},
        token_header("garbage"),
        token_header("ory_st_" + "A" * 32),  # well-formed, unknown
        token_header(revoked_token),
        token_header(expired_token),
        cookie_header(app, revoked, revoked_token),
        cookie_header(app, expired, expired_token),
        {"Cookie": "ory_kratos_session=garbage"},
        {"Cookie": f"ory_kratos_session={foreign}"},
        {"Authorization": "Bearer garbage"},
    ]
    for headers in cases:
        assert_no_session(await public.get("/sessions/whoami", headers=headers))
    assert (await public.get("/sessions/whoami", headers=token_header(live_token))).status_code == 200


async def test_inactive_identity_has_no_valid_session(app: KratosApp, public: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    identity = await new_identity(app)
    session, token = await issue(app, identity)
    r = await admin.patch(f"/admin/identities/{identity.id}", json=[{"op": "replace", "path": "/state", "value": "inactive"}])
    assert r.status_code == 200
    assert_no_session(await public.get("/sessions/whoami", headers=token_header(token)))
    r = await admin.get(f"/admin/sessions/{session.id}")
    assert r.status_code == 200 and r.json()["active"] is False


async def test_sessions_of_a_deactivated_identity_stay_revoked_after_reactivation(
    app: KratosApp, public: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    """Issue 15: deactivating an identity revokes its sessions for good (Kratos only hides them)."""
    identity = await new_identity(app)
    session, token = await issue(app, identity)
    for state in ("inactive", "active"):
        r = await admin.patch(f"/admin/identities/{identity.id}", json=[{"op": "replace", "path": "/state", "value": state}])
        assert r.status_code == 200, r.text
    assert_no_session(await public.get("/sessions/whoami", headers=token_header(token)))
    r = await admin.get(f"/admin/sessions/{session.id}")
    assert r.status_code == 200 and r.json()["active"] is False
    # The same through a full replacement (PUT), and new sessions work after re-activation.
    _, second = await issue(app, identity)
    body = (await admin.get(f"/admin/identities/{identity.id}")).json()
    for state in ("inactive", "active"):
        put = {"schema_id": "default", "traits": body["traits"], "state": state}
        assert (await admin.put(f"/admin/identities/{identity.id}", json=put)).status_code == 200
    assert_no_session(await public.get("/sessions/whoami", headers=token_header(second)))
    _, fresh = await issue(app, identity)
    assert (await public.get("/sessions/whoami", headers=token_header(fresh))).status_code == 200


async def test_issue_refuses_inactive_identities(app: KratosApp) -> None:
    identity = await new_identity(app, state="inactive")
    with pytest.raises(BadRequest) as err:
        await issue(app, identity)
    body = err.value.to_body()["error"]
    assert (body["id"], body["reason"]) == ("identity_disabled", "This account was disabled.")


async def test_device_records_proxy_ip_user_agents_and_location(app: KratosApp, public: httpx.AsyncClient) -> None:
    request = fake_request(
        [
            ("x-forwarded-for", "203.0.113.7, 10.0.0.2"),
            ("user-agent", "Mozilla/5.0"),
            ("user-agent", "(extra)"),
            ("cf-ipcity", "Berlin"),
            ("cf-ipcountry", "DE"),
        ]
    )
    _, token = await issue(app, await new_identity(app), request=request)
    [device] = (await public.get("/sessions/whoami", headers=token_header(token))).json()["devices"]
    assert device == {**device, "ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0 (extra)", "location": "Berlin, DE"}

    _, token = await issue(app, await new_identity(app, "b@example.org"), request=fake_request({"true-client-ip": "198.51.100.1", "x-forwarded-for": "203.0.113.7"}))
    [device] = (await public.get("/sessions/whoami", headers=token_header(token))).json()["devices"]
    assert device["ip_address"] == "198.51.100.1"


async def test_step_up_keeps_the_session_and_resets_its_times(app: KratosApp, public: httpx.AsyncClient) -> None:
    session, token = await issue(app, await new_identity(app))
    before = session.expires_at
    loaded = await app.sessions.get(session.id)
    stepped = await app.sessions.step_up(loaded, "totp", "aal2", fake_request({"user-agent": "phone"}))
    assert stepped.id == session.id and stepped.aal == "aal2"
    body = (await public.get("/sessions/whoami", headers=token_header(token))).json()
    assert body["id"] == str(session.id)
    assert [m["method"] for m in body["authentication_methods"]] == ["password", "totp"]
    assert body["authenticator_assurance_level"] == "aal2"
    assert len(body["devices"]) == 2
    assert dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")) > before


# -- the cookie -----------------------------------------------------------------------------------


def set_cookies(r: httpx.Response) -> list[str]:
    return r.headers.get_list("set-cookie")


async def test_whoami_reissues_a_cookie_older_than_the_session(app: KratosApp, public: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    session, token = await issue(app, await new_identity(app))
    cookie = cookie_header(app, session, token)
    assert set_cookies(await public.get("/sessions/whoami", headers=cookie)) == []

    await app.db.execute("UPDATE sessions SET expires_at = $1 WHERE id = $2", utcnow() + dt.timedelta(minutes=5), session.id)
    r = await admin.patch(f"/admin/sessions/{session.id}/extend")
    assert r.status_code == 200
    r = await public.get("/sessions/whoami", headers=cookie)
    assert r.status_code == 200
    [fresh] = set_cookies(r)
    value = fresh.split(";", 1)[0].split("=", 1)[1]
    payload = app.sessions.codec.decode(value)
    assert payload is not None and payload.session_token == token
    assert payload.expires_at == dt.datetime.fromisoformat(r.json()["expires_at"].replace("Z", "+00:00"))
    # Token-header callers have no cookie to refresh.
    assert set_cookies(await public.get("/sessions/whoami", headers=token_header(token))) == []


async def test_cookie_header_attributes_default(app: KratosApp) -> None:
    session, token = await issue(app, await new_identity(app))
    header = app.sessions.cookie_header(session, token)
    attrs = [p.strip() for p in header.split(";")]
    assert attrs[0].startswith("ory_kratos_session=")
    assert "HttpOnly" in attrs and "Path=/" in attrs and "SameSite=Lax" in attrs
    assert "Secure" not in attrs  # the test app runs with --dev
    max_age = int(next(a for a in attrs if a.startswith("Max-Age=")).split("=")[1])
    assert 86_390 <= max_age <= 86_400
    clear = app.sessions.clear_cookie_header()
    assert clear.startswith("ory_kratos_session=;") and "Max-Age=0" in clear and "Path=/" in clear


async def test_cookie_header_attributes_from_config(tmp_path: Path) -> None:
    cfg = base_config(
        tmp_path,
        session={"cookie": {"name": "sid", "persistent": False, "domain": "example.org", "path": "/auth", "same_site": "Strict"}},
        cookies={"secure": True},
    )
    app = make_app(tmp_path, cfg)
    await app.start(migrate=True)
    try:
        session, token = await issue(app, await new_identity(app))
        attrs = [p.strip() for p in app.sessions.cookie_header(session, token).split(";")]
        assert attrs[0].startswith("sid=")
        assert {"Domain=example.org", "Path=/auth", "SameSite=Strict", "Secure", "HttpOnly"} <= set(attrs)
        # Not persistent: a browser-session cookie without Max-Age/Expires.
        assert not any(a.startswith(("Max-Age", "Expires")) for a in attrs)
    finally:
        await app.stop()


# -- AAL ------------------------------------------------------------------------------------------


class _TotpMethod:
    """Declares what a TOTP method would: an aal2 second factor once a secret is set."""

    id = "totp"
    credential_type = "totp"
    config_model = None
    aal = "aal2"

    def second_factor(self, credential: Credential) -> bool:
        return bool(credential.config.get("totp_url"))


class TotpStub:
    """Provides the totp method id so that TOTP credentials count (their logic is not needed)."""

    @hookimpl
    def kratos_register_methods(self, register: Any) -> None:
        register(_TotpMethod())


async def started(tmp_path: Path, **sections: Any) -> KratosApp:
    sections.setdefault("selfservice", {"methods": {"totp": {"enabled": True}}})
    app = make_app(tmp_path, base_config(tmp_path, **sections), plugins=[TotpStub()])
    await app.start(migrate=True)
    return app


async def identity_with_totp(app: KratosApp) -> Identity:
    identity = await new_identity(app)
    now = utcnow()
    identity.credentials["totp"] = Credential(
        id=uuid.uuid4(), type="totp", identifiers=[str(identity.id)], config={"totp_url": "otpauth://totp/x?secret=JBSWY3DP"}, created_at=now, updated_at=now
    )
    return await app.identities.save(identity)


async def test_aal1_session_of_an_identity_with_a_second_factor_is_refused(tmp_path: Path) -> None:
    app = await started(tmp_path)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433") as public:
            session, token = await issue(app, await identity_with_totp(app))
            for path in ("/sessions/whoami", "/sessions"):
                r = await public.get(path, headers=token_header(token))
                assert r.status_code == 403, path
                body = r.json()
                assert body["error"]["id"] == "session_aal2_required"
                expected = "http://127.0.0.1:4433/self-service/login/browser?aal=aal2"
                assert body["redirect_browser_to"] == expected
                assert body["error"]["details"]["redirect_browser_to"] == expected
            await app.sessions.step_up(await app.sessions.get(session.id), "totp", "aal2", None)
            r = await public.get("/sessions/whoami", headers=token_header(token))
            assert r.status_code == 200 and r.json()["authenticator_assurance_level"] == "aal2"
    finally:
        await app.stop()


async def test_required_aal1_accepts_aal1_sessions(tmp_path: Path) -> None:
    app = await started(tmp_path, session={"whoami": {"required_aal": "aal1"}})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433") as public:
            _, token = await issue(app, await identity_with_totp(app))
            assert (await public.get("/sessions/whoami", headers=token_header(token))).status_code == 200
    finally:
        await app.stop()


async def test_credentials_of_disabled_methods_do_not_raise_the_bar(tmp_path: Path) -> None:
    app = await started(tmp_path, selfservice={"methods": {"totp": {"enabled": False}}})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433") as public:
            _, token = await issue(app, await identity_with_totp(app))
            assert (await public.get("/sessions/whoami", headers=token_header(token))).status_code == 200
    finally:
        await app.stop()


# -- the caller's own sessions --------------------------------------------------------------------


async def test_list_my_sessions_shows_only_other_active_ones(app: KratosApp, public: httpx.AsyncClient) -> None:
    identity = await new_identity(app)
    current, token = await issue(app, identity)
    others = [(await issue(app, identity))[0] for _ in range(3)]
    revoked, _ = await issue(app, identity)
    await app.sessions.revoke(revoked.id)
    expired, _ = await issue(app, identity)
    await expire(app, expired)
    await issue(app, await new_identity(app, "someone@example.org"))

    r = await public.get("/sessions", headers=token_header(token))
    assert r.status_code == 200
    assert r.headers["x-total-count"] == "3"
    ids = [s["id"] for s in r.json()]
    assert ids == [str(s.id) for s in reversed(others)]  # newest first
    assert all(s["identity"]["id"] == str(identity.id) and "metadata_admin" not in s["identity"] for s in r.json())
    assert all(len(s["devices"]) == 1 for s in r.json())

    seen: list[str] = []
    url = "/sessions?page_size=2"
    while True:
        r = await public.get(url, headers=token_header(token))
        assert r.status_code == 200
        seen += [s["id"] for s in r.json()]
        links = r.headers["link"]
        assert 'rel="first"' in links
        if 'rel="next"' not in links:
            break
        next_url = links.split('rel="first",')[1].split(">")[0].lstrip("<")
        assert next_url.startswith("http://127.0.0.1:4433/sessions?")
        url = next_url.removeprefix("http://127.0.0.1:4433")
    assert seen == ids

    legacy = await public.get("/sessions?per_page=2&page=1", headers=token_header(token))
    assert [s["id"] for s in legacy.json()] == ids[2:]


async def test_my_sessions_need_a_session(public: httpx.AsyncClient) -> None:
    for method in ("GET", "DELETE"):
        assert_no_session(await public.request(method, "/sessions"))
    assert_no_session(await public.delete(f"/sessions/{uuid.uuid4()}"))


async def test_revoke_my_other_sessions(app: KratosApp, public: httpx.AsyncClient) -> None:
    identity = await new_identity(app)
    _, token = await issue(app, identity)
    other_tokens = [(await issue(app, identity))[1] for _ in range(2)]
    _, stranger = await issue(app, await new_identity(app, "someone@example.org"))

    r = await public.delete("/sessions", headers=token_header(token))
    assert r.status_code == 200 and r.json() == {"count": 2}
    for t in other_tokens:
        assert_no_session(await public.get("/sessions/whoami", headers=token_header(t)))
    assert (await public.get("/sessions/whoami", headers=token_header(token))).status_code == 200
    assert (await public.get("/sessions/whoami", headers=token_header(stranger))).status_code == 200
    assert (await public.delete("/sessions", headers=token_header(token))).json() == {"count": 0}


async def test_revoke_one_of_my_sessions(app: KratosApp, public: httpx.AsyncClient) -> None:
    identity = await new_identity(app)
    current, token = await issue(app, identity)
    other, other_token = await issue(app, identity)
    strangers, stranger_token = await issue(app, await new_identity(app, "someone@example.org"))

    r = await public.delete(f"/sessions/{current.id}", headers=token_header(token))
    assert r.status_code == 400 and r.json()["error"]["code"] == 400
    r = await public.delete(f"/sessions/{strangers.id}", headers=token_header(token))
    assert r.status_code == 404
    assert (await public.get("/sessions/whoami", headers=token_header(stranger_token))).status_code == 200
    assert (await public.delete("/sessions/not-a-uuid", headers=token_header(token))).status_code == 404

    r = await public.delete(f"/sessions/{other.id}", headers=token_header(token))
    assert r.status_code == 204 and r.content == b""
    assert_no_session(await public.get("/sessions/whoami", headers=token_header(other_token)))


# -- admin ----------------------------------------------------------------------------------------


async def test_admin_list_sessions_pages_newest_first_with_filters(app: KratosApp, admin: httpx.AsyncClient) -> None:
    a = await new_identity(app, "a@example.org", metadata_admin={"tier": "gold"})
    b = await new_identity(app, "b@example.org")
    sessions = [(await issue(app, ident))[0] for ident in (a, b, a, b, a)]
    await app.sessions.revoke(sessions[1].id)
    newest_first = [str(s.id) for s in reversed(sessions)]

    r = await admin.get("/admin/sessions")
    assert r.status_code == 200
    body = r.json()
    assert [s["id"] for s in body] == newest_first
    # Nothing expanded by default.
    assert all("identity" not in s and "devices" not in s for s in body)
    assert {s["id"]: s["active"] for s in body}[str(sessions[1].id)] is False

    r = await admin.get("/admin/sessions", params=[("expand", "identity"), ("expand", "devices")])
    first = r.json()[0]
    assert first["identity"]["id"] == str(a.id) and first["identity"]["metadata_admin"] == {"tier": "gold"}
    assert "credentials" not in first["identity"]
    assert len(first["devices"]) == 1
    r = await admin.get("/admin/sessions", params={"expand": "devices"})
    assert "identity" not in r.json()[0] and "devices" in r.json()[0]

    assert [s["id"] for s in (await admin.get("/admin/sessions?active=true")).json()] == [i for i in newest_first if i != str(sessions[1].id)]
    assert [s["id"] for s in (await admin.get("/admin/sessions?active=false")).json()] == [str(sessions[1].id)]

    seen: list[str] = []
    r = await admin.get("/admin/sessions?page_size=2")
    while True:
        seen += [s["id"] for s in r.json()]
        link = r.headers["link"]
        assert link.startswith('<http://127.0.0.1:4434/admin/sessions?page_size=2>; rel="first"')
        if 'rel="next"' not in link:
            break
        token = link.split("page_token=")[1].split(">")[0]
        r = await admin.get("/admin/sessions", params={"page_size": 2, "page_token": token})
        assert r.status_code == 200
    assert seen == newest_first


@pytest.mark.parametrize(
    "query",
    ["expand=everything", "active=maybe", "page_size=0", "page_size=1001", "page_token=%%%", "page_token=e30"],
)
async def test_admin_list_refuses_bad_parameters(admin: httpx.AsyncClient, query: str) -> None:
    r = await admin.get(f"/admin/sessions?{query}")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == 400


async def test_admin_get_and_disable_session(app: KratosApp, admin: httpx.AsyncClient, public: httpx.AsyncClient) -> None:
    session, token = await issue(app, await new_identity(app, metadata_admin={"k": "v"}))
    r = await admin.get(f"/admin/sessions/{session.id}")
    assert r.status_code == 200 and r.json()["id"] == str(session.id) and "identity" not in r.json()
    r = await admin.get(f"/admin/sessions/{session.id}?expand=identity")
    assert r.json()["identity"]["metadata_admin"] == {"k": "v"}
    for missing in (str(uuid.uuid4()), "not-a-uuid"):
        r = await admin.get(f"/admin/sessions/{missing}")
        assert r.status_code == 404 and r.json()["error"]["code"] == 404

    assert (await admin.delete(f"/admin/sessions/{session.id}")).status_code == 204
    assert_no_session(await public.get("/sessions/whoami", headers=token_header(token)))
    assert (await admin.get(f"/admin/sessions/{session.id}")).json()["active"] is False
    assert (await admin.delete(f"/admin/sessions/{uuid.uuid4()}")).status_code == 404


async def test_admin_extend_follows_earliest_possible_extend(tmp_path: Path) -> None:
    cfg = base_config(tmp_path, session={"lifespan": "24h", "earliest_possible_extend": "1h"})
    app = make_app(tmp_path, cfg)
    await app.start(migrate=True)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://127.0.0.1:4434") as admin:
            session, _ = await issue(app, await new_identity(app))
            r = await admin.patch(f"/admin/sessions/{session.id}/extend")
            assert r.status_code == 200
            # More than an hour left: no change (sessions never slide early).
            assert r.json()["expires_at"] == (await admin.get(f"/admin/sessions/{session.id}")).json()["expires_at"]
            assert dt.datetime.fromisoformat(r.json()["expires_at"].replace("Z", "+00:00")) == session.expires_at

            await app.db.execute("UPDATE sessions SET expires_at = $1 WHERE id = $2", utcnow() + dt.timedelta(minutes=30), session.id)
            before = utcnow()
            r = await admin.patch(f"/admin/sessions/{session.id}/extend")
            extended = dt.datetime.fromisoformat(r.json()["expires_at"].replace("Z", "+00:00"))
            assert before + dt.timedelta(hours=24) <= extended <= utcnow() + dt.timedelta(hours=24)
            assert r.json()["identity"]["id"] == str(session.identity_id) and "devices" in r.json()

            assert (await admin.patch(f"/admin/sessions/{uuid.uuid4()}/extend")).status_code == 404
    finally:
        await app.stop()


async def test_admin_extend_by_default_always_extends(app: KratosApp, admin: httpx.AsyncClient) -> None:
    session, _ = await issue(app, await new_identity(app))
    r = await admin.patch(f"/admin/sessions/{session.id}/extend")
    assert r.status_code == 200
    assert dt.datetime.fromisoformat(r.json()["expires_at"].replace("Z", "+00:00")) > session.expires_at


async def test_admin_extend_answers_204_with_faster_session_extend(tmp_path: Path) -> None:
    app = make_app(tmp_path, base_config(tmp_path, feature_flags={"faster_session_extend": True}))
    await app.start(migrate=True)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://127.0.0.1:4434") as admin:
            session, _ = await issue(app, await new_identity(app))
            r = await admin.patch(f"/admin/sessions/{session.id}/extend")
            assert r.status_code == 204 and r.content == b""
    finally:
        await app.stop()


async def test_admin_identity_sessions_list_and_delete(app: KratosApp, admin: httpx.AsyncClient, public: httpx.AsyncClient) -> None:
    identity = await new_identity(app)
    issued = [await issue(app, identity) for _ in range(3)]
    await app.sessions.revoke(issued[0][0].id)
    await issue(app, await new_identity(app, "someone@example.org"))

    for prefix in ("/admin", ""):
        r = await admin.get(f"{prefix}/identities/{identity.id}/sessions")
        assert r.status_code == 200
        assert r.headers["x-total-count"] == "3"
        assert [s["id"] for s in r.json()] == [str(s.id) for s, _ in reversed(issued)]
        assert all("identity" in s and "devices" in s for s in r.json())
    r = await admin.get(f"/admin/identities/{identity.id}/sessions?active=true")
    assert len(r.json()) == 2 and r.headers["x-total-count"] == "2"
    r = await admin.get(f"/admin/identities/{identity.id}/sessions?page_size=2")
    assert len(r.json()) == 2 and 'rel="next"' in r.headers["link"]
    assert (await admin.get(f"/admin/identities/{uuid.uuid4()}/sessions")).status_code == 404

    assert (await admin.delete(f"/admin/identities/{identity.id}/sessions")).status_code == 204
    # Deleted, not deactivated: the rows are gone.
    assert (await admin.get(f"/admin/sessions/{issued[1][0].id}")).status_code == 404
    assert_no_session(await public.get("/sessions/whoami", headers=token_header(issued[2][1])))
    assert (await admin.get(f"/admin/identities/{identity.id}/sessions")).json() == []
    assert (await admin.delete(f"/admin/identities/{identity.id}/sessions")).status_code == 404
    assert (await admin.delete(f"/admin/identities/{uuid.uuid4()}/sessions")).status_code == 404


async def test_revoke_all_for_identity(app: KratosApp, public: httpx.AsyncClient) -> None:
    identity = await new_identity(app)
    tokens = [(await issue(app, identity))[1] for _ in range(2)]
    assert await app.sessions.revoke_all_for_identity(identity.id) == 2
    for t in tokens:
        assert_no_session(await public.get("/sessions/whoami", headers=token_header(t)))


async def test_public_port_hops_only_identity_and_recovery_routes(public: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    # Kratos hops /identities*, /admin/identities*, /recovery/code and /recovery/link; any other
    # admin path on the public port is a 404 in its error shape, and /version is admin-only.
    for path in ("/admin/sessions", "/admin/courier/messages", "/version"):
        r = await public.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == 404, path
    assert (await admin.get("/version")).status_code == 200
    r = await admin.get("/sessions/whoami")
    assert r.status_code == 307 and r.headers["location"] == "http://127.0.0.1:4433/sessions/whoami"


async def test_well_known_change_password_leads_to_the_settings_ui(public: httpx.AsyncClient, app: KratosApp) -> None:
    r = await public.get("/.well-known/change-password")
    assert r.status_code == 303
    assert r.headers["location"] == app.config.selfservice.flows.settings.ui_url
