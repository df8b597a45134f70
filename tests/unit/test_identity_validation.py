"""Traits validation: extension extraction, tel normalisation and error-to-message mapping."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kratos_core.errors import BadRequest
from kratos_core.identity import (
    IdentitySchema,
    TraitsResult,
    TraitsValidationError,
    ValidationIssue,
    validate_traits,
)

EXT = "ory.sh/kratos"


def compile_traits(properties: dict[str, Any], *, required: list[str] | None = None, **extra: Any) -> IdentitySchema:
    traits: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        traits["required"] = required
    doc = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"traits": traits},
    }
    return IdentitySchema.compile("test", doc)


def phone_password_schema() -> IdentitySchema:
    """Like the quickstart phone-password schema, plus code and recovery on the e-mail."""
    return compile_traits(
        {
            "email": {
                "type": "string",
                "format": "email",
                "title": "E-mail",
                "minLength": 3,
                EXT: {
                    "credentials": {"password": {"identifier": True}, "code": {"identifier": True, "via": "email"}},
                    "verification": {"via": "email"},
                    "recovery": {"via": "email"},
                },
            },
            "phone": {
                "type": "string",
                "format": "tel",
                "title": "Phone number",
                "minLength": 3,
                EXT: {
                    "credentials": {"password": {"identifier": True}, "code": {"identifier": True, "via": "sms"}},
                    "verification": {"via": "sms"},
                },
            },
            "name": {"type": "object", "properties": {"first": {"type": "string", "minLength": 2}}},
        },
        required=["email", "phone"],
        additionalProperties=False,
    )


def fail(schema: IdentitySchema, traits: Any) -> list[ValidationIssue]:
    with pytest.raises(TraitsValidationError) as info:
        validate_traits(schema, traits)
    return info.value.issues


def only_issue(schema: IdentitySchema, traits: Any) -> ValidationIssue:
    issues = fail(schema, traits)
    assert len(issues) == 1, issues
    return issues[0]


def assert_message(issue: ValidationIssue, pointer: str, id: int, text: str, context: dict[str, Any]) -> None:
    assert issue.pointer == pointer
    assert issue.message.id == id
    assert issue.message.text == text
    assert issue.message.type == "error"
    assert issue.message.to_dict()["context"] == context


# --------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------


def test_quickstart_email_and_phone() -> None:
    schema = phone_password_schema()
    submitted = {"email": "Jane@Example.ORG", "phone": "+49 151 23456789", "name": {"first": "Jane"}}
    original = copy.deepcopy(submitted)
    result = validate_traits(schema, submitted)
    assert isinstance(result, TraitsResult)
    # tel traits are stored in E.164; other traits are left as entered
    assert result.traits == {"email": "Jane@Example.ORG", "phone": "+4915123456789", "name": {"first": "Jane"}}
    assert submitted == original  # the caller's document is not modified
    assert result.credential_identifiers == {
        "password": ["jane@example.org", "+4915123456789"],
        "code": ["jane@example.org", "+4915123456789"],
    }
    assert result.credential_addresses["code"] == [("email", "jane@example.org"), ("sms", "+4915123456789")]
    assert result.verifiable_addresses == [("email", "jane@example.org"), ("sms", "+4915123456789")]
    assert result.recovery_addresses == [("email", "jane@example.org")]
    assert result.credential_values == {}


def test_untouched_traits_are_not_copied() -> None:
    schema = phone_password_schema()
    submitted = {"email": "jane@example.org", "phone": "+4915123456789"}
    assert validate_traits(schema, submitted).traits is submitted


def test_tel_normalisation_only_copies_changed_branch() -> None:
    schema = compile_traits(
        {
            "contact": {"type": "object", "properties": {"phone": {"type": "string", "format": "tel"}}},
            "profile": {"type": "object"},
        }
    )
    profile = {"bio": "hi"}
    submitted = {"contact": {"phone": "+1 (650) 253-0000"}, "profile": profile}
    result = validate_traits(schema, submitted)
    assert result.traits["contact"] == {"phone": "+16502530000"}
    assert result.traits["profile"] is profile
    assert submitted["contact"] == {"phone": "+1 (650) 253-0000"}


def test_unparseable_tel_is_kept_and_rejected() -> None:
    schema = compile_traits({"phone": {"type": "string", "format": "tel"}})
    issue = only_issue(schema, {"phone": "0151 2345"})
    assert_message(issue, "#/traits/phone", 4000041, "Enter a valid phone number", {"value": "0151 2345"})


def test_all_credentials_and_names() -> None:
    schema = compile_traits(
        {
            "email": {
                "type": "string",
                "format": "email",
                EXT: {
                    "credentials": {
                        "password": {"identifier": True},
                        "webauthn": {"identifier": True},
                        "passkey": {"display_name": True},
                        "totp": {"account_name": True},
                        "code": {"identifier": True, "via": "email"},
                    }
                },
            }
        }
    )
    result = validate_traits(schema, {"email": "Jane@Example.org"})
    assert result.credential_identifiers == {
        "password": ["jane@example.org"],
        "webauthn": ["jane@example.org"],
        "code": ["jane@example.org"],
    }
    # account and display names are shown to people: kept as entered
    assert result.credential_values == {"totp": {"account_name": ["Jane@Example.org"]}, "passkey": {"display_name": ["Jane@Example.org"]}}


def test_array_property_contributes_each_item() -> None:
    schema = compile_traits(
        {
            "emails": {
                "type": "array",
                "items": {"type": "string", "format": "email"},
                EXT: {
                    "credentials": {"password": {"identifier": True}, "code": {"identifier": True, "via": "email"}},
                    "verification": {"via": "email"},
                    "recovery": {"via": "email"},
                },
            }
        }
    )
    result = validate_traits(schema, {"emails": ["b@example.org", "A@example.org", "a@example.org"]})
    assert result.credential_identifiers == {
        "password": ["b@example.org", "a@example.org"],
        "code": ["b@example.org", "a@example.org"],
    }
    assert result.credential_addresses["code"] == [("email", "a@example.org"), ("email", "b@example.org")]
    assert result.verifiable_addresses == [("email", "b@example.org"), ("email", "a@example.org")]
    assert result.recovery_addresses == [("email", "b@example.org"), ("email", "a@example.org")]


def test_extension_on_array_items() -> None:
    schema = compile_traits(
        {
            "phones": {
                "type": "array",
                "items": {"type": "string", "format": "tel", EXT: {"recovery": {"via": "sms"}}},
            }
        }
    )
    result = validate_traits(schema, {"phones": ["+1 650 253 0000", "+49 151 23456789"]})
    assert result.traits == {"phones": ["+16502530000", "+4915123456789"]}
    assert result.recovery_addresses == [("sms", "+16502530000"), ("sms", "+4915123456789")]


def test_nested_identifier_and_dedup_across_fields() -> None:
    ext = {EXT: {"credentials": {"password": {"identifier": True}}, "verification": {"via": "email"}}}
    schema = compile_traits(
        {
            "primary": {"type": "string", "format": "email", **ext},
            "account": {"type": "object", "properties": {"backup": {"type": "string", "format": "email", **ext}}},
        }
    )
    result = validate_traits(schema, {"primary": "jane@example.org", "account": {"backup": "JANE@example.org"}})
    assert result.credential_identifiers == {"password": ["jane@example.org"]}
    assert result.verifiable_addresses == [("email", "jane@example.org")]


def test_missing_optional_identifier_gives_empty_result() -> None:
    schema = compile_traits(
        {"email": {"type": "string", "format": "email", EXT: {"credentials": {"password": {"identifier": True}}}}}
    )
    result = validate_traits(schema, {})
    assert result.credential_identifiers == {}
    assert result.credential_addresses == {} and result.verifiable_addresses == [] and result.recovery_addresses == []


def test_code_without_via_is_inferred_from_format() -> None:
    schema = compile_traits(
        {
            "email": {"type": "string", "format": "email", EXT: {"credentials": {"code": {"identifier": True}}}},
            "phone": {"type": "string", "format": "tel", EXT: {"credentials": {"code": {"identifier": True}}}},
        }
    )
    result = validate_traits(schema, {"email": "jane@example.org", "phone": "+16502530000"})
    assert result.credential_addresses["code"] == [("email", "jane@example.org"), ("sms", "+16502530000")]


def test_no_validate_format_skips_format_checks() -> None:
    schema = compile_traits(
        {
            "phone": {"type": "string", "format": "no-validate", EXT: {"verification": {"via": "sms"}}},
            "email": {"type": "string", "format": "no-validate", EXT: {"recovery": {"via": "email"}}},
        }
    )
    result = validate_traits(schema, {"phone": "call me", "email": "not-an-email"})
    assert result.verifiable_addresses == [("sms", "call me")]
    assert result.recovery_addresses == [("email", "not-an-email")]


def test_email_via_implies_email_format() -> None:
    schema = compile_traits({"contact": {"type": "string", EXT: {"verification": {"via": "email"}}}})
    issue = only_issue(schema, {"contact": "not-an-email"})
    assert_message(issue, "#/traits/contact", 4000040, "Enter a valid email address", {"value": "not-an-email"})
    assert validate_traits(schema, {"contact": "a@example.org"}).verifiable_addresses == [("email", "a@example.org")]


# --------------------------------------------------------------------------------------------
# Error mapping
# --------------------------------------------------------------------------------------------


def test_required() -> None:
    issues = fail(phone_password_schema(), {})
    assert [i.pointer for i in issues] == ["#/traits/email", "#/traits/phone"]
    assert_message(issues[0], "#/traits/email", 4000002, "Property email is missing.", {"property": "email"})
    assert_message(issues[1], "#/traits/phone", 4000002, "Property phone is missing.", {"property": "phone"})
    assert issues[0].field == "traits.email"


def test_required_nested() -> None:
    schema = compile_traits(
        {"name": {"type": "object", "properties": {"first": {"type": "string"}, "last": {"type": "string"}}, "required": ["last", "first"]}}
    )
    issues = fail(schema, {"name": {}})
    assert [(i.pointer, i.message.context["property"]) for i in issues] == [
        ("#/traits/name/first", "first"),
        ("#/traits/name/last", "last"),
    ]
    assert issues[0].field == "traits.name.first"


def test_min_length_on_nested_property() -> None:
    issue = only_issue(phone_password_schema(), {"email": "jane@example.org", "phone": "+16502530000", "name": {"first": "J"}})
    assert_message(
        issue, "#/traits/name/first", 4000003, "length must be >= 2, but got 1", {"min_length": 2, "actual_length": 1}
    )
    assert issue.schema_pointer == "#/properties/traits/properties/name/properties/first/minLength"


def test_max_length_counts_code_points() -> None:
    schema = compile_traits({"nick": {"type": "string", "maxLength": 3}})
    issue = only_issue(schema, {"nick": "ääää"})
    assert_message(issue, "#/traits/nick", 4000017, "length must be <= 3, but got 4", {"max_length": 3, "actual_length": 4})


def test_pattern() -> None:
    schema = compile_traits({"username": {"type": "string", "pattern": "^[a-z]+\\d*$"}})
    issue = only_issue(schema, {"username": "Jane Doe"})
    assert_message(issue, "#/traits/username", 4000004, 'does not match pattern "^[a-z]+\\\\d*$"', {"pattern": "^[a-z]+\\d*$"})


def test_type() -> None:
    schema = compile_traits({"age": {"type": ["integer", "null"]}, "name": {"type": "string"}})
    issues = fail(schema, {"age": "42", "name": 7})
    assert_message(
        issues[0], "#/traits/age", 4000026, "expected integer or null, but got string",
        {"allowed_types": ["integer", "null"], "actual_type": "string"},
    )
    assert_message(
        issues[1], "#/traits/name", 4000026, "expected string, but got integer",
        {"allowed_types": ["string"], "actual_type": "integer"},
    )


@pytest.mark.parametrize(("traits", "actual"), [(None, "null"), ("jane", "string"), ([1], "array"), (True, "boolean"), (1.5, "number")])
def test_non_object_traits(traits: Any, actual: str) -> None:
    issue = only_issue(phone_password_schema(), traits)
    assert_message(
        issue, "#/traits", 4000026, f"expected object, but got {actual}", {"allowed_types": ["object"], "actual_type": actual}
    )


def test_non_object_traits_with_permissive_schema_do_not_crash() -> None:
    doc = {"properties": {"traits": {"properties": {"email": {"type": "string", EXT: {"credentials": {"password": {"identifier": True}}}}}}}}
    permissive = IdentitySchema.compile("p", doc)
    assert validate_traits(permissive, "jane").credential_identifiers == {}
    assert validate_traits(permissive, None).traits is None


def test_format_email() -> None:
    issue = only_issue(phone_password_schema(), {"email": "jane(at)example.org", "phone": "+16502530000"})
    assert_message(issue, "#/traits/email", 4000040, "Enter a valid email address", {"value": "jane(at)example.org"})
    assert issue.reason == '"jane(at)example.org" is not valid "email"'


def test_format_tel() -> None:
    issue = only_issue(phone_password_schema(), {"email": "jane@example.org", "phone": "+1 555"})
    assert_message(issue, "#/traits/phone", 4000041, "Enter a valid phone number", {"value": "+1 555"})


def test_const() -> None:
    schema = compile_traits({"tos": {"type": "boolean", "const": True}, "plan": {"const": "free"}})
    issues = fail(schema, {"tos": False, "plan": "pro"})
    assert_message(issues[0], "#/traits/plan", 4000029, "must be equal to constant free", {"expected": "free"})
    assert_message(issues[1], "#/traits/tos", 4000029, "must be equal to constant true", {"expected": True})


def test_enum_is_generic() -> None:
    schema = compile_traits({"color": {"type": "string", "enum": ["red", "green"]}})
    issue = only_issue(schema, {"color": "blue"})
    text = 'value must be one of "red", "green"'
    assert_message(issue, "#/traits/color", 4000001, text, {"reason": text})


def test_additional_properties_is_generic() -> None:
    issue = only_issue(phone_password_schema(), {"email": "jane@example.org", "phone": "+16502530000", "extra": 1})
    text = 'additionalProperties "extra" not allowed'
    assert_message(issue, "#/traits", 4000001, text, {"reason": text})


def test_other_format_is_generic() -> None:
    schema = compile_traits({"born": {"type": "string", "format": "date"}, "site": {"type": "string", "format": "uri"}})
    issues = fail(schema, {"born": "2024-13-01", "site": "not a uri"})
    assert_message(issues[0], "#/traits/born", 4000001, '"2024-13-01" is not valid "date"', {"reason": '"2024-13-01" is not valid "date"'})
    assert_message(issues[1], "#/traits/site", 4000001, '"not a uri" is not valid "uri"', {"reason": '"not a uri" is not valid "uri"'})
    ok = validate_traits(schema, {"born": "2024-02-29", "site": "https://example.org/a?b=c"})
    assert ok.traits["born"] == "2024-02-29"


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date-time", "2024-05-01T10:11:12.123Z", "2024-05-01 25:00"),
        ("uuid", "9f425a8d-7fb9-4d83-8c07-8c1b3a4f1d3c", "nope"),
        ("ipv4", "192.0.2.1", "300.1.1.1"),
    ],
)
def test_more_formats(fmt: str, good: str, bad: str) -> None:
    schema = compile_traits({"v": {"type": "string", "format": fmt}})
    assert validate_traits(schema, {"v": good}).traits == {"v": good}
    assert only_issue(schema, {"v": bad}).message.id == 4000001


@pytest.mark.parametrize(
    ("keyword_schema", "value", "id", "text", "context"),
    [
        ({"minimum": 18}, 17, 4000018, "must be >= 18 but found 17", {"minimum": 18, "actual": 17}),
        ({"exclusiveMinimum": 0}, 0, 4000019, "must be > 0 but found 0", {"minimum": 0, "actual": 0}),
        ({"maximum": 1.5}, 2, 4000020, "must be <= 1.5 but found 2", {"maximum": 1.5, "actual": 2}),
        ({"exclusiveMaximum": 10}, 10.0, 4000021, "must be < 10 but found 10", {"maximum": 10, "actual": 10.0}),
        ({"multipleOf": 5}, 12, 4000022, "12 not multipleOf 5", {"base": 5, "actual": 12}),
    ],
)
def test_numeric_keywords(keyword_schema: dict[str, Any], value: Any, id: int, text: str, context: dict[str, Any]) -> None:
    schema = compile_traits({"n": {"type": "number", **keyword_schema}})
    assert_message(only_issue(schema, {"n": value}), "#/traits/n", id, text, context)


def test_array_keywords() -> None:
    schema = compile_traits(
        {
            "few": {"type": "array", "minItems": 2},
            "many": {"type": "array", "maxItems": 1},
            "unique": {"type": "array", "uniqueItems": True},
        }
    )
    issues = fail(schema, {"few": [1], "many": [1, 2, 3], "unique": ["a", "b", "c", "b"]})
    assert_message(issues[0], "#/traits/few", 4000024, "minimum 2 items allowed, but found 1 items", {"min_items": 2, "actual_items": 1})
    assert_message(issues[1], "#/traits/many", 4000023, "maximum 1 items allowed, but found 3 items", {"max_items": 1, "actual_items": 3})
    assert_message(issues[2], "#/traits/unique", 4000025, "items at index 1 and 3 are equal", {"index_a": 1, "index_b": 3})


def test_error_item_pointer_in_array() -> None:
    schema = compile_traits({"emails": {"type": "array", "items": {"type": "string", "format": "email"}}})
    issue = only_issue(schema, {"emails": ["a@example.org", "nope"]})
    assert issue.pointer == "#/traits/emails/1"
    assert issue.field == "traits.emails.1"


def test_error_shape_and_reason() -> None:
    with pytest.raises(TraitsValidationError) as info:
        validate_traits(phone_password_schema(), {"phone": "+16502530000", "email": "x"})
    error = info.value
    assert isinstance(error, BadRequest)
    assert error.status_code == 400
    # sorted by pointer, then message id
    assert [(i.pointer, i.message.id) for i in error.issues] == [("#/traits/email", 4000003), ("#/traits/email", 4000040)]
    assert error.reason == (
        "I[#/traits/email] S[#/properties/traits/properties/email/minLength] length must be >= 3, but got 1; "
        'I[#/traits/email] S[#/properties/traits/properties/email/format] "x" is not valid "email"'
    )
    body = error.to_body()
    assert body["error"]["code"] == 400
    assert body["error"]["reason"] == error.reason


def test_issues_are_deterministic() -> None:
    schema = phone_password_schema()
    traits = {"email": 1, "phone": "x", "name": {"first": 2}, "zzz": True}
    first = [(i.pointer, i.message.id) for i in fail(schema, traits)]
    assert first == sorted(first)
    assert first == [(i.pointer, i.message.id) for i in fail(schema, traits)]
