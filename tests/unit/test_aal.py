"""Authenticator assurance levels: per method, per session, per identity, and the required-AAL rule."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from kratos_core.errors import Forbidden
from kratos_core.identity.model import Credential, Identity, utcnow
from kratos_core.methods import MethodBase, declared, methods_by_credential_type
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


class Secret(MethodBase):
    """A first factor once its credential holds a secret (as password declares)."""

    credential_type = "secret"

    def first_factor(self, credential: Credential) -> bool:
        return bool(credential.identifiers) and bool(credential.config.get("hash"))


class Token(MethodBase):
    """A second factor once its credential holds a seed (as a TOTP method would declare)."""

    credential_type = "token"
    aal = "aal2"

    def second_factor(self, credential: Credential) -> bool:
        return bool(credential.config.get("seed"))


class Switchable(MethodBase):
    """First or second factor depending on its config (as code declares)."""

    credential_type = "switchable"

    def __init__(self, first: bool = False, second: bool = False) -> None:
        self.first, self.second = first, second

    def first_factor(self, credential: Credential) -> bool:
        return self.first and bool(credential.identifiers)

    def second_factor(self, credential: Credential) -> bool:
        return self.second and bool(credential.config.get("addresses"))


class Federated(MethodBase):
    """A sign-in whose aal2 completions count as both factors."""

    credential_type = "federated"
    multi_factor_aal2 = True


METHODS = methods_by_credential_type([Secret(), Token(), Federated()])
SECRET = (["a@example.org"], {"hash": "$argon2id$..."})
SEED = ([], {"seed": "ABC"})


def test_method_aal_prefers_what_the_login_reported() -> None:
    assert method_aal(declared(Token())) == "aal2"
    assert method_aal(declared(Secret())) == "aal1"
    assert method_aal(declared(Token()), "aal1") == "aal1"
    assert method_aal(None) == "aal1"  # not a registered method (a recovery sign-in)


def test_undeclared_methods_get_the_defaults() -> None:
    class Bare:
        id = credential_type = "bare"
        config_model = None

    bare = declared(Bare())
    ident = identity_with(bare=(["x"], {"secret": "s"}))
    assert bare.aal == "aal1" and not bare.first_factor(ident.credentials["bare"])
    assert bare.present_credential({"secret": "s"}) == {"secret": "[redacted]"}
    assert identity_available_aal(ident, methods_by_credential_type([Bare()])) == "aal0"


def test_session_aal_needs_both_factors() -> None:
    by_id = {"federated": declared(Federated())}
    assert session_aal([]) == "aal0"
    assert session_aal([done("secret", "aal1")]) == "aal1"
    # A second factor alone is not aal2 (there was no first factor).
    assert session_aal([done("token", "aal2")], by_id) == "aal1"
    assert session_aal([done("secret", "aal1"), done("token", "aal2")], by_id) == "aal2"
    # A sign-in declared multi-factor (an OIDC provider vouching for MFA) is both factors.
    assert session_aal([done("federated", "aal2")], by_id) == "aal2"
    assert session_aal([done("federated", "aal2")]) == "aal1"


def test_identity_available_aal_from_declarations() -> None:
    assert identity_available_aal(identity_with(), METHODS) == "aal0"
    assert identity_available_aal(identity_with(secret=SECRET), METHODS) == "aal1"
    # A credential that only reserves identifiers (no secret) is not a usable factor.
    assert identity_available_aal(identity_with(secret=(["a@example.org"], {})), METHODS) == "aal0"
    assert identity_available_aal(identity_with(secret=SECRET, token=SEED), METHODS) == "aal2"
    assert identity_available_aal(identity_with(secret=SECRET, token=([], {"seed": ""})), METHODS) == "aal1"
    # A credential no installed method owns counts for nothing.
    assert identity_available_aal(identity_with(secret=SECRET, unknown=SEED), METHODS) == "aal1"


def test_config_decides_what_a_credential_is_worth() -> None:
    ident = identity_with(switchable=(["a@example.org"], {"addresses": [{"channel": "email", "address": "a@example.org"}]}))
    assert identity_available_aal(ident, methods_by_credential_type([Switchable()])) == "aal0"
    assert identity_available_aal(ident, methods_by_credential_type([Switchable(first=True)])) == "aal1"
    assert identity_available_aal(ident, methods_by_credential_type([Switchable(second=True)])) == "aal2"


def test_only_enabled_methods_count() -> None:
    ident = identity_with(secret=SECRET, token=SEED)
    assert identity_available_aal(ident, methods_by_credential_type([Secret()])) == "aal1"
    assert identity_available_aal(ident, METHODS) == "aal2"
    assert identity_available_aal(ident, {}) == "aal0"


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
    ident = identity_with(secret=SECRET, token=SEED)
    weak = session_of(done("secret", "aal1"))
    check_required_aal(weak, ident, "aal1", public_base_url=PUBLIC, methods=METHODS)
    with pytest.raises(Forbidden) as err:
        check_required_aal(weak, ident, "highest_available", public_base_url=PUBLIC, methods=METHODS, return_to="https://app.example.org/x")
    body = err.value.to_body()
    assert body["error"]["id"] == "session_aal2_required"
    assert body["error"]["code"] == 403
    target = body["redirect_browser_to"]
    assert body["error"]["details"]["redirect_browser_to"] == target
    parts = urlsplit(target)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://auth.example.org/self-service/login/browser"
    assert parse_qs(parts.query) == {"aal": ["aal2"], "return_to": ["https://app.example.org/x"]}

    strong = session_of(done("secret", "aal1"), done("token", "aal2"))
    check_required_aal(strong, ident, "highest_available", public_base_url=PUBLIC, methods=METHODS)


def test_aal1_requirement_never_looks_at_credentials() -> None:
    class Exploding(MethodBase):
        credential_type = "secret"

        def first_factor(self, credential: Credential) -> bool:
            raise AssertionError("credentials were judged for required_aal: aal1")

    ident = identity_with(secret=SECRET)
    check_required_aal(session_of(done("secret", "aal1")), ident, "aal1", public_base_url=PUBLIC, methods=methods_by_credential_type([Exploding()]))


def test_redirect_has_no_return_to_unless_given() -> None:
    ident = identity_with(secret=SECRET, token=SEED)
    with pytest.raises(Forbidden) as err:
        check_required_aal(session_of(done("secret", "aal1")), ident, "highest_available", public_base_url=PUBLIC, methods=METHODS)
    assert err.value.extra["redirect_browser_to"] == "https://auth.example.org/self-service/login/browser?aal=aal2"
