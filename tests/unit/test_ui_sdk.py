"""The official SDK must accept every container our helpers can produce."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from ory_kratos_client.models.ui_container import UiContainer

from kratos_core.ui import messages as m
from kratos_core.ui.container import Container
from kratos_core.ui.nodes import (
    anchor_node,
    csrf_node,
    div_node,
    img_node,
    input_node,
    script_integrity,
    script_node,
    submit_node,
    text_node,
)
from kratos_core.ui.traits import trait_nodes

SCHEMA = {
    "properties": {
        "traits": {
            "properties": {
                "email": {"type": "string", "format": "email", "title": "E-Mail"},
                "age": {"type": "integer"},
                "site": {"type": "string", "format": "uri"},
                "tier": {"type": "string", "enum": ["free", "pro"]},
                "ok": {"type": "boolean"},
            },
            "required": ["email"],
        }
    }
}


def every_kind() -> Container:
    added = datetime(2024, 1, 1, tzinfo=UTC)
    ui = Container(action="https://example.com/self-service/settings?flow=1")
    ui.append(csrf_node("tok"))
    for node in trait_nodes(SCHEMA, group="profile", values={"email": "a@example.com"}):
        ui.append(node)
    ui.append(input_node("identifier", "text", value="", required=True, autocomplete="username webauthn", label=m.label_id()))
    ui.append(input_node("password", "password", "password", required=True, autocomplete="new-password", label=m.label_password()))
    ui.append(submit_node("method", "password", "password", m.label_save()))
    ui.append(input_node("code", "text", "code", required=True, pattern="[0-9]+", maxlength=6, autocomplete="one-time-code"))
    ui.append(input_node("webauthn_login_trigger", "button", "webauthn", value="{}", onclick="x()", onclick_trigger="oryWebAuthnLogin"))
    ui.append(input_node("passkey_login", "hidden", "passkey", onload="y()", onload_trigger="oryPasskeyLoginAutocompleteInit"))
    ui.append(input_node("lookup_secret_reveal", "submit", "lookup_secret", value="true", attributes_label=m.lookup_reveal()))
    ui.append(submit_node("webauthn_remove", "abcd", "webauthn", m.webauthn_remove("key", added)))
    ui.append(img_node("totp_qr", "data:image/png;base64,AAA", 256, 256, "totp", m.totp_qr()))
    ui.append(text_node("totp_secret_key", m.totp_secret("S"), "totp", m.totp_secret_label()))
    ui.append(text_node("lookup_secret_codes", m.lookup_secret_list([("a", None), ("b", added)]), "lookup_secret"))
    ui.append(anchor_node("continue", "https://example.com/", m.label_continue()))
    ui.append(script_node("webauthn_script", "https://example.com/.well-known/ory/webauthn.js", integrity=script_integrity(b"js"), group="webauthn"))
    ui.append(div_node("captcha", "captcha", class_="cf", data={"sitekey": "k"}))
    ui.append(div_node("plain"))
    ui.add_message(m.flow_expired("settings", added))
    ui.add_issues([{"pointer": "#/traits/email", "message": m.missing_property("email")}])
    return ui


def test_sdk_parses_every_node_kind() -> None:
    ui = every_kind()
    parsed = UiContainer.from_json(msgspec.json.encode(ui).decode())
    assert parsed is not None
    assert len(parsed.nodes) == len(ui.nodes)
    kinds = {type(n.attributes.actual_instance).__name__ for n in parsed.nodes}
    assert kinds == {
        "UiNodeInputAttributes",
        "UiNodeTextAttributes",
        "UiNodeImageAttributes",
        "UiNodeAnchorAttributes",
        "UiNodeScriptAttributes",
        "UiNodeDivisionAttributes",
    }
    assert parsed.messages[0].id == 4050001


def test_sdk_parses_container_without_messages_or_nodes() -> None:
    assert UiContainer.from_dict(Container(action="/x").to_dict()) is not None
