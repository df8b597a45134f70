"""Node serialisation: the omit/keep rules are asserted on the encoded JSON."""

from __future__ import annotations

import json

import msgspec
import pytest

from kratos_core.ui import messages as m
from kratos_core.ui.nodes import (
    Node,
    anchor_node,
    csrf_node,
    div_node,
    group_for_credential,
    img_node,
    input_node,
    script_integrity,
    script_node,
    submit_node,
    text_node,
)


def wire(node: Node) -> dict:
    return json.loads(msgspec.json.encode(node))


def test_csrf_node() -> None:
    assert wire(csrf_node("masked")) == {
        "type": "input",
        "group": "default",
        "attributes": {
            "name": "csrf_token",
            "type": "hidden",
            "value": "masked",
            "required": True,
            "disabled": False,
            "node_type": "input",
        },
        "messages": [],
        "meta": {},
    }


def test_input_omits_empty_but_keeps_empty_string_value_and_disabled() -> None:
    node = input_node("identifier", "text", value="", required=True, label=m.label_id())
    attrs = wire(node)["attributes"]
    assert attrs == {"name": "identifier", "type": "text", "value": "", "required": True, "disabled": False, "node_type": "input"}
    assert wire(node)["meta"] == {"label": {"id": 1070004, "text": "ID", "type": "info"}}


def test_input_omits_null_value_and_false_required() -> None:
    attrs = wire(input_node("password", "password", "password", autocomplete="current-password"))["attributes"]
    assert "value" not in attrs
    assert "required" not in attrs
    assert attrs["disabled"] is False
    assert attrs["type"] == "password"
    assert attrs["autocomplete"] == "current-password"
    for key in ("label", "pattern", "onclick", "onclickTrigger", "onload", "onloadTrigger", "maxlength", "options"):
        assert key not in attrs


def test_input_keeps_falsy_non_null_values() -> None:
    assert wire(input_node("traits.n", "number", value=0))["attributes"]["value"] == 0
    assert wire(input_node("traits.b", "checkbox", value=False))["attributes"]["value"] is False


def test_input_all_attributes() -> None:
    node = input_node(
        "code",
        "text",
        "code",
        required=True,
        autocomplete="one-time-code",
        attributes_label=m.label_recovery_code(),
        pattern="[0-9]+",
        disabled=True,
        onclick="x()",
        onclick_trigger="oryWebAuthnLogin",
        onload="y()",
        onload_trigger="oryPasskeyLoginAutocompleteInit",
        maxlength=6,
        options=["a", 1],
    )
    attrs = wire(node)["attributes"]
    assert attrs["onclickTrigger"] == "oryWebAuthnLogin"
    assert attrs["onloadTrigger"] == "oryPasskeyLoginAutocompleteInit"
    assert attrs["maxlength"] == 6
    assert attrs["pattern"] == "[0-9]+"
    assert attrs["disabled"] is True
    assert attrs["options"] == [{"value": "a"}, {"value": 1}]
    assert attrs["label"]["id"] == 1070010


def test_submit_node() -> None:
    node = submit_node("method", "password", "password", m.login_with_password())
    assert wire(node)["attributes"] == {"name": "method", "type": "submit", "value": "password", "disabled": False, "node_type": "input"}
    assert wire(node)["meta"]["label"]["id"] == 1010022


def test_text_node() -> None:
    node = text_node("totp_secret_key", m.totp_secret("ABC"), "totp", label=m.totp_secret_label())
    data = wire(node)
    assert data["type"] == "text"
    assert data["attributes"] == {
        "id": "totp_secret_key",
        "text": {"id": 1050006, "text": "ABC", "type": "info", "context": {"secret": "ABC"}},
        "node_type": "text",
    }
    assert data["meta"]["label"]["id"] == 1050017


def test_img_node() -> None:
    data = wire(img_node("totp_qr", "data:image/png;base64,AAA", 256, 256, "totp", m.totp_qr()))
    assert data["attributes"] == {"id": "totp_qr", "src": "data:image/png;base64,AAA", "width": 256, "height": 256, "node_type": "img"}


def test_anchor_node() -> None:
    data = wire(anchor_node("continue", "https://example.com/", m.label_continue()))
    assert data["type"] == "a"
    assert data["attributes"]["node_type"] == "a"
    assert data["attributes"]["href"] == "https://example.com/"
    assert data["attributes"]["title"]["id"] == 1070009


def test_script_node() -> None:
    body = b"console.log(1)"
    data = wire(script_node("webauthn_script", "https://x/.well-known/ory/webauthn.js", integrity=script_integrity(body), group="webauthn", nonce="n"))
    assert data["attributes"] == {
        "id": "webauthn_script",
        "src": "https://x/.well-known/ory/webauthn.js",
        "async": True,
        "referrerpolicy": "no-referrer",
        "crossorigin": "anonymous",
        "integrity": script_integrity(body),
        "type": "text/javascript",
        "nonce": "n",
        "node_type": "script",
    }
    assert script_integrity(body).startswith("sha512-")


def test_script_nonce_defaults_to_uuid() -> None:
    nonce = wire(script_node("s", "/s.js", integrity="sha512-x"))["attributes"]["nonce"]
    assert len(nonce) == 36


def test_div_node() -> None:
    assert wire(div_node("captcha"))["attributes"] == {"id": "captcha", "node_type": "div"}
    attrs = wire(div_node("captcha", "captcha", class_="c", data={"sitekey": "k"}))["attributes"]
    assert attrs == {"id": "captcha", "class": "c", "data": {"sitekey": "k"}, "node_type": "div"}


def test_node_decodes_back() -> None:
    for node in (csrf_node("t"), text_node("t", m.totp_secret("s")), div_node("d", class_="c")):
        assert msgspec.json.decode(msgspec.json.encode(node), type=Node) == node


def test_rejected_values() -> None:
    with pytest.raises(ValueError):
        input_node("identifier", autocomplete="username")
    with pytest.raises(ValueError):
        input_node("x", group="deviceauthn")
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"type": "input", "group": "deviceauthn", "attributes": {"node_type": "input", "name": "x", "type": "text", "disabled": False}, "messages": [], "meta": {}}, Node)


def test_group_for_credential() -> None:
    assert group_for_credential("password") == "password"
    assert group_for_credential("lookup_secret") == "lookup_secret"
    assert group_for_credential("profile") == "default"
