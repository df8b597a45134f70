"""Authenticator assurance levels (kratos-behaviour.md section 4.3, pitfall 10).

Three questions live here: which AAL one authentication method provides, which AAL a session has
(its methods together), and which AAL an identity *could* reach with the credentials it holds.
``check_required_aal`` combines them into Kratos's ``required_aal`` rule for whoami and friends.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..errors import Forbidden

if TYPE_CHECKING:  # pragma: no cover
    from ..identity.model import Identity
    from .model import AuthenticationMethod, Session

__all__ = [
    "AAL0",
    "AAL1",
    "AAL2",
    "AAL3",
    "AAL2_REQUIRED_ID",
    "method_aal",
    "session_aal",
    "identity_available_aal",
    "aal_satisfied",
    "aal2_required",
    "check_required_aal",
]

AAL0, AAL1, AAL2, AAL3 = "aal0", "aal1", "aal2", "aal3"
AAL2_REQUIRED_ID = "session_aal2_required"

_RANK = {AAL0: 0, AAL1: 1, AAL2: 2, AAL3: 3}
_FIRST_FACTORS = frozenset({"password", "passkey", "code", "oidc", "saml", "code_recovery", "link_recovery"})
_SECOND_FACTORS = frozenset({"totp", "lookup_secret", "webauthn"})
# Social sign-in can satisfy both factors at once when the provider vouches for MFA (acr/amr).
_FEDERATED = frozenset({"oidc", "saml"})


def method_aal(method: str, *, passwordless: bool = False, code_mfa: bool = False, upstream_mfa: bool = False) -> str:
    """The AAL one completed method provides.

    Args:
        method: The credential type (``password``, ``totp``, ...).
        passwordless: For ``webauthn``: the key was used as a passwordless first factor.
        code_mfa: For ``code``: it was used as the second factor (``code.mfa_enabled``).
        upstream_mfa: For ``oidc``/``saml``: the provider's ``acr``/``amr`` claims matched the
            configured aal2 values.
    """
    if method == "webauthn":
        return AAL1 if passwordless else AAL2
    if method == "code":
        return AAL2 if code_mfa else AAL1
    if method in _FEDERATED:
        return AAL2 if upstream_mfa else AAL1
    if method in _SECOND_FACTORS:
        return AAL2
    return AAL1


def session_aal(methods: Iterable[AuthenticationMethod]) -> str:
    """``aal2`` iff an aal2 and an aal1 method completed (an aal2 federated method is both)."""
    first = second = False
    for m in methods:
        if m.aal == AAL2:
            second = True
            first = first or m.method in _FEDERATED
        else:
            first = True
    if first and second:
        return AAL2
    return AAL1 if first or second else AAL0


def _second_factor_ready(ctype: str, config: dict[str, Any], *, code_mfa_enabled: bool) -> bool:
    if ctype == "totp":
        return bool(config.get("totp_url"))
    if ctype == "lookup_secret":
        return bool(config.get("recovery_codes"))
    if ctype == "webauthn":
        return any(not c.get("is_passwordless") for c in config.get("credentials") or [])
    if ctype == "code":
        return code_mfa_enabled and bool(config.get("addresses"))
    return False


def _first_factor_ready(ctype: str, config: dict[str, Any], identifiers: list[str], *, code_passwordless_enabled: bool) -> bool:
    if ctype == "password":
        return bool(identifiers) and bool(config.get("hashed_password") or config.get("use_password_migration_hook"))
    if ctype in _FEDERATED:
        return bool(config.get("providers"))
    if ctype == "passkey":
        return bool(config.get("credentials"))
    if ctype == "webauthn":
        return any(c.get("is_passwordless") for c in config.get("credentials") or [])
    if ctype == "code":
        return code_passwordless_enabled and bool(identifiers)
    return False


def identity_available_aal(
    identity: Identity,
    enabled_methods: Collection[str] | None = None,
    *,
    code_mfa_enabled: bool = False,
    code_passwordless_enabled: bool = False,
) -> str:
    """The highest AAL the identity can reach with its set-up credentials.

    Kratos counts only credentials of enabled methods, so a TOTP secret left behind after
    ``totp`` was switched off does not lock the user out of aal1 sessions.

    Args:
        identity: The identity, loaded with its credentials.
        enabled_methods: Enabled method ids; None counts every credential.
        code_mfa_enabled: ``selfservice.methods.code.mfa_enabled``.
        code_passwordless_enabled: ``selfservice.methods.code.passwordless_enabled``.
    """
    first = second = False
    for ctype, cred in identity.credentials.items():
        if enabled_methods is not None and ctype not in enabled_methods:
            continue
        config = cred.config or {}
        second = second or _second_factor_ready(ctype, config, code_mfa_enabled=code_mfa_enabled)
        first = first or _first_factor_ready(
            ctype, config, cred.identifiers, code_passwordless_enabled=code_passwordless_enabled
        )
    if second:
        return AAL2
    return AAL1 if first else AAL0


def aal_satisfied(session_level: str, required: str, available: str) -> bool:
    """Kratos's ``required_aal`` rule.

    ``aal1``: any authenticated session passes. ``highest_available``: the session must be aal2,
    unless the identity cannot reach more than aal1 anyway.
    """
    if required == "highest_available":
        return _RANK.get(session_level, 0) >= _RANK[AAL2] or _RANK.get(available, 0) <= _RANK[AAL1]
    return _RANK.get(session_level, 0) >= _RANK.get(required, _RANK[AAL1])


def aal2_required(public_base_url: str, return_to: str | None = None) -> Forbidden:
    """403 ``session_aal2_required`` pointing the browser at an aal2 login."""
    params = {"aal": AAL2}
    if return_to:
        params["return_to"] = return_to
    target = f"{public_base_url.rstrip('/')}/self-service/login/browser?{urlencode(params)}"
    return Forbidden(
        "An active session was found but it does not fulfill the Authenticator Assurance Level "
        "required here. Complete a second factor to upgrade the session.",
        id=AAL2_REQUIRED_ID,
        message="Session does not fulfill the requested Authenticator Assurance Level",
        details={"redirect_browser_to": target},
        extra={"redirect_browser_to": target},
    )


def check_required_aal(
    session: Session,
    identity: Identity,
    required: str,
    *,
    public_base_url: str,
    enabled_methods: Collection[str] | None = None,
    code_mfa_enabled: bool = False,
    code_passwordless_enabled: bool = False,
    return_to: str | None = None,
) -> None:
    """Refuse a session below ``required`` (``aal1`` or ``highest_available``).

    Raises:
        Forbidden: ``session_aal2_required`` with ``redirect_browser_to`` at the top level and
            in ``details``.
    """
    if required == AAL1 and _RANK.get(session.aal, 0) >= _RANK[AAL1]:
        return  # the common configuration: no need to look at credentials at all
    available = identity_available_aal(
        identity,
        enabled_methods,
        code_mfa_enabled=code_mfa_enabled,
        code_passwordless_enabled=code_passwordless_enabled,
    )
    if not aal_satisfied(session.aal, required, available):
        raise aal2_required(public_base_url, return_to)
