"""TOTP through HTTP: set-up in settings, aal2 login, replays, unlink, errors on the right nodes."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
from kratos_totp.cipher import Cipher

from kratos_core.testing import read_together

Totp = Any  # the conftest's app wrapper (clients, flow driver, shortcuts)


def node(flow: dict[str, Any], name: str) -> dict[str, Any]:
    for n in flow["ui"]["nodes"]:
        attrs = n["attributes"]
        if attrs.get("name", attrs.get("id")) == name:
            return n
    raise AssertionError(f"no node {name}")


def names(flow: dict[str, Any], group: str) -> list[str]:
    return [n["attributes"].get("name", n["attributes"].get("id")) for n in flow["ui"]["nodes"] if n["group"] == group]


def authenticator(flow: dict[str, Any]) -> pyotp.TOTP:
    """What a user's authenticator app holds after typing in the secret shown."""
    return pyotp.TOTP(node(flow, "totp_secret_key")["attributes"]["text"]["text"])


def otpauth_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def message_ids(flow: dict[str, Any], name: str | None = None) -> list[int]:
    if name is None:
        return [m["id"] for m in flow["ui"].get("messages", [])]
    return [m["id"] for m in node(flow, name)["messages"]]


async def test_settings_shows_a_new_key_as_qr_code_and_text(kt: Totp) -> None:
    _, token = await kt.signed_in()
    first = (await kt.settings(token)).json()
    assert names(first, "totp") == ["totp_qr", "totp_secret_key", "totp_code", "method"]
    qr = node(first, "totp_qr")
    assert qr["type"] == "img" and qr["meta"]["label"]["id"] == 1050005
    assert (qr["attributes"]["width"], qr["attributes"]["height"]) == (256, 256)
    assert qr["attributes"]["src"].startswith("data:image/png;base64,")
    assert base64.b64decode(qr["attributes"]["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    secret = node(first, "totp_secret_key")
    assert secret["type"] == "text" and secret["attributes"]["text"]["id"] == 1050006
    assert secret["meta"]["label"]["id"] == 1050017
    assert len(secret["attributes"]["text"]["text"]) == 32  # 160 bits in base32
    code = node(first, "totp_code")["attributes"]
    assert (code["type"], code["required"]) == ("text", True)
    assert node(first, "totp_code")["meta"]["label"]["id"] == 1070006
    submit = [n for n in first["ui"]["nodes"] if n["group"] == "totp" and n["attributes"].get("name") == "method"][0]
    assert (submit["attributes"]["value"], submit["meta"]["label"]["id"]) == ("totp", 1070003)
    # Every flow gets its own key.
    second = (await kt.settings(token)).json()
    assert authenticator(second).secret != authenticator(first).secret


async def test_the_key_names_the_issuer_and_the_flagged_trait(kt: Totp) -> None:
    _, token = await kt.signed_in("Jane@Example.org")
    flow = (await kt.settings(token)).json()
    row = await kt.app.db.fetchrow("SELECT internal_context FROM selfservice_flows WHERE id = $1", flow["id"])
    context = row["internal_context"]
    context = context if isinstance(context, dict) else json.loads(context)
    url = Cipher("xchacha20-poly1305", [kt.cipher_key]).decrypt(context["totp:pending_url"])
    assert url.startswith("otpauth://totp/Example%20Corp:Jane%40Example.org?")
    params = otpauth_params(url)
    assert params["secret"] == authenticator(flow).secret and params["issuer"] == "Example Corp"
    assert params.get("digits", "6") == "6" and params.get("period", "30") == "30"


async def test_set_up_needs_the_code_of_this_flows_key(kt: Totp) -> None:
    identity_id, token = await kt.signed_in()
    flow = (await kt.settings(token)).json()
    missing = await kt.submit_settings(token, flow["id"], {"method": "totp"})
    assert missing.status_code == 400
    assert message_ids(missing.json(), "totp_code") == [4000002]
    # A code of another key (another flow's) is refused on the code node.
    other = authenticator((await kt.settings(token)).json())
    for bad in (other.now(), "abcdef", "12345", "1234567", ""):
        refused = await kt.submit_settings(token, flow["id"], {"method": "totp", "totp_code": bad})
        assert refused.status_code == 400, bad
        assert message_ids(refused.json(), "totp_code") == [4000002 if bad == "" else 4000008], bad
    identity = (await kt.admin.get(f"/admin/identities/{identity_id}", params={"include_credential": "totp"})).json()
    assert "totp" not in identity.get("credentials", {})


async def test_set_up_stores_the_key_encrypted_and_makes_the_session_aal2(kt: Totp) -> None:
    identity_id, token = await kt.signed_in()
    flow = (await kt.settings(token)).json()
    app = authenticator(flow)
    done = await kt.submit_settings(token, flow["id"], {"method": "totp", "totp_code": app.now()})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["state"] == "success" and message_ids(body) == [1050001]
    assert names(body, "totp") == ["totp_unlink"]  # the URL is never shown again
    unlink = node(body, "totp_unlink")
    assert unlink["attributes"]["value"] == "true" and unlink["attributes"]["required"] is True
    assert unlink["meta"]["label"]["id"] == 1050004
    session = (await kt.flows.whoami(token)).json()
    assert session["authenticator_assurance_level"] == "aal2"
    assert [m["method"] for m in session["authentication_methods"]] == ["stub_first_factor", "totp"]
    rows = await kt.app.db.fetch(
        "SELECT config FROM identity_credentials WHERE identity_id = $1 AND type = 'totp'", identity_id
    )
    stored = rows[0]["config"]
    stored = stored if isinstance(stored, dict) else json.loads(stored)
    assert "otpauth" not in str(stored) and app.secret not in str(stored)
    assert Cipher("xchacha20-poly1305", [kt.cipher_key]).decrypt(stored["totp_url"]).startswith("otpauth://totp/")


async def aal1_again(kt: Totp, identity_id: str) -> str:
    return (await kt.flows.login_stub(identity_id)).json()["session_token"]


async def test_login_at_aal2_with_totp(kt: Totp) -> None:
    identity_id, token = await kt.signed_in()
    app = await kt.set_up(token)
    await kt.flows.logout(token)
    token = await aal1_again(kt, identity_id)
    refused = await kt.flows.whoami(token, expect=403)
    assert refused.json()["error"]["id"] == "session_aal2_required"
    flow = await kt.flows.init("login", session_token=token, aal="aal2")
    assert names(flow, "totp") == ["totp_code", "method"]
    assert names(flow, "default") == []  # no first-factor inputs at aal2
    assert node(flow, "totp_code")["meta"]["label"]["id"] == 1010006
    assert message_ids(flow) == [1010004]
    missing = await kt.flows.submit("login", flow["id"], {"method": "totp"}, session_token=token, expect=400)
    assert message_ids(missing.json(), "totp_code") == [4000002]
    wrong = "000000" if app.now() != "000000" else "111111"
    bad = await kt.flows.submit("login", flow["id"], {"method": "totp", "totp_code": wrong}, session_token=token, expect=400)
    assert message_ids(bad.json()) == [4000008]
    # The current code was used at set-up; the next period's is within the ±1 window.
    ok = await kt.flows.submit("login", flow["id"], {"method": "totp", "totp_code": app.at(time.time() + 30)}, session_token=token)
    session = ok.json()["session"]
    assert session["authenticator_assurance_level"] == "aal2"
    assert [m["method"] for m in session["authentication_methods"]] == ["stub_first_factor", "totp"]
    assert (await kt.flows.whoami(token)).json()["id"] == session["id"]  # same token, same session


async def test_a_code_is_refused_when_replayed(kt: Totp) -> None:
    identity_id, token = await kt.signed_in()
    app = await kt.set_up(token)
    # The code used at set-up cannot sign in right after.
    token = await aal1_again(kt, identity_id)
    flow = await kt.flows.init("login", session_token=token, aal="aal2")
    replay = await kt.flows.submit("login", flow["id"], {"method": "totp", "totp_code": app.now()}, session_token=token, expect=None)
    if replay.status_code == 200:
        # The set-up happened in the previous period: this code was new. Replay it elsewhere.
        used = app.now()
        token = await aal1_again(kt, identity_id)
        flow = await kt.flows.init("login", session_token=token, aal="aal2")
        replay = await kt.flows.submit("login", flow["id"], {"method": "totp", "totp_code": used}, session_token=token, expect=None)
    assert replay.status_code == 400
    assert message_ids(replay.json()) == [4000008]


async def test_racing_logins_with_one_code_let_one_through(kt: Totp) -> None:
    identity_id, token = await kt.signed_in()
    app = await kt.set_up(token)
    # A code of the next period: not used at set-up.
    code = app.at(time.time() + 30)
    tokens = [await aal1_again(kt, identity_id) for _ in range(6)]
    flows = [await kt.flows.init("login", session_token=t, aal="aal2") for t in tokens]
    read_together(kt.app, 6)
    answers = await asyncio.gather(
        *(
            kt.flows.submit("login", f["id"], {"method": "totp", "totp_code": code}, session_token=t, expect=None)
            for f, t in zip(flows, tokens, strict=True)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] + [400] * 5


async def test_no_device_and_aal1_flows(kt: Totp) -> None:
    _, token = await kt.signed_in()
    flow = await kt.flows.init("login", session_token=token, aal="aal2")
    assert names(flow, "totp") == []
    none = await kt.flows.submit("login", flow["id"], {"method": "totp", "totp_code": "123456"}, session_token=token, expect=400)
    assert message_ids(none.json()) == [4000011]


async def test_unlink_removes_the_key_and_needs_a_privileged_session(kt_app: Any) -> None:
    kt = await kt_app(selfservice={"flows": {"settings": {"privileged_session_max_age": "1s"}}})
    admin = kt.admin
    identity_id, token = await kt.signed_in()
    await kt.set_up(token)
    flow = (await kt.settings(token)).json()
    await asyncio.sleep(1.1)
    stale = await kt.submit_settings(token, flow["id"], {"method": "totp", "totp_unlink": True})
    assert stale.status_code == 403 and stale.json()["error"]["id"] == "session_refresh_required"
    creds = (await admin.get(f"/admin/identities/{identity_id}", params={"include_credential": "totp"})).json()
    assert "totp" in creds["credentials"]
    # Re-authenticate (refresh at aal1 keeps the session), then unlink.
    await kt.flows.login(method="stub_first_factor", identity_id=identity_id, session_token=token, refresh=True)
    flow = (await kt.settings(token)).json()
    done = await kt.submit_settings(token, flow["id"], {"method": "totp", "totp_unlink": "true"})
    assert done.status_code == 200, done.text
    assert names(done.json(), "totp") == ["totp_qr", "totp_secret_key", "totp_code", "method"]
    creds = (await admin.get(f"/admin/identities/{identity_id}", params={"include_credential": "totp"})).json()
    assert "totp" not in creds.get("credentials", {})


async def test_guessing_codes_is_refused_after_ten_tries_even_with_the_right_code(kt: Totp) -> None:
    """A stolen password (aal1 session) must not let six digits be guessed: the eleventh try
    in ten minutes is refused with 429 and Retry-After, the right code included."""
    identity_id, token = await kt.signed_in()
    app = await kt.set_up(token)
    token = await aal1_again(kt, identity_id)
    flow = await kt.flows.init("login", session_token=token, aal="aal2")
    right = app.at(time.time() + 30)
    wrong = "000000" if right != "000000" else "111111"
    answers = []
    for _ in range(10):
        answer = await kt.flows.submit("login", flow["id"], {"method": "totp", "totp_code": wrong}, session_token=token, expect=None)
        answers.append(answer.status_code)
    assert answers == [400] * 10
    locked = await kt.flows.submit("login", flow["id"], {"method": "totp", "totp_code": right}, session_token=token, expect=None)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert locked.json()["error"]["id"] == "rate_limit_exceeded"
    # The administrator lifts the lock; the right code then works.
    unlocked = await kt.admin.delete(f"/admin/identities/{identity_id}/throttle")
    assert unlocked.status_code == 204
    ok = await kt.flows.submit("login", flow["id"], {"method": "totp", "totp_code": right}, session_token=token)
    assert ok.json()["session"]["authenticator_assurance_level"] == "aal2"
