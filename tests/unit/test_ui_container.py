"""The UI container: wire shape, persistence round trip, issue routing and value echoing."""

from __future__ import annotations

import json

import msgspec

from kratos_core.ui import messages as m
from kratos_core.ui.container import Container, Issue, pointer_to_name
from kratos_core.ui.nodes import csrf_node, img_node, input_node, script_node, submit_node, text_node


def login_container() -> Container:
    ui = Container(action="https://example.com/self-service/login?flow=1")
    ui.append(csrf_node("tok"))
    ui.append(input_node("identifier", "text", value="", required=True, label=m.label_id()))
    ui.append(input_node("password", "password", "password", required=True, autocomplete="current-password", label=m.label_password()))
    ui.append(submit_node("method", "password", "password", m.login_with_password()))
    return ui


def test_wire_shape_omits_empty_flow_messages() -> None:
    data = json.loads(msgspec.json.encode(Container(action="/x")))
    assert data == {"action": "/x", "method": "POST", "nodes": []}
    ui = Container(action="/x", method="GET")
    ui.add_message(m.login_code_sent())
    data = json.loads(msgspec.json.encode(ui))
    assert data["method"] == "GET"
    assert data["messages"] == [m.login_code_sent().to_dict()]


def test_round_trip() -> None:
    ui = login_container()
    ui.add_message(m.invalid_credentials())
    ui.add_field_message("identifier", m.missing_property("identifier"))
    ui.append(text_node("totp_secret_key", m.totp_secret("S"), "totp"))
    ui.append(img_node("totp_qr", "data:image/png;base64,AA", 256, 256, "totp"))
    ui.append(script_node("webauthn_script", "/s.js", integrity="sha512-x", group="webauthn", nonce="n"))
    encoded = msgspec.json.encode(ui)
    loaded = Container.from_dict(json.loads(encoded))
    assert loaded == ui
    assert msgspec.json.encode(loaded) == encoded
    assert Container.from_json(ui.to_json()) == ui
    assert ui.to_dict() == json.loads(encoded)


def test_upsert_replaces_first_and_append_keeps_duplicates() -> None:
    ui = login_container()
    ui.upsert(csrf_node("fresh"))
    assert [n.name for n in ui.nodes].count("csrf_token") == 1
    assert ui.find("csrf_token").value == "fresh"  # type: ignore[union-attr]
    ui.append(submit_node("method", "code", "code", m.login_code()))
    assert [n.value for n in ui.find_all("method")] == ["password", "code"]
    ui.upsert(input_node("traits.email", "email"))
    assert ui.nodes[-1].name == "traits.email"
    ui.remove("method")
    assert ui.find("method") is None


def test_set_value() -> None:
    ui = login_container()
    assert ui.set_value("identifier", "a@example.com")
    assert ui.find("identifier").value == "a@example.com"  # type: ignore[union-attr]
    assert not ui.set_value("nope", 1)


def test_pointer_to_name() -> None:
    assert pointer_to_name("#/traits/email") == "traits.email"
    assert pointer_to_name("/traits/name/first") == "traits.name.first"
    assert pointer_to_name("#/a~1b") == "a/b"
    assert pointer_to_name("#/") == ""
    assert pointer_to_name("") == ""


def test_add_issues_routing() -> None:
    ui = login_container()
    ui.add_issues(
        [
            Issue(pointer="#/identifier", message=m.missing_property("identifier")),
            {"pointer": "#/traits/email", "message": m.missing_property("email")},
            Issue(pointer="#/", message=m.validation_generic("bad")),
            Issue(pointer="", message=m.duplicate_credentials()),
        ]
    )
    assert [x.id for x in ui.find("identifier").messages] == [4000002]  # type: ignore[union-attr]
    appended = ui.nodes[-1]
    assert appended.name == "traits.email"
    assert appended.type == "input"
    assert appended.group == "default"
    assert appended.attributes.type == "text"  # type: ignore[union-attr]
    assert [x.context for x in appended.messages] == [{"property": "email"}]
    assert [x.id for x in ui.messages] == [4000001, 4000007]


def test_reset_messages() -> None:
    ui = login_container()
    ui.add_message(m.invalid_credentials())
    ui.add_field_message("password", m.password_too_short(8, 1))
    ui.reset_messages()
    assert ui.messages == []
    assert all(n.messages == [] for n in ui.nodes)
    data = json.loads(msgspec.json.encode(ui))
    assert "messages" not in data
    assert all(n["messages"] == [] for n in data["nodes"])


def test_fill_values_never_echoes_passwords_or_server_values() -> None:
    ui = login_container()
    ui.append(input_node("method", "hidden", "code", value="code"))
    ui.append(input_node("traits.name.first", "text"))
    ui.fill_values(
        {
            "identifier": "a@example.com",
            "password": "secret",
            "csrf_token": "attacker",
            "method": "evil",
            "traits": {"name": {"first": "Ada"}},
            "unknown": "x",
        }
    )
    assert ui.find("identifier").value == "a@example.com"  # type: ignore[union-attr]
    assert ui.find("password").value is None  # type: ignore[union-attr]
    assert ui.find("csrf_token").value == "tok"  # type: ignore[union-attr]
    assert [n.value for n in ui.find_all("method")] == ["password", "code"]
    assert ui.find("traits.name.first").value == "Ada"  # type: ignore[union-attr]
    assert b"secret" not in msgspec.json.encode(ui)


def test_sort_delegates() -> None:
    ui = Container(action="/x")
    ui.append(submit_node("method", "password", "password"))
    ui.append(input_node("password", "password", "password"))
    ui.append(csrf_node("t"))
    ui.sort("login")
    assert [n.name for n in ui.nodes] == ["csrf_token", "password", "method"]
