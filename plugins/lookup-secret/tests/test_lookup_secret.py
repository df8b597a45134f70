"""Backup codes through HTTP: regenerate, confirm, reveal, disable, aal2 login, single use."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from kratos_core.testing import read_together

Lookup = Any  # the conftest's app wrapper (clients, flow driver, shortcuts)


def node(flow: dict[str, Any], name: str) -> dict[str, Any]:
    for n in flow["ui"]["nodes"]:
        attrs = n["attributes"]
        if attrs.get("name", attrs.get("id")) == name:
            return n
    raise AssertionError(f"no node {name}")


def names(flow: dict[str, Any], group: str) -> list[str]:
    return [n["attributes"].get("name", n["attributes"].get("id")) for n in flow["ui"]["nodes"] if n["group"] == group]


def shown_codes(flow: dict[str, Any]) -> list[str]:
    text = node(flow, "lookup_secret_codes")["attributes"]["text"]
    return [s["context"]["secret"] for s in text["context"]["secrets"]]


def message_ids(flow: dict[str, Any], name: str | None = None) -> list[int]:
    if name is None:
        return [m["id"] for m in flow["ui"].get("messages", [])]
    return [m["id"] for m in node(flow, name)["messages"]]


async def stored_config(kl: Lookup, identity_id: str) -> dict[str, Any]:
    rows = await kl.app.db.fetch(
        "SELECT config FROM identity_credentials WHERE identity_id = $1 AND type = 'lookup_secret'", identity_id
    )
    if not rows:
        return {}
    config = rows[0]["config"]
    return config if isinstance(config, dict) else json.loads(config)


async def test_settings_offers_regenerate_until_codes_exist(kl: Lookup) -> None:
    _, token = await kl.signed_in()
    flow = await kl.settings(token)
    assert names(flow, "lookup_secret") == ["lookup_secret_regenerate"]
    button = node(flow, "lookup_secret_regenerate")
    assert (button["attributes"]["type"], button["attributes"]["value"]) == ("submit", "true")
    assert button["meta"]["label"]["id"] == 1050008


async def test_regenerate_shows_twelve_codes_once_and_confirm_stores_digests(kl: Lookup) -> None:
    identity_id, token = await kl.signed_in()
    flow = await kl.settings(token)
    shown = await kl.submit_settings(token, flow["id"], {"method": "lookup_secret", "lookup_secret_regenerate": "true"})
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert names(body, "lookup_secret") == ["lookup_secret_codes", "lookup_secret_confirm"]
    listed = shown_codes(body)
    assert len(listed) == 12 and len(set(listed)) == 12
    assert all(re.fullmatch(r"[a-z0-9]{8}", c) for c in listed)
    codes_node = node(body, "lookup_secret_codes")
    assert codes_node["type"] == "text" and codes_node["attributes"]["text"]["id"] == 1050015
    assert codes_node["meta"]["label"]["id"] == 1050010
    assert codes_node["attributes"]["text"]["text"] == ", ".join(listed)
    assert node(body, "lookup_secret_confirm")["meta"]["label"]["id"] == 1050011
    # Nothing is stored before confirmation, and the session is still aal1.
    assert await stored_config(kl, identity_id) == {}
    done = await kl.submit_settings(token, flow["id"], {"method": "lookup_secret", "lookup_secret_confirm": True})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "success"
    assert names(done.json(), "lookup_secret") == ["lookup_secret_reveal", "lookup_secret_disable"]
    stored = await stored_config(kl, identity_id)
    assert len(stored["recovery_codes"]) == 12
    assert not any(code in json.dumps(stored) for code in listed)
    session = (await kl.flows.whoami(token)).json()
    assert session["authenticator_assurance_level"] == "aal2"
    assert [m["method"] for m in session["authentication_methods"]] == ["stub_first_factor", "lookup_secret"]


async def test_confirm_without_regenerate_stores_nothing(kl: Lookup) -> None:
    identity_id, token = await kl.signed_in()
    flow = await kl.settings(token)
    refused = await kl.submit_settings(token, flow["id"], {"method": "lookup_secret", "lookup_secret_confirm": True})
    assert refused.status_code == 400
    assert await stored_config(kl, identity_id) == {}


async def test_login_uses_each_code_once(kl: Lookup) -> None:
    identity_id, token = await kl.signed_in()
    listed = await kl.set_up(token)
    token = await kl.aal1(identity_id)
    assert (await kl.flows.whoami(token, expect=403)).json()["error"]["id"] == "session_aal2_required"
    flow = await kl.flows.init("login", session_token=token, aal="aal2")
    assert names(flow, "lookup_secret") == ["lookup_secret", "method"]
    assert node(flow, "lookup_secret")["meta"]["label"]["id"] == 1010007
    submit = [n for n in flow["ui"]["nodes"] if n["group"] == "lookup_secret" and n["attributes"]["name"] == "method"][0]
    assert submit["meta"]["label"]["id"] == 1010010
    missing = await kl.flows.submit("login", flow["id"], {"method": "lookup_secret"}, session_token=token, expect=400)
    assert message_ids(missing.json(), "lookup_secret") == [4000002]
    wrong = await kl.use(token, "zzzzzzzz", expect=400)
    assert message_ids(wrong.json()) == [4000016]
    ok = await kl.use(token, f" {listed[0].upper()} ", expect=200)
    assert ok.json()["session"]["authenticator_assurance_level"] == "aal2"
    again = await kl.aal1(identity_id)
    used = await kl.use(again, listed[0], expect=400)
    assert message_ids(used.json()) == [4000012]
    assert (await kl.use(again, listed[1], expect=200)).json()["session"]["authenticator_assurance_level"] == "aal2"


async def test_no_codes_set_up(kl: Lookup) -> None:
    _, token = await kl.signed_in()
    flow = await kl.flows.init("login", session_token=token, aal="aal2")
    assert names(flow, "lookup_secret") == []
    refused = await kl.use(token, "abcd1234", expect=400)
    assert message_ids(refused.json()) == [4000014]


async def test_racing_submits_of_one_code_let_exactly_one_through(kl: Lookup) -> None:
    identity_id, token = await kl.signed_in()
    listed = await kl.set_up(token)
    tokens = [await kl.aal1(identity_id) for _ in range(8)]
    flows = [await kl.flows.init("login", session_token=t, aal="aal2") for t in tokens]
    read_together(kl.app, 8)
    answers = await asyncio.gather(
        *(
            kl.flows.submit("login", f["id"], {"method": "lookup_secret", "lookup_secret": listed[3]}, session_token=t, expect=None)
            for f, t in zip(flows, tokens, strict=True)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] + [400] * 7
    assert {message_ids(a.json())[0] for a in answers if a.status_code == 400} == {4000012}
    used = [e for e in (await stored_config(kl, identity_id))["recovery_codes"] if e["used_at"]]
    assert len(used) == 1


async def test_reveal_shows_which_codes_are_left_and_when_others_were_used(kl: Lookup) -> None:
    identity_id, token = await kl.signed_in()
    listed = await kl.set_up(token)
    await kl.use(await kl.aal1(identity_id), listed[5], expect=200)
    flow = await kl.settings(token)
    revealed = await kl.submit_settings(token, flow["id"], {"method": "lookup_secret", "lookup_secret_reveal": True})
    assert revealed.status_code == 200, revealed.text
    body = revealed.json()
    assert names(body, "lookup_secret") == ["lookup_secret_codes", "lookup_secret_regenerate", "lookup_secret_disable"]
    secrets = node(body, "lookup_secret_codes")["attributes"]["text"]["context"]["secrets"]
    assert [s["id"] for s in secrets] == [1050009] * 5 + [1050014] + [1050009] * 6
    assert "used_at" in secrets[5]["context"] and "used_at_unix" in secrets[5]["context"]
    # Only digests are stored: unused codes are masked, never shown again.
    assert not any(code in revealed.text for code in listed)


async def test_disable_removes_the_codes(kl: Lookup) -> None:
    identity_id, token = await kl.signed_in()
    await kl.set_up(token)
    flow = await kl.settings(token)
    done = await kl.submit_settings(token, flow["id"], {"method": "lookup_secret", "lookup_secret_disable": True})
    assert done.status_code == 200, done.text
    assert names(done.json(), "lookup_secret") == ["lookup_secret_regenerate"]
    assert await stored_config(kl, identity_id) == {}
    # Without a second factor, the aal1 session is enough again.
    await kl.flows.whoami(await kl.aal1(identity_id), expect=200)


async def test_changes_need_a_privileged_session(kl_app: Any) -> None:
    kl = await kl_app(selfservice={"flows": {"settings": {"privileged_session_max_age": "1s"}}})
    identity_id, token = await kl.signed_in()
    flow = await kl.settings(token)
    await asyncio.sleep(1.1)
    stale = await kl.submit_settings(token, flow["id"], {"method": "lookup_secret", "lookup_secret_regenerate": True})
    assert stale.status_code == 403 and stale.json()["error"]["id"] == "session_refresh_required"
    assert await stored_config(kl, identity_id) == {}


async def test_guessing_codes_is_refused_after_ten_tries_even_with_a_right_code(kl: Lookup) -> None:
    identity_id, token = await kl.signed_in()
    listed = await kl.set_up(token)
    token = await kl.aal1(identity_id)
    for _ in range(10):
        wrong = await kl.use(token, "zzzzzzzz", expect=400)
        assert message_ids(wrong.json()) == [4000016]
    locked = await kl.use(token, listed[0], expect=429)
    assert int(locked.headers["retry-after"]) > 0
    assert locked.json()["error"]["id"] == "rate_limit_exceeded"
    # Nothing was used by the refused attempt: after an admin unlock the code still works.
    assert (await kl.admin.delete(f"/admin/identities/{identity_id}/throttle")).status_code == 204
    assert (await kl.use(token, listed[0], expect=200)).json()["session"]["authenticator_assurance_level"] == "aal2"
