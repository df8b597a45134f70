"""Authenticator assurance levels: per method, per session, per identity, and the required-AAL rule."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from kratos_core.errors import Forbidden
from kratos_core.identity.model import Credential, Identity, utcnow
from kratos_core.session.aal import (
    aal_satisfied,
    check_required_aal,
    identity_available_aal,
    method_aal,
    session_aal,
)
from kratos_core.session.model import AuthenticationMethod, Session

PUBLIC = "https://auth.example.org/"


def done(method: str, aal: str) -> AuthenticationMethod:
    return AuthenticationMethod(method=method, aal=aal, completed_at=utcnow())


def identity_with(**configs: tuple[list[str], dict]) -> Identity:
    now = utcnow()
    ident = Identity(id=uuid.uuid4(), schema_id="default", traits={}, created_at=now, updated_at=now)
    for ctype, (identifiers, config) in configs.items():
        ident.credentials[ctype] = Credential(
            id=uuid.uuid4(), type=ctype, identifiers=identifiers, config=config, created_at=now, updated_at=now
        )
    return ident


def session_of(*methods: AuthenticationMethod) -> Session:
    now = utcnow()
    return Session(
        id=uuid.uuid4(),
        identity_id=uuid.uuid4(),
        active=True,
        aal=session_aal(methods),
        authentication_methods=list(methods),
        issued_at=now,
        authenticated_at=now,
        expires_at=now + dt.timedelta(hours=1),
        created_at=now,
        updated_at=now,
    )


PASSWORD = (["a@example.org"], {"hashed_password": "$argon2id$..."})
TOTP = ([], {"totp_url": "otpauth://totp/x?secret=ABC"})


@pytest.mark.parametrize(
    ("method", "kwargs", "expected"),
    [
        ("password", {}, "aal1"),
        ("passkey", {}, "aal1"),
        ("code", {}, "aal1"),
        ("code", {"code_mfa": True}, "aal2"),
        ("oidc", {}, "aal1"),
        ("oidc", {"upstream_mfa": True}, "aal2"),
        ("code_recovery", {}, "aal1"),
        ("link_recovery", {}, "aal1"),
        ("totp", {}, "aal2"),
        ("lookup_secret", {}, "aal2"),
        ("webauthn", {}, "aal2"),
        ("webauthn", {"passwordless": True}, "aal1"),
    ],
)
def test_method_aal(method: str, kwargs: dict, expected: str) -> None:
    assert method_aal(method, **kwargs) == expected


def test_session_aal_needs_both_factors() -> None:
    assert session_aal([]) == "aal0"
    assert session_aal([done("password", "aal1")]) == "aal1"
    # A second factor alone is not aal2 (there was no first factor).
    assert session_aal([done("totp", "aal2")]) == "aal1"
    assert session_aal([done("password", "aal1"), done("totp", "aal2")]) == "aal2"
    # An OIDC login the provider vouches for as MFA counts as both factors.
    assert session_aal([done("oidc", "aal2")]) == "aal2"


def test_identity_available_aal_from_credentials() -> None:
    assert identity_available_aal(identity_with()) == "aal0"
    assert identity_available_aal(identity_with(password=PASSWORD)) == "aal1"
    # A password credential that only reserves identifiers (no hash) is not a usable factor.
    assert identity_available_aal(identity_with(password=(["a@example.org"], {}))) == "aal0"
    assert identity_available_aal(identity_with(password=(["a"], {"use_password_migration_hook": True}))) == "aal1"
    assert identity_available_aal(identity_with(password=PASSWORD, totp=TOTP)) == "aal2"
    assert identity_available_aal(identity_with(password=PASSWORD, totp=([], {"totp_url": ""}))) == "aal1"
    assert identity_available_aal(identity_with(password=PASSWORD, lookup_secret=([], {"recovery_codes": [{"code": "x"}]}))) == "aal2"
    assert identity_available_aal(identity_with(password=PASSWORD, lookup_secret=([], {"recovery_codes": []}))) == "aal1"
    assert identity_available_aal(identity_with(oidc=(["g:1"], {"providers": [{"provider": "g", "subject": "1"}]}))) == "aal1"


def test_webauthn_keys_count_by_kind() -> None:
    mfa_key = identity_with(webauthn=([], {"credentials": [{"id": "k", "is_passwordless": False}]}))
    passwordless_key = identity_with(webauthn=(["u"], {"credentials": [{"id": "k", "is_passwordless": True}]}))
    assert identity_available_aal(mfa_key) == "aal2"
    assert identity_available_aal(passwordless_key) == "aal1"


def test_code_counts_only_when_its_switches_are_on() -> None:
    ident = identity_with(code=(["a@example.org"], {"addresses": [{"channel": "email", "address": "a@example.org"}]}))
    assert identity_available_aal(ident) == "aal0"
    assert identity_available_aal(ident, code_passwordless_enabled=True) == "aal1"
    assert identity_available_aal(ident, code_mfa_enabled=True) == "aal2"


def test_only_enabled_methods_count() -> None:
    ident = identity_with(password=PASSWORD, totp=TOTP)
    assert identity_available_aal(ident, {"password"}) == "aal1"
    assert identity_available_aal(ident, {"password", "totp"}) == "aal2"
    assert identity_available_aal(ident, set()) == "aal0"


@pytest.mark.parametrize(
    ("session_level", "required", "available", "ok"),
    [
        ("aal1", "aal1", "aal2", True),
        ("aal2", "aal1", "aal2", True),
        ("aal1", "highest_available", "aal1", True),
        ("aal1", "highest_available", "aal0", True),
        ("aal1", "highest_available", "aal2", False),
        ("aal2", "highest_available", "aal2", True),
        ("aal0", "aal1", "aal1", False),
    ],
)
def test_required_aal_rule(session_level: str, required: str, available: str, ok: bool) -> None:
    assert aal_satisfied(session_level, required, available) is ok


def test_check_required_aal_refuses_with_redirect_to_aal2_login() -> None:
    ident = identity_with(password=PASSWORD, totp=TOTP)
    weak = session_of(done("password", "aal1"))
    check_required_aal(weak, ident, "aal1", public_base_url=PUBLIC)
    with pytest.raises(Forbidden) as err:
        check_required_aal(weak, ident, "highest_available", public_base_url=PUBLIC, return_to="https://app.example.org/x")
    body = err.value.to_body()
    assert body["error"]["id"] == "session_aal2_required"
    assert body["error"]["code"] == 403
    target = body["redirect_browser_to"]
    assert body["error"]["details"]["redirect_browser_to"] == target
    parts = urlsplit(target)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://auth.example.org/self-service/login/browser"
    assert parse_qs(parts.query) == {"aal": ["aal2"], "return_to": ["https://app.example.org/x"]}

    strong = session_of(done("password", "aal1"), done("totp", "aal2"))
    check_required_aal(strong, ident, "highest_available", public_base_url=PUBLIC)


def test_redirect_has_no_return_to_unless_given() -> None:
    ident = identity_with(password=PASSWORD, totp=TOTP)
    with pytest.raises(Forbidden) as err:
        check_required_aal(session_of(done("password", "aal1")), ident, "highest_available", public_base_url=PUBLIC)
    assert err.value.extra["redirect_browser_to"] == "https://auth.example.org/self-service/login/browser?aal=aal2"
