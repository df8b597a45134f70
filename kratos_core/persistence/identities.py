"""Identity persistence: identities with their credentials, identifiers and addresses.

Every function takes a :class:`~kratos_core.persistence.db.Connection` (the database itself or an
open transaction), so callers decide what is atomic: a registration writes identity, credentials,
addresses and session in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from ..identity.model import Credential, Identity, RecoveryAddress, VerifiableAddress, utcnow
from .db import Connection

__all__ = [
    "insert_identity",
    "get_identity",
    "get_identities",
    "list_identities",
    "update_identity",
    "delete_identity",
    "find_identity_id_by_identifier",
    "find_identity_id_by_external_id",
    "count_identities",
]

_IDENTITY_COLUMNS = (
    "id, schema_id, state, state_changed_at, traits, metadata_public, metadata_admin, "
    "external_id, organization_id, available_aal, created_at, updated_at"
)


def _placeholders(start: int, count: int) -> str:
    return ", ".join(f"${i}" for i in range(start, start + count))


async def insert_identity(conn: Connection, identity: Identity) -> None:
    """Insert a new identity and everything it holds.

    Raises:
        UniqueViolation: an identifier, address or external id is taken.
    """
    await conn.execute(
        f"INSERT INTO identities ({_IDENTITY_COLUMNS}) VALUES ({_placeholders(1, 12)})",
        identity.id,
        identity.schema_id,
        identity.state,
        identity.state_changed_at,
        identity.traits,
        identity.metadata_public,
        identity.metadata_admin,
        identity.external_id or None,
        identity.organization_id,
        identity.available_aal,
        identity.created_at,
        identity.updated_at,
    )
    await _write_children(conn, identity)


async def _write_children(conn: Connection, identity: Identity) -> None:
    for cred in identity.credentials.values():
        await conn.execute(
            "INSERT INTO identity_credentials (id, identity_id, type, config, version, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            cred.id,
            identity.id,
            cred.type,
            cred.config,
            cred.version,
            cred.created_at,
            cred.updated_at,
        )
        for ident in dict.fromkeys(cred.identifiers):
            await conn.execute(
                "INSERT INTO identity_credential_identifiers "
                "(id, credential_id, identity_id, type, identifier, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                uuid.uuid4(),
                cred.id,
                identity.id,
                cred.type,
                ident,
                cred.created_at,
                cred.updated_at,
            )
    for va in identity.verifiable_addresses:
        await conn.execute(
            "INSERT INTO identity_verifiable_addresses "
            "(id, identity_id, via, value, verified, verified_at, status, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            va.id,
            identity.id,
            va.via,
            va.value,
            va.verified,
            va.verified_at,
            va.status,
            va.created_at,
            va.updated_at,
        )
    for ra in identity.recovery_addresses:
        await conn.execute(
            "INSERT INTO identity_recovery_addresses (id, identity_id, via, value, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            ra.id,
            identity.id,
            ra.via,
            ra.value,
            ra.created_at,
            ra.updated_at,
        )


async def update_identity(conn: Connection, identity: Identity) -> None:
    """Replace an identity's row and its credentials and addresses with what ``identity`` holds.

    Run it inside a transaction: children are rewritten (delete + insert) so that identifiers
    and addresses always match the traits; ids and timestamps of kept children are preserved by
    the caller, which passes the existing objects back.
    """
    identity.updated_at = utcnow()
    await conn.execute(
        "UPDATE identities SET schema_id = $2, state = $3, state_changed_at = $4, traits = $5, "
        "metadata_public = $6, metadata_admin = $7, external_id = $8, organization_id = $9, "
        "available_aal = $10, updated_at = $11 WHERE id = $1",
        identity.id,
        identity.schema_id,
        identity.state,
        identity.state_changed_at,
        identity.traits,
        identity.metadata_public,
        identity.metadata_admin,
        identity.external_id or None,
        identity.organization_id,
        identity.available_aal,
        identity.updated_at,
    )
    for table in ("identity_credentials", "identity_verifiable_addresses", "identity_recovery_addresses"):
        await conn.execute(f"DELETE FROM {table} WHERE identity_id = $1", identity.id)
    await _write_children(conn, identity)


async def delete_identity(conn: Connection, identity_id: uuid.UUID) -> bool:
    """Delete an identity (sessions, credentials and addresses go with it). False if unknown."""
    return await conn.execute("DELETE FROM identities WHERE id = $1", identity_id) > 0


async def get_identity(conn: Connection, identity_id: uuid.UUID) -> Identity | None:
    found = await get_identities(conn, [identity_id])
    return found[0] if found else None


async def get_identities(conn: Connection, ids: Sequence[uuid.UUID], *, credentials: bool = True) -> list[Identity]:
    """Load identities by id, in id order, with addresses (and credentials when asked)."""
    if not ids:
        return []
    rows = await conn.fetch(
        f"SELECT {_IDENTITY_COLUMNS} FROM identities WHERE id IN ({_placeholders(1, len(ids))}) ORDER BY id",
        *ids,
    )
    return await _hydrate(conn, rows, credentials=credentials)


async def list_identities(
    conn: Connection,
    *,
    limit: int,
    after: uuid.UUID | None = None,
    offset: int | None = None,
    credentials: bool = False,
) -> list[Identity]:
    """One page of identities ordered by id (keyset after ``after``, or legacy ``offset``)."""
    if after is not None:
        rows = await conn.fetch(
            f"SELECT {_IDENTITY_COLUMNS} FROM identities WHERE id > $1 ORDER BY id LIMIT $2", after, limit
        )
    else:
        rows = await conn.fetch(
            f"SELECT {_IDENTITY_COLUMNS} FROM identities ORDER BY id LIMIT $1 OFFSET $2", limit, offset or 0
        )
    return await _hydrate(conn, rows, credentials=credentials)


async def count_identities(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM identities"))


async def find_identity_id_by_identifier(
    conn: Connection, identifier: str, credential_type: str | None = None
) -> list[uuid.UUID]:
    """Identities owning ``identifier`` (for one credential type, or any)."""
    if credential_type is None:
        rows = await conn.fetch(
            "SELECT DISTINCT identity_id FROM identity_credential_identifiers WHERE identifier = $1", identifier
        )
    else:
        rows = await conn.fetch(
            "SELECT identity_id FROM identity_credential_identifiers WHERE type = $1 AND identifier = $2",
            credential_type,
            identifier,
        )
    return [r["identity_id"] for r in rows]


async def find_identity_id_by_external_id(conn: Connection, external_id: str) -> uuid.UUID | None:
    return await conn.fetchval("SELECT id FROM identities WHERE external_id = $1", external_id)


async def _hydrate(conn: Connection, rows: list[dict[str, Any]], *, credentials: bool) -> list[Identity]:
    if not rows:
        return []
    identities = {r["id"]: Identity(**r) for r in rows}
    ids = list(identities)
    marks = _placeholders(1, len(ids))
    for r in await conn.fetch(
        "SELECT id, identity_id, via, value, verified, verified_at, status, created_at, updated_at "
        f"FROM identity_verifiable_addresses WHERE identity_id IN ({marks}) ORDER BY created_at, value",
        *ids,
    ):
        owner = r.pop("identity_id")
        identities[owner].verifiable_addresses.append(VerifiableAddress(**r))
    for r in await conn.fetch(
        "SELECT id, identity_id, via, value, created_at, updated_at "
        f"FROM identity_recovery_addresses WHERE identity_id IN ({marks}) ORDER BY created_at, value",
        *ids,
    ):
        owner = r.pop("identity_id")
        identities[owner].recovery_addresses.append(RecoveryAddress(**r))
    if credentials:
        await _load_credentials(conn, identities, marks, ids)
    return list(identities.values())


async def _load_credentials(conn: Connection, identities: dict[uuid.UUID, Identity], marks: str, ids: list) -> None:
    creds: dict[uuid.UUID, Credential] = {}
    for r in await conn.fetch(
        "SELECT id, identity_id, type, config, version, created_at, updated_at "
        f"FROM identity_credentials WHERE identity_id IN ({marks})",
        *ids,
    ):
        owner = r.pop("identity_id")
        cred = Credential(identifiers=[], **r)
        creds[cred.id] = cred
        identities[owner].credentials[cred.type] = cred
    for r in await conn.fetch(
        "SELECT credential_id, identifier FROM identity_credential_identifiers "
        f"WHERE identity_id IN ({marks}) ORDER BY created_at, identifier",
        *ids,
    ):
        cred = creds.get(r["credential_id"])
        if cred is not None:
            cred.identifiers.append(r["identifier"])
