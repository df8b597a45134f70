"""The message catalogue: ids, texts, types and context keys are the wire contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from kratos_core.ui import messages as m
from kratos_core.ui.messages import MESSAGES, message


def test_login_with_password() -> None:
    msg = m.login_with_password()
    assert msg.to_dict() == {"id": 1010022, "text": "Sign in with password", "type": "info"}
    # No context means no "context" key at all on the wire.
    assert b"context" not in msgspec.json.encode(msg)


def test_invalid_credentials() -> None:
    msg = m.invalid_credentials()
    assert msg.id == 4000006
    assert msg.type == "error"
    assert msg.text == (
        "The provided credentials are invalid, check for spelling mistakes in your password or "
        "username, email address, or phone number."
    )


def test_missing_property() -> None:
    msg = m.missing_property("email")
    assert msg.to_dict() == {
        "id": 4000002,
        "text": "Property email is missing.",
        "type": "error",
        "context": {"property": "email"},
    }


def test_password_too_short() -> None:
    msg = m.password_too_short(8, 3)
    assert msg.id == 4000032
    assert msg.text == "The password must be at least 8 characters long, but got 3."
    assert msg.context == {"min_length": 8, "actual_length": 3}


def test_settings_saved_is_success() -> None:
    msg = m.settings_saved()
    assert (msg.id, msg.text, msg.type) == (1050001, "Your changes have been saved!", "success")


@pytest.mark.parametrize(
    ("kind", "expected_id"),
    [
        ("login", 4010001),
        ("registration", 4040001),
        ("settings", 4050001),
        ("recovery", 4060005),
        ("verification", 4070005),
    ],
)
def test_flow_expired(kind: str, expected_id: int) -> None:
    expired_at = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    msg = m.flow_expired(kind, expired_at, now=expired_at + timedelta(minutes=2, seconds=3))  # type: ignore[arg-type]
    assert msg.id == expected_id
    assert msg.type == "error"
    assert msg.text == f"The {kind} flow expired 2.05 minutes ago, please try again."
    assert msg.context == {"expired_at": "2024-05-01T12:00:00Z", "expired_at_unix": 1714564800}


def test_placeholders_render_from_context() -> None:
    assert message(1010002, provider="GitHub", provider_id="github").text == "Sign in with GitHub"
    assert m.registration_with_provider("Google", "google").text == "Sign up with Google"
    assert m.login_code_to_address("a@example.com", "email").context == {
        "address": "a@example.com",
        "channel": "email",
    }
    assert m.min_length(6, 2).text == "length must be >= 6, but got 2"
    assert m.wrong_type(["string", "number"], "boolean").text == "expected string or number, but got boolean"
    assert m.minimum(5.0, 3.5).text == "must be >= 5 but found 3.5"


def test_trait_label() -> None:
    msg = m.trait_label("E-Mail", "traits.email")
    assert msg.to_dict() == {
        "id": 1070002,
        "text": "E-Mail",
        "type": "info",
        "context": {"title": "E-Mail", "name": "traits.email"},
    }


def test_lookup_secret_list_marks_used_codes() -> None:
    used = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    msg = m.lookup_secret_list([("abcd", None), ("efgh", used)])
    assert msg.id == 1050015
    assert msg.text == "abcd, used"
    secrets = msg.context["secrets"]  # type: ignore[index]
    assert [s["id"] for s in secrets] == [1050009, 1050014]
    assert secrets[1]["context"] == {"used_at": "2024-01-02T03:04:05Z", "used_at_unix": 1704164645}


def test_recovery_successful_minutes() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    msg = m.recovery_successful(now + timedelta(minutes=15), now=now)
    assert msg.type == "success"
    assert "within the next 15.00 minutes." in msg.text
    assert set(msg.context) == {  # type: ignore[arg-type]
        "privilegedSessionExpiresAt",
        "privileged_session_expires_at",
        "privileged_session_expires_at_unix",
    }


def test_every_catalogued_id_is_reachable() -> None:
    samples = {
        "provider": "X",
        "provider_id": "x",
        "address": "a",
        "channel": "email",
        "duplicate_identifier": "a",
        "secret": "s",
        "used_at": "2024-01-01T00:00:00Z",
        "secrets": [{"id": 1050009, "text": "abc", "type": "info"}],
        "display_name": "key",
        "privileged_session_expires_at": "2030-01-01T00:00:00Z",
        "masked_address": "a***",
        "title": "T",
        "name": "n",
        "reason": "r",
        "property": "p",
        "min_length": 1,
        "max_length": 1,
        "actual_length": 1,
        "pattern": "p",
        "minimum": 1,
        "maximum": 1,
        "actual": 1,
        "base": 1,
        "max_items": 1,
        "min_items": 1,
        "actual_items": 1,
        "index_a": 0,
        "index_b": 1,
        "allowed_types": ["string"],
        "actual_type": "number",
        "expected": 1,
        "expired_at": "2020-01-01T00:00:00Z",
    }
    for mid, spec in MESSAGES.items():
        msg = message(mid, text="free") if spec.template is None else message(mid, **samples)
        assert msg.id == mid
        assert msg.text
        assert msg.type == spec.type
        assert spec.type == "error" or mid < 4000000


def test_free_text_label_requires_text() -> None:
    with pytest.raises(ValueError):
        message(1070000)
    assert m.label("a***@example.com").to_dict() == {"id": 1070000, "text": "a***@example.com", "type": "info"}
