"""Node order per flow kind."""

from __future__ import annotations

from kratos_core.ui import messages as m
from kratos_core.ui.container import Container
from kratos_core.ui.nodes import csrf_node, input_node, submit_node
from kratos_core.ui.order import sort_nodes
from kratos_core.ui.traits import trait_names, trait_nodes


def names(nodes):
    return [(n.name, n.value) for n in nodes]


def test_login_order() -> None:
    nodes = [
        submit_node("method", "password", "password", m.login_with_password()),
        input_node("password", "password", "password", required=True),
        submit_node("provider", "google", "oidc", m.login_with_provider("Google", "google")),
        input_node("identifier", "text", value="", required=True),
        submit_node("method", "code", "code", m.login_code()),
        csrf_node("tok"),
        submit_node("provider", "github", "oidc", m.login_with_provider("GitHub", "github")),
    ]
    assert names(sort_nodes(nodes, "login")) == [
        ("provider", "github"),
        ("provider", "google"),
        ("csrf_token", "tok"),
        ("identifier", ""),
        ("password", None),
        ("method", "password"),
        ("method", "code"),
    ]


def test_registration_order_uses_schema_key_order() -> None:
    schema = {
        "properties": {
            "traits": {
                "properties": {
                    "email": {"type": "string", "format": "email"},
                    "name": {"type": "object", "properties": {"first": {"type": "string"}, "last": {"type": "string"}}},
                    "age": {"type": "integer"},
                }
            }
        }
    }
    ui = Container(action="/r")
    ui.append(submit_node("method", "password", "password", m.sign_up()))
    ui.append(input_node("password", "password", "password", autocomplete="new-password"))
    for node in reversed(trait_nodes(schema)):
        ui.append(node)
    ui.append(submit_node("provider", "github", "oidc", m.registration_with_provider("GitHub", "github")))
    ui.append(csrf_node("tok"))
    ui.sort("registration", trait_order=trait_names(schema))
    assert [n.name for n in ui.nodes] == [
        "provider",
        "csrf_token",
        "traits.email",
        "traits.name.first",
        "traits.name.last",
        "traits.age",
        "password",
        "method",
    ]


def test_trait_order_accepts_names_without_prefix() -> None:
    nodes = [input_node("traits.b"), input_node("traits.a")]
    assert [n.name for n in sort_nodes(nodes, "registration", trait_order=["a", "b"])] == ["traits.a", "traits.b"]


def test_method_last_within_its_group() -> None:
    nodes = [
        submit_node("method", "totp", "totp", m.login_totp()),
        input_node("totp_code", "text", "totp", required=True),
        csrf_node("t"),
    ]
    assert [n.name for n in sort_nodes(nodes, "login")] == ["csrf_token", "totp_code", "method"]


def test_settings_order() -> None:
    nodes = [
        submit_node("method", "totp", "totp"),
        input_node("totp_code", "text", "totp"),
        submit_node("method", "password", "password", m.label_save()),
        input_node("password", "password", "password"),
        submit_node("method", "profile", "profile", m.label_save()),
        input_node("traits.email", "email", "profile"),
        csrf_node("t"),
    ]
    got = [(n.group, n.name) for n in sort_nodes(nodes, "settings", trait_order=["traits.email"])]
    assert got == [
        ("default", "csrf_token"),
        ("password", "password"),
        ("password", "method"),
        ("profile", "traits.email"),
        ("profile", "method"),
        ("totp", "totp_code"),
        ("totp", "method"),
    ]


def test_recovery_and_verification_keep_insertion_order() -> None:
    nodes = [submit_node("method", "code", "code"), input_node("email", "email", "code"), csrf_node("t")]
    assert sort_nodes(nodes, "recovery") == nodes
    assert sort_nodes(nodes, "verification") == nodes
