"""Authenticator assurance levels (kratos-behaviour.md section 4.3, pitfall 10).

Three questions live here: which AAL one authentication method provides, which AAL a session has
(its methods together), and which AAL an identity *could* reach with the credentials it holds.
No method is named here: every answer comes from the declarations of the installed methods
(:class:`~kratos_core.methods.MethodBase`).
``check_required_aal`` combines them into Kratos's ``required_aal`` rule for whoami and friends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from ..errors import Forbidden

if TYPE_CHECKING:  # pragma: no cover
    from ..identity.model import Identity
    from ..methods import MethodBase
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


def method_aal(method: MethodBase | None, aal: str | None = None) -> str:
    """The AAL one completed method provides: what the login said, else what the method declares.

    Args:
        method: The declarations of the method that completed (None: not a registered method,
            e.g. a recovery sign-in; it provides aal1).
        aal: The level the method reported for this completion, if any.
    """
    if aal:
        return aal
    return method.aal if method is not None else AAL1


def session_aal(
    methods: Iterable[AuthenticationMethod], declarations: Mapping[str, MethodBase] | None = None
) -> str:
    """``aal2`` iff an aal2 and an aal1 method completed.

    An aal2 completion of a method that declares ``multi_factor_aal2`` (social sign-in the
    provider vouched for as MFA) is both factors at once.

    Args:
        methods: The session's completed methods.
        declarations: Method declarations by method id (None: no method is multi-factor).
    """
    first = second = False
    for m in methods:
        if m.aal == AAL2:
            second = True
            declared_method = declarations.get(m.method) if declarations is not None else None
            first = first or (declared_method is not None and declared_method.multi_factor_aal2)
        else:
            first = True
    if first and second:
        return AAL2
    return AAL1 if first or second else AAL0


def identity_available_aal(identity: Identity, methods: Mapping[str, MethodBase]) -> str:
    """The highest AAL the identity can reach with its set-up credentials.

    Each credential is judged by the method that owns its type (its ``first_factor`` and
    ``second_factor`` declarations). Kratos counts only credentials of enabled methods, so a
    second factor left behind after its method was switched off does not lock the user out of
    aal1 sessions: pass only the enabled methods.

    Args:
        identity: The identity, loaded with its credentials.
        methods: Declarations of the enabled methods by credential type
            (:func:`~kratos_core.methods.methods_by_credential_type`).
    """
    first = False
    for ctype, cred in identity.credentials.items():
        method = methods.get(ctype)
        if method is None:
            continue
        if method.second_factor(cred):
            return AAL2
        first = first or method.first_factor(cred)
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
    methods: Mapping[str, MethodBase],
    return_to: str | None = None,
) -> None:
    """Refuse a session below ``required`` (``aal1`` or ``highest_available``).

    Args:
        methods: Declarations of the enabled methods by credential type; only read when the
            session's own level does not settle the answer.

    Raises:
        Forbidden: ``session_aal2_required`` with ``redirect_browser_to`` at the top level and
            in ``details``.
    """
    if required == AAL1 and _RANK.get(session.aal, 0) >= _RANK[AAL1]:
        return  # the common configuration: no need to look at credentials at all
    if required == "highest_available" and _RANK.get(session.aal, 0) >= _RANK[AAL2]:
        return
    available = identity_available_aal(identity, methods)
    if not aal_satisfied(session.aal, required, available):
        raise aal2_required(public_base_url, return_to)
