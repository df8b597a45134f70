"""The identity as the server holds it, and its admin and public JSON representations.

The shapes follow kratos-behaviour.md section 5.1: which keys are always present (``null``),
which are omitted when empty, and what public representations never contain (``credentials``,
``metadata_admin``).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

import msgspec

__all__ = [
    "Identity",
    "Credential",
    "VerifiableAddress",
    "RecoveryAddress",
    "IDENTITY_STATES",
    "utcnow",
    "schema_url",
    "identity_admin_dict",
    "identity_public_dict",
]

IDENTITY_STATES = ("active", "inactive")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class VerifiableAddress(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    value: str
    via: str
    verified: bool = False
    status: str = "pending"
    verified_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": str(self.id),
            "value": self.value,
            "verified": self.verified,
            "via": self.via,
            "status": self.status,
        }
        if self.verified_at is not None:
            out["verified_at"] = _ts(self.verified_at)
        out["created_at"] = _ts(self.created_at)
        out["updated_at"] = _ts(self.updated_at)
        return out


class RecoveryAddress(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    value: str
    via: str
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "value": self.value,
            "via": self.via,
            "created_at": _ts(self.created_at),
            "updated_at": _ts(self.updated_at),
        }


class Credential(msgspec.Struct, kw_only=True):
    """One credential of a type (``password``, ``code``, ...); ``config`` is the method's own."""

    id: uuid.UUID
    type: str
    identifiers: list[str]
    config: dict[str, Any]
    version: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_dict(self, include_config: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "identifiers": list(self.identifiers),
            "version": self.version,
            "created_at": _ts(self.created_at),
            "updated_at": _ts(self.updated_at),
        }
        if include_config:
            out["config"] = self.config
        return out


class Identity(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    schema_id: str
    traits: dict[str, Any]
    state: str = "active"
    state_changed_at: dt.datetime | None = None
    metadata_public: Any = None
    metadata_admin: Any = None
    external_id: str | None = None
    organization_id: uuid.UUID | None = None
    available_aal: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    verifiable_addresses: list[VerifiableAddress] = msgspec.field(default_factory=list)
    recovery_addresses: list[RecoveryAddress] = msgspec.field(default_factory=list)
    credentials: dict[str, Credential] = msgspec.field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state == "active"


def _ts(value: dt.datetime) -> str:
    # RFC 3339 with fractional seconds in UTC, as Kratos prints them.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def schema_url(public_base_url: str, schema_id: str) -> str:
    """``{public}/schemas/<base64url(schema_id) without padding>``."""
    encoded = base64.urlsafe_b64encode(schema_id.encode()).decode().rstrip("=")
    return f"{public_base_url.rstrip('/')}/schemas/{encoded}"


def _common(identity: Identity, public_base_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(identity.id),
        "schema_id": identity.schema_id,
        "schema_url": schema_url(public_base_url, identity.schema_id),
        "state": identity.state,
    }
    if identity.state_changed_at is not None:
        out["state_changed_at"] = _ts(identity.state_changed_at)
    out["traits"] = identity.traits
    if identity.verifiable_addresses:
        out["verifiable_addresses"] = [a.to_dict() for a in identity.verifiable_addresses]
    if identity.recovery_addresses:
        out["recovery_addresses"] = [a.to_dict() for a in identity.recovery_addresses]
    out["metadata_public"] = identity.metadata_public
    return out


def identity_public_dict(identity: Identity, public_base_url: str) -> dict[str, Any]:
    """The representation users see (whoami, settings, hooks): no credentials, no admin metadata."""
    out = _common(identity, public_base_url)
    out["organization_id"] = str(identity.organization_id) if identity.organization_id else None
    out["created_at"] = _ts(identity.created_at)
    out["updated_at"] = _ts(identity.updated_at)
    return out


def identity_admin_dict(
    identity: Identity,
    public_base_url: str,
    *,
    credentials: bool = True,
    include_config: Iterable[str] = (),
) -> dict[str, Any]:
    """The admin API representation.

    Args:
        credentials: Whether to include ``credentials`` at all (lists omit them by default).
        include_config: Credential types whose ``config`` is shown (``include_credential``).
    """
    out = _common(identity, public_base_url)
    if identity.metadata_admin is not None:
        out["metadata_admin"] = identity.metadata_admin
    if identity.external_id:
        out["external_id"] = identity.external_id
    out["organization_id"] = str(identity.organization_id) if identity.organization_id else None
    out["created_at"] = _ts(identity.created_at)
    out["updated_at"] = _ts(identity.updated_at)
    if credentials:
        shown = set(include_config)
        out["credentials"] = {
            t: c.to_dict(include_config=t in shown) for t, c in sorted(identity.credentials.items())
        }
    return out
