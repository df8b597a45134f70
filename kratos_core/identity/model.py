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
    "encodable_time",
]

IDENTITY_STATES = ("active", "inactive")


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC (what every stored timestamp uses)."""
    return dt.datetime.now(dt.UTC)


class VerifiableAddress(msgspec.Struct, kw_only=True):
    """An address (email or phone) whose control a verification flow proves."""

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
    """An address a recovery code or link can be sent to."""

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
    """An identity: traits (validated by its schema), credentials by type, addresses, metadata."""

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


def encodable_time(value: dt.datetime) -> dt.datetime | str:
    """``_ts(value)``, or the datetime itself where msgspec encodes it to those very characters.

    For the hot paths that encode straight to JSON bytes: msgspec writes a UTC datetime as
    ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in C, except that it drops a zero fraction (and years below
    1000 differ from strftime's), so those few values are formatted the slow way.
    """
    if value.tzinfo is dt.UTC and value.microsecond and value.year >= 1000:
        return value
    return _ts(value)


def schema_url(public_base_url: str, schema_id: str) -> str:
    """``{public}/schemas/<base64url(schema_id) without padding>``."""
    key = (public_base_url, schema_id)
    url = _SCHEMA_URLS.get(key)
    if url is None:
        encoded = base64.urlsafe_b64encode(schema_id.encode()).decode().rstrip("=")
        url = f"{public_base_url.rstrip('/')}/schemas/{encoded}"
        if len(_SCHEMA_URLS) < 1024:  # a handful of schemas and base URLs in practice
            _SCHEMA_URLS[key] = url
    return url


_SCHEMA_URLS: dict[tuple[str, str], str] = {}


def _verifiable_dict(a: VerifiableAddress, ts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(a.id), "value": a.value, "verified": a.verified, "via": a.via, "status": a.status}
    if a.verified_at is not None:
        out["verified_at"] = ts(a.verified_at)
    out["created_at"] = ts(a.created_at)
    out["updated_at"] = ts(a.updated_at)
    return out


def _recovery_dict(a: RecoveryAddress, ts: Any) -> dict[str, Any]:
    return {"id": str(a.id), "value": a.value, "via": a.via, "created_at": ts(a.created_at), "updated_at": ts(a.updated_at)}


def _common(identity: Identity, public_base_url: str, ts: Any = _ts) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(identity.id),
        "schema_id": identity.schema_id,
        "schema_url": schema_url(public_base_url, identity.schema_id),
        "state": identity.state,
    }
    if identity.state_changed_at is not None:
        out["state_changed_at"] = ts(identity.state_changed_at)
    out["traits"] = identity.traits
    if identity.verifiable_addresses:
        out["verifiable_addresses"] = [_verifiable_dict(a, ts) for a in identity.verifiable_addresses]
    if identity.recovery_addresses:
        out["recovery_addresses"] = [_recovery_dict(a, ts) for a in identity.recovery_addresses]
    out["metadata_public"] = identity.metadata_public
    return out


def identity_public_dict(identity: Identity, public_base_url: str, *, ts: Any = _ts) -> dict[str, Any]:
    """The representation users see (whoami, settings, hooks): no credentials, no admin metadata.

    ``ts`` formats timestamps; :func:`encodable_time` gives a dict only for msgspec to encode
    (same bytes, faster), the default gives strings.
    """
    out = _common(identity, public_base_url, ts)
    out["organization_id"] = str(identity.organization_id) if identity.organization_id else None
    out["created_at"] = ts(identity.created_at)
    out["updated_at"] = ts(identity.updated_at)
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
