"""Logout over HTTP: the browser logout URL, following it, and native (API) logout."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from kratos_core.app import KratosApp
from kratos_core.flows.csrf import csrf_cookie_name
from tests.conftest import base_config, make_app
from tests.integration.test_sessions import assert_no_session, cookie_header, issue, new_identity, token_header

JSON = {"Accept": "application/json"}
MISMATCH = "Unable to log out because the logout token in the URL query does not match the session cookie."
UNKNOWN_TOKEN = "The provided Ory Session Token could not be found, is invalid, or otherwise malformed."


async def browser_session(app: KratosApp, email: str = "jane@example.org") -> tuple[dict[str, str], str, uuid.UUID]:
    session, token = await issue(app, await new_identity(app, email))
    return cookie_header(app, session, token), token, session.id


def cookie_names_cleared(r: httpx.Response) -> dict[str, str]:
    out = {}
    for header in r.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        out[name] = rest
    return out


# -- GET /self-service/logout/browser ------------------------------------------------------------


async def test_browser_logout_url(app: KratosApp, public: httpx.AsyncClient) -> None:
    cookie, token, _ = await browser_session(app)
    r = await public.get("/self-service/logout/browser", headers={**cookie, **JSON})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"logout_url", "logout_token"}
    assert body["logout_token"].startswith("ory_lo_") and len(body["logout_token"]) == 39
    assert body["logout_url"] == f"http://127.0.0.1:4433/self-service/logout?token={body['logout_token']}"
    assert token not in r.text
    # The same session always yields the same logout token (only its digest is stored).
    again = (await public.get("/self-service/logout/browser", headers={**cookie, **JSON})).json()
    assert again["logout_token"] == body["logout_token"]


async def test_browser_logout_url_keeps_an_allowed_return_to(app: KratosApp, public: httpx.AsyncClient) -> None:
    cookie, _, _ = await browser_session(app)
    r = await public.get(
        "/self-service/logout/browser", params={"return_to": "http://127.0.0.1:4455/bye"}, headers={**cookie, **JSON}
    )
    query = parse_qs(urlsplit(r.json()["logout_url"]).query)
    assert query == {"token": [r.json()["logout_token"]], "return_to": ["http://127.0.0.1:4455/bye"]}

    r = await public.get(
        "/self-service/logout/browser", params={"return_to": "https://evil.example/"}, headers={**cookie, **JSON}
    )
    assert r.status_code == 400
    assert r.json()["error"]["id"] == "self_service_flow_return_to_forbidden"


async def test_browser_logout_url_without_session(app: KratosApp, public: httpx.AsyncClient) -> None:
    r = await public.get("/self-service/logout/browser", headers=JSON)
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["id"] == "session_inactive"
    assert err["reason"] == "No active session was found in this request."

    # Browsers are sent to the error UI with a stored error container.
    r = await public.get("/self-service/logout/browser")
    assert r.status_code == 303
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "http://127.0.0.1:4455/error"
    [error_id] = parse_qs(location.query)["id"]
    stored = await app.db.fetchval("SELECT error FROM selfservice_errors WHERE id = $1", uuid.UUID(error_id))
    assert stored["id"] == "session_inactive" and stored["code"] == 401


# -- GET /self-service/logout --------------------------------------------------------------------


async def logout_token(public: httpx.AsyncClient, cookie: dict[str, str]) -> str:
    return (await public.get("/self-service/logout/browser", headers={**cookie, **JSON})).json()["logout_token"]


async def test_browser_logout_revokes_and_clears_cookies(app: KratosApp, public: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    cookie, token, session_id = await browser_session(app)
    lo = await logout_token(public, cookie)
    r = await public.get("/self-service/logout", params={"token": lo}, headers=cookie)
    assert r.status_code == 303
    assert r.headers["location"] == "http://127.0.0.1:4455/welcome"
    cleared = cookie_names_cleared(r)
    assert cleared["ory_kratos_session"].startswith(";") and "Max-Age=0" in cleared["ory_kratos_session"]
    csrf = csrf_cookie_name("http://127.0.0.1:4433/")
    # A fresh anti-CSRF token, as Kratos hands out (the old one is not kept, nor deleted).
    fresh = cleared[csrf].split(";")[0]
    assert len(fresh) > 20 and "Max-Age=0" not in cleared[csrf] and "HttpOnly" in cleared[csrf]
    assert fresh not in cookie.get("Cookie", "")
    assert_no_session(await public.get("/sessions/whoami", headers=token_header(token)))
    # Revoked, not deleted.
    assert (await admin.get(f"/admin/sessions/{session_id}")).json()["active"] is False


async def test_browser_logout_as_json_is_204(app: KratosApp, public: httpx.AsyncClient) -> None:
    cookie, token, _ = await browser_session(app)
    lo = await logout_token(public, cookie)
    r = await public.get("/self-service/logout", params={"token": lo, "return_to": "https://evil.example/"}, headers={**cookie, **JSON})
    assert r.status_code == 204 and r.content == b""
    assert "ory_kratos_session" in cookie_names_cleared(r)
    assert_no_session(await public.get("/sessions/whoami", headers=token_header(token)))


async def test_browser_logout_return_to(app: KratosApp, public: httpx.AsyncClient) -> None:
    cookie, _, _ = await browser_session(app)
    lo = await logout_token(public, cookie)
    r = await public.get("/self-service/logout", params={"token": lo, "return_to": "https://evil.example/"}, headers=cookie)
    assert r.status_code == 303 and r.headers["location"].startswith("http://127.0.0.1:4455/error?id=")

    cookie, _, _ = await browser_session(app, "b@example.org")
    lo = await logout_token(public, cookie)
    r = await public.get("/self-service/logout", params={"token": lo, "return_to": "http://127.0.0.1:4455/bye"}, headers=cookie)
    assert r.status_code == 303 and r.headers["location"] == "http://127.0.0.1:4455/bye"


async def test_logout_default_return_url_from_config(tmp_path: Path) -> None:
    cfg = base_config(tmp_path, selfservice={"flows": {"logout": {"after": {"default_browser_return_url": "http://127.0.0.1:4455/logged-out"}}}})
    app = make_app(tmp_path, cfg)
    await app.start(migrate=True)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433") as public:
            cookie, _, _ = await browser_session(app)
            lo = await logout_token(public, cookie)
            r = await public.get("/self-service/logout", params={"token": lo}, headers=cookie)
            assert r.status_code == 303 and r.headers["location"] == "http://127.0.0.1:4455/logged-out"
            assert "clear-site-data" not in r.headers  # only over https
    finally:
        await app.stop()


async def test_logout_refusals(app: KratosApp, public: httpx.AsyncClient) -> None:
    cookie, token, _ = await browser_session(app)
    other_cookie, _, _ = await browser_session(app, "b@example.org")
    other_lo = await logout_token(public, other_cookie)

    r = await public.get("/self-service/logout", headers={**cookie, **JSON})
    assert r.status_code == 400 and r.json()["error"]["code"] == 400
    for wrong in ("ory_lo_" + "x" * 32, other_lo, "garbage"):
        r = await public.get("/self-service/logout", params={"token": wrong}, headers={**cookie, **JSON})
        assert r.status_code == 403
        assert r.json()["error"]["reason"] == MISMATCH
    # Browsers see the same refusal on the error UI.
    r = await public.get("/self-service/logout", params={"token": other_lo}, headers=cookie)
    assert r.status_code == 303 and r.headers["location"].startswith("http://127.0.0.1:4455/error?id=")
    # Nothing was revoked.
    assert (await public.get("/sessions/whoami", headers=token_header(token))).status_code == 200
    assert (await public.get("/sessions/whoami", headers=other_cookie)).status_code == 200


async def test_logout_without_session_still_completes(public: httpx.AsyncClient) -> None:
    r = await public.get("/self-service/logout", params={"token": "ory_lo_" + "x" * 32}, headers=JSON)
    assert r.status_code == 204
    r = await public.get("/self-service/logout", params={"token": "ory_lo_" + "x" * 32})
    assert r.status_code == 303 and r.headers["location"] == "http://127.0.0.1:4455/welcome"


async def test_clear_site_data_over_https(tmp_path: Path) -> None:
    cfg = base_config(
        tmp_path,
        serve={"public": {"base_url": "https://auth.example.org/"}},
        selfservice={"flows": {"logout": {"clear_browser_data": True}}},
    )
    app = make_app(tmp_path, cfg)
    await app.start(migrate=True)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="https://auth.example.org") as public:
            cookie, _, _ = await browser_session(app)
            lo = await logout_token(public, cookie)
            r = await public.get("/self-service/logout", params={"token": lo}, headers=cookie)
            assert r.status_code == 303
            assert r.headers["clear-site-data"] == '"cookies", "storage", "cache"'
    finally:
        await app.stop()


# -- DELETE /self-service/logout/api -------------------------------------------------------------


async def test_native_logout(app: KratosApp, public: httpx.AsyncClient) -> None:
    _, token = await issue(app, await new_identity(app))
    r = await public.request("DELETE", "/self-service/logout/api", json={"session_token": token})
    assert r.status_code == 204 and r.content == b""
    assert_no_session(await public.get("/sessions/whoami", headers=token_header(token)))
    # Logging out an already revoked session is not an error.
    r = await public.request("DELETE", "/self-service/logout/api", json={"session_token": token})
    assert r.status_code == 204


@pytest.mark.parametrize("token", ["ory_st_" + "Q" * 32, "garbage", ""])
async def test_native_logout_unknown_token_is_403(public: httpx.AsyncClient, token: str) -> None:
    r = await public.request("DELETE", "/self-service/logout/api", json={"session_token": token})
    assert r.status_code == 403
    assert r.json()["error"]["reason"] == UNKNOWN_TOKEN


@pytest.mark.parametrize(
    ("content", "headers"),
    [(b"{}", {"content-type": "application/json"}), (b"{nope", {"content-type": "application/json"}), (b'{"session_token": "x"}', {})],
)
async def test_native_logout_bad_body_is_400(public: httpx.AsyncClient, content: bytes, headers: dict[str, str]) -> None:
    r = await public.request("DELETE", "/self-service/logout/api", content=content, headers=headers)
    assert r.status_code == 400


async def test_an_empty_return_to_counts_as_absent(tmp_path: Path) -> None:
    """Kratos's reference UI always sends ``return_to=``; the logout must then end at
    ``flows.logout.after.default_browser_return_url`` (issue 14, finding 3)."""
    cfg = base_config(tmp_path, selfservice={"flows": {"logout": {"after": {"default_browser_return_url": "http://127.0.0.1:4455/bye"}}}})
    app = make_app(tmp_path, cfg)
    await app.start(migrate=True)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433") as public:
            cookie, _, _ = await browser_session(app)
            answer = await public.get("/self-service/logout/browser", params={"return_to": ""}, headers={**cookie, **JSON})
            assert answer.status_code == 200
            url = answer.json()["logout_url"]
            assert "return_to" not in url
            done = await public.get(url.replace("http://127.0.0.1:4433", ""), headers=cookie)
            assert done.status_code == 303
            assert done.headers["location"] == "http://127.0.0.1:4455/bye"
    finally:
        await app.stop()
