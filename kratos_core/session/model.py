"""The session as the server holds it, and its JSON representation (kratos-behaviour.md section 4.1).

A session row stores a *flag* ``active``; the ``active`` a client sees is computed from that flag,
the expiry and the identity's state (pitfall 25: an inactive identity's sessions stop being
active without being touched). Tokens are never part of the object's JSON: the session token and
the logout token exist in memory only right after issuing (or after a request presented them).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from ..identity.model import Identity, encodable_time, identity_admin_dict, identity_public_dict, utcnow

__all__ = [
    "AuthenticationMethod",
    "Device",
    "Session",
    "session_dict",
    "session_json",
    "format_time",
]


class AuthenticationMethod(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One completed authentication step (``authentication_methods[]``).

    Attributes:
        method: The credential type that authenticated (``password``, ``totp``, ``oidc`` ...).
        aal: The assurance level this step provides (``aal1`` or ``aal2``).
        completed_at: When the step completed.
        provider: The OIDC/SAML provider id, for social sign-in.
        organization: The organization id, for B2B sign-in.
        upstream_acr: The ``acr`` claim of the upstream OIDC provider, if any.
        upstream_amr: The ``amr`` claim of the upstream OIDC provider, if any.
    """

    method: str
    aal: str
    completed_at: dt.datetime
    provider: str | None = None
    organization: str | None = None
    upstream_acr: str | None = None
    upstream_amr: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "aal": self.aal, "completed_at": format_time(self.completed_at)}
        for key in ("provider", "organization", "upstream_acr", "upstream_amr"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


class Device(msgspec.Struct, kw_only=True):
    """Where a session was issued or stepped up from (one per issue/step-up)."""

    id: uuid.UUID
    ip_address: str | None = None
    user_agent: str | None = None
    location: str | None = None
    created_at: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "ip_address": self.ip_address or "",
            "user_agent": self.user_agent or "",
            "location": self.location or "",
        }


class Session(msgspec.Struct, kw_only=True):
    """A session.

    Attributes:
        active: The *stored* flag (false once revoked); see :meth:`is_active` for what clients see.
        identity_active: The identity's state when the identity itself was not loaded (lists
            without ``expand=identity`` still compute ``active`` correctly).
        token: The session token, in memory only: right after issuing, or as presented by the
            request that loaded the session.
        logout_token: The logout token, in memory only (right after issuing).
        cookie_expires_at: The expiry stored in the session cookie the request presented, if it
            presented one; ``whoami`` re-issues the cookie when it is older than ``expires_at``.
    """

    id: uuid.UUID
    identity_id: uuid.UUID
    active: bool
    aal: str
    authentication_methods: list[AuthenticationMethod]
    issued_at: dt.datetime
    authenticated_at: dt.datetime
    expires_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    devices: list[Device] = msgspec.field(default_factory=list)
    identity: Identity | None = None
    identity_active: bool = True
    token: str | None = None
    logout_token: str | None = None
    cookie_expires_at: dt.datetime | None = None

    def is_active(self, now: dt.datetime | None = None) -> bool:
        """Kratos's computed ``active``: stored flag, not expired, identity active."""
        if not self.active or self.expires_at <= (now or utcnow()):
            return False
        if self.identity is not None:
            return self.identity.active
        return self.identity_active


def format_time(value: dt.datetime) -> str:
    """RFC 3339 in UTC with microseconds, the way every timestamp in our JSON looks."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _method_dict(m: AuthenticationMethod, ts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"method": m.method, "aal": m.aal, "completed_at": ts(m.completed_at)}
    if m.provider:
        out["provider"] = m.provider
    if m.organization:
        out["organization"] = m.organization
    if m.upstream_acr:
        out["upstream_acr"] = m.upstream_acr
    if m.upstream_amr:
        out["upstream_amr"] = m.upstream_amr
    return out


_json_encode = msgspec.json.Encoder().encode


def session_json(session: Session, public_base_url: str, *, now: dt.datetime | None = None) -> bytes:
    """``session_dict(session, public_base_url, admin=False)`` encoded as JSON, byte for byte,
    the fast way (whoami): timestamps go to msgspec as datetimes where it prints them the same."""
    return _json_encode(session_dict(session, public_base_url, admin=False, now=now, ts=encodable_time))


def session_dict(
    session: Session,
    public_base_url: str,
    *,
    admin: bool,
    expand_identity: bool = True,
    expand_devices: bool = True,
    now: dt.datetime | None = None,
    ts: Any = format_time,
) -> dict[str, Any]:
    """The session's JSON (section 4.1); never contains a token.

    Args:
        session: The session.
        public_base_url: ``serve.public.base_url`` (for the identity's ``schema_url``).
        admin: Admin representation: the identity includes ``metadata_admin``.
        expand_identity: Include ``identity`` (when the session carries one).
        expand_devices: Include ``devices``.
        now: The time ``active`` is computed at (defaults to now).
        ts: Formats timestamps (see :func:`session_json` for the fast variant).
    """
    out: dict[str, Any] = {
        "id": str(session.id),
        "active": session.is_active(now),
        "expires_at": ts(session.expires_at),
        "authenticated_at": ts(session.authenticated_at),
        "authenticator_assurance_level": session.aal,
        "authentication_methods": [_method_dict(m, ts) for m in session.authentication_methods],
        "issued_at": ts(session.issued_at),
    }
    if expand_identity and session.identity is not None:
        if admin:
            # Admin endpoints show metadata_admin but, like Kratos, never credentials.
            out["identity"] = identity_admin_dict(session.identity, public_base_url, credentials=False)
        else:
            out["identity"] = identity_public_dict(session.identity, public_base_url, ts=ts)
    if expand_devices:
        out["devices"] = [d.to_dict() for d in session.devices]
    return out
