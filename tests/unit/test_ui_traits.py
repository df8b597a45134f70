"""Trait nodes from an identity schema, and the dotted-key helpers."""

from __future__ import annotations

import json

import msgspec
import pytest

from kratos_core.ui.traits import flatten, identifier_label, trait_names, trait_nodes, unflatten

SCHEMA = {
    "$id": "https://example.com/person.schema.json",
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "definitions": {"tel": {"type": "string", "format": "tel", "title": "Phone"}},
    "properties": {
        "traits": {
            "type": "object",
            "properties": {
                "email": {
                    "type": "string",
                    "format": "email",
                    "title": "E-Mail",
                    "ory.sh/kratos": {"credentials": {"password": {"identifier": True}}},
                },
                "name": {
                    "type": "object",
                    "properties": {
                        "first": {"type": "string", "title": "First name", "pattern": "^[A-Z]"},
                        "last": {"type": "string"},
                    },
                    "required": ["last"],
                },
                "age": {"type": "integer"},
                "score": {"type": "number"},
                "newsletter": {"type": "boolean", "title": "Newsletter"},
                "tier": {"type": "string", "enum": ["free", "pro"]},
                "birthday": {"type": "string", "format": "date"},
                "seen": {"type": "string", "format": "date-time"},
                "website": {"type": "string", "format": "uri"},
                "phone": {"$ref": "#/definitions/tel"},
                "customer_id": {"type": "string", "disableFormField": True},
                "extra": {"type": "object"},
            },
            "required": ["email"],
        }
    },
}


def by_name(nodes):
    return {n.name: json.loads(msgspec.json.encode(n)) for n in nodes}


def test_names_follow_schema_order_and_skip_free_form_objects() -> None:
    assert trait_names(SCHEMA) == [
        "traits.email",
        "traits.name.first",
        "traits.name.last",
        "traits.age",
        "traits.score",
        "traits.newsletter",
        "traits.tier",
        "traits.birthday",
        "traits.seen",
        "traits.website",
        "traits.phone",
        "traits.customer_id",
    ]


def test_types_formats_and_autocomplete() -> None:
    nodes = by_name(trait_nodes(SCHEMA))
    expect = {
        "traits.email": ("email", "email"),
        "traits.name.first": ("text", None),
        "traits.age": ("number", None),
        "traits.score": ("number", None),
        "traits.newsletter": ("checkbox", None),
        "traits.birthday": ("date", None),
        "traits.seen": ("datetime-local", None),
        "traits.website": ("url", "url"),
        "traits.phone": ("tel", "tel"),
    }
    for name, (input_type, autocomplete) in expect.items():
        attrs = nodes[name]["attributes"]
        assert attrs["type"] == input_type, name
        assert attrs.get("autocomplete") == autocomplete, name
        assert nodes[name]["group"] == "default"


def test_required_pattern_enum_disabled_and_labels() -> None:
    nodes = by_name(trait_nodes(SCHEMA))
    assert nodes["traits.email"]["attributes"]["required"] is True
    assert nodes["traits.name.last"]["attributes"]["required"] is True
    assert "required" not in nodes["traits.name.first"]["attributes"]
    assert nodes["traits.name.first"]["attributes"]["pattern"] == "^[A-Z]"
    assert nodes["traits.tier"]["attributes"]["options"] == [{"value": "free"}, {"value": "pro"}]
    assert nodes["traits.customer_id"]["attributes"]["disabled"] is True
    assert nodes["traits.age"]["attributes"]["disabled"] is False
    assert nodes["traits.email"]["meta"] == {
        "label": {"id": 1070002, "text": "E-Mail", "type": "info", "context": {"title": "E-Mail", "name": "traits.email"}}
    }
    assert nodes["traits.phone"]["meta"]["label"]["text"] == "Phone"
    assert nodes["traits.name.last"]["meta"] == {}


def test_values_group_and_hidden() -> None:
    values = {"email": "a@example.com", "name": {"first": "Ada"}, "newsletter": False}
    nodes = by_name(trait_nodes(SCHEMA, group="profile", values=values, hidden=True))
    assert nodes["traits.email"]["attributes"]["value"] == "a@example.com"
    assert nodes["traits.name.first"]["attributes"]["value"] == "Ada"
    assert nodes["traits.newsletter"]["attributes"]["value"] is False
    assert "value" not in nodes["traits.age"]["attributes"]
    assert all(n["attributes"]["type"] == "hidden" for n in nodes.values())
    assert all("autocomplete" not in n["attributes"] for n in nodes.values())
    assert all(n["group"] == "profile" for n in nodes.values())


def test_large_enums_get_no_options() -> None:
    schema = {"properties": {"traits": {"properties": {"c": {"type": "string", "enum": list(range(501))}}}}}
    assert "options" not in by_name(trait_nodes(schema))["traits.c"]["attributes"]


def test_identifier_label() -> None:
    assert identifier_label(SCHEMA).to_dict() == {
        "id": 1070002,
        "text": "E-Mail",
        "type": "info",
        "context": {"title": "E-Mail", "name": "traits.email"},
    }
    two = json.loads(json.dumps(SCHEMA))
    two["properties"]["traits"]["properties"]["website"]["ory.sh/kratos"] = {"credentials": {"code": {"identifier": True, "via": "email"}}}
    assert identifier_label(two).id == 1070004
    assert identifier_label({"properties": {"traits": {}}}).text == "ID"


def test_flatten_unflatten() -> None:
    nested = {"traits": {"email": "a", "name": {"first": "A", "last": "B"}, "tags": ["x"]}, "method": "password"}
    flat = flatten(nested)
    assert flat == {
        "traits.email": "a",
        "traits.name.first": "A",
        "traits.name.last": "B",
        "traits.tags": ["x"],
        "method": "password",
    }
    assert unflatten(flat) == nested
    assert flatten({"a": 1}, "traits") == {"traits.a": 1}
    with pytest.raises(ValueError):
        unflatten({"a": 1, "a.b": 2})
