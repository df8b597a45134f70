"""Identity persistence: identities with their credentials, identifiers and addresses.

Every function takes a :class:`~kratos_core.persistence.db.Connection` (the database itself or an
open transaction), so callers decide what is atomic: a registration writes identity, credentials,
addresses and session in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from ..identity.model import Credential, Identity, RecoveryAddress, VerifiableAddress, utcnow
from .db import Batch, Connection, announce, announced

__all__ = [
    "insert_identity",
    "get_identity",
    "get_identities",
    "list_identities",
    "update_identity",
    "delete_identity",
    "mark_address_verified",
    "mark_address_sent",
    "find_identity_id_by_identifier",
    "find_identity_by_identifier",
    "find_identity_id_by_external_id",
    "count_identities",
]

_IDENTITY_COLUMNS = (
    "id, schema_id, state, state_changed_at, traits, metadata_public, metadata_admin, "
    "external_id, organization_id, available_aal, created_at, updated_at"
)


def _placeholders(start: int, count: int) -> str:
    return ", ".join(f"${i}" for i in range(start, start + count))


# -- one-statement loading ----------------------------------------------------------------------
#
# An identity with its addresses and credentials in ONE statement: the identity's columns plus
# its children aggregated as JSON in correlated subqueries (the session store's whoami statement
# uses the same fragments). JSON aggregation is spelled per dialect; SQLite's aggregation order
# is not guaranteed, so rows are sorted in Python as the multi-statement path orders them.

#: Subqueries over the identity ``i``, per dialect: verifiable, recovery, credentials.
IDENTITY_JSON = {
    "sqlite": {
        "verifiable": (
            "(SELECT json_group_array(json_object('id', a.id, 'value', a.value, 'via', a.via, "
            "'verified', a.verified, 'status', a.status, 'verified_at', a.verified_at, "
            "'created_at', a.created_at, 'updated_at', a.updated_at)) "
            "FROM identity_verifiable_addresses a WHERE a.identity_id = i.id) AS i_verifiable"
        ),
        "recovery": (
            "(SELECT json_group_array(json_object('id', a.id, 'value', a.value, 'via', a.via, "
            "'created_at', a.created_at, 'updated_at', a.updated_at)) "
            "FROM identity_recovery_addresses a WHERE a.identity_id = i.id) AS i_recovery"
        ),
        "credentials": (
            "(SELECT json_group_array(json_object('id', c.id, 'type', c.type, 'config', json(c.config), "
            "'version', c.version, 'created_at', c.created_at, 'updated_at', c.updated_at, "
            "'identifiers', json((SELECT json_group_array(ci.identifier) FROM "
            "(SELECT ci.identifier FROM identity_credential_identifiers ci WHERE ci.credential_id = c.id "
            "ORDER BY ci.created_at, ci.identifier) ci)))) "
            "FROM identity_credentials c WHERE c.identity_id = i.id) AS i_credentials"
        ),
    },
    # json_agg of no rows is NULL, hence the COALESCE; sent back as text so that both dialects
    # decode the same way (straight into msgspec Structs).
    "postgres": {
        "verifiable": (
            "(SELECT COALESCE(json_agg(json_build_object('id', a.id, 'value', a.value, 'via', a.via, "
            "'verified', a.verified, 'status', a.status, 'verified_at', a.verified_at, "
            "'created_at', a.created_at, 'updated_at', a.updated_at) ORDER BY a.created_at, a.value), '[]'::json)::text "
            "FROM identity_verifiable_addresses a WHERE a.identity_id = i.id) AS i_verifiable"
        ),
        "recovery": (
            "(SELECT COALESCE(json_agg(json_build_object('id', a.id, 'value', a.value, 'via', a.via, "
            "'created_at', a.created_at, 'updated_at', a.updated_at) ORDER BY a.created_at, a.value), '[]'::json)::text "
            "FROM identity_recovery_addresses a WHERE a.identity_id = i.id) AS i_recovery"
        ),
        "credentials": (
            "(SELECT COALESCE(json_agg(json_build_object('id', c.id, 'type', c.type, 'config', c.config, "
            "'version', c.version, 'created_at', c.created_at, 'updated_at', c.updated_at, "
            "'identifiers', COALESCE((SELECT json_agg(ci.identifier ORDER BY ci.created_at, ci.identifier) "
            "FROM identity_credential_identifiers ci WHERE ci.credential_id = c.id), '[]'::json))), '[]'::json)::text "
            "FROM identity_credentials c WHERE c.identity_id = i.id) AS i_credentials"
        ),
    },
}

_verifiable = msgspec.json.Decoder(list[VerifiableAddress], strict=False)
_recovery = msgspec.json.Decoder(list[RecoveryAddress], strict=False)
_credentials = msgspec.json.Decoder(list[Credential], strict=False)


def _address_order(a: VerifiableAddress | RecoveryAddress) -> tuple[Any, str]:
    return a.created_at, a.value


def verifiable_from_json(raw: Any) -> list[VerifiableAddress]:
    """Decode an ``i_verifiable`` column, in (created_at, value) order."""
    out = _verifiable.decode(raw)
    if len(out) > 1:
        out.sort(key=_address_order)
    return out


def recovery_from_json(raw: Any) -> list[RecoveryAddress]:
    """Decode an ``i_recovery`` column, in (created_at, value) order."""
    out = _recovery.decode(raw)
    if len(out) > 1:
        out.sort(key=_address_order)
    return out


def credentials_from_json(raw: Any) -> dict[str, Credential]:
    """Decode an ``i_credentials`` column into credentials by type."""
    return {c.type: c for c in _credentials.decode(raw)}


def _by_id_statement(dialect: str) -> str:
    json = IDENTITY_JSON[dialect]
    return (
        f"SELECT {_IDENTITY_COLUMNS}, {json['verifiable']}, {json['recovery']}, {json['credentials']} "
        "FROM identities i WHERE i.id = $1"
    )


_BY_ID = {dialect: _by_id_statement(dialect) for dialect in IDENTITY_JSON}
_ROW_COLUMNS = tuple(c.strip() for c in _IDENTITY_COLUMNS.split(","))


def _identity_from_row(row: dict[str, Any]) -> Identity:
    identity = Identity(**{c: row[c] for c in _ROW_COLUMNS})
    identity.verifiable_addresses = verifiable_from_json(row["i_verifiable"])
    identity.recovery_addresses = recovery_from_json(row["i_recovery"])
    identity.credentials = credentials_from_json(row["i_credentials"])
    return identity


# PostgreSQL: the identity and all its children in ONE statement (a write batch: each INSERT a
# data-modifying CTE, children as parallel arrays) instead of one round trip per row; inside a
# registration's batch, identity, session and flow update are all one statement.
_INSERT_CREDENTIALS_PG = announced(
    "INSERT INTO identity_credentials (id, identity_id, type, config, version, created_at, updated_at) "
    "SELECT c.id, $1, c.type, c.config::jsonb, c.version, c.created_at, c.updated_at FROM "
    "unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::timestamptz[]) "
    "AS c(id, type, config, version, created_at, updated_at)"
)
_INSERT_IDENTIFIERS_PG = announced(
    "INSERT INTO identity_credential_identifiers (id, credential_id, identity_id, type, identifier, created_at, updated_at) "
    "SELECT x.id, x.credential_id, $1, x.type, x.identifier, x.created_at, x.updated_at FROM "
    "unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[]) "
    "AS x(id, credential_id, type, identifier, created_at, updated_at)"
)
_INSERT_VERIFIABLE_PG = announced(
    "INSERT INTO identity_verifiable_addresses (id, identity_id, via, value, verified, verified_at, status, created_at, updated_at) "
    "SELECT a.id, $1, a.via, a.value, a.verified, a.verified_at, a.status, a.created_at, a.updated_at FROM "
    "unnest($2::uuid[], $3::text[], $4::text[], $5::bool[], $6::timestamptz[], $7::text[], $8::timestamptz[], $9::timestamptz[]) "
    "AS a(id, via, value, verified, verified_at, status, created_at, updated_at)"
)
_INSERT_RECOVERY_PG = announced(
    "INSERT INTO identity_recovery_addresses (id, identity_id, via, value, created_at, updated_at) "
    "SELECT r.id, $1, r.via, r.value, r.created_at, r.updated_at FROM "
    "unnest($2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[]) AS r(id, via, value, created_at, updated_at)"
)


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows to parallel column lists (``width`` of them, empty when there are no rows)."""
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _add_identity_writes(batch: Batch, identity: Identity) -> None:
    creds: list[tuple[Any, ...]] = []
    idents: list[tuple[Any, ...]] = []
    for cred in identity.credentials.values():
        config = _json_text(cred.config).decode()  # jsonb travels as text, cast in SQL
        creds.append((cred.id, cred.type, config, cred.version, cred.created_at, cred.updated_at))
        for ident in dict.fromkeys(cred.identifiers):
            idents.append((uuid.uuid4(), cred.id, cred.type, ident, cred.created_at, cred.updated_at))
    verifiable = [
        (va.id, va.via, va.value, va.verified, va.verified_at, va.status, va.created_at, va.updated_at)
        for va in identity.verifiable_addresses
    ]
    recovery = [(ra.id, ra.via, ra.value, ra.created_at, ra.updated_at) for ra in identity.recovery_addresses]
    batch.add(_INSERT_IDENTITY, _identity_values(identity))
    for sql, rows, width in (
        (_INSERT_CREDENTIALS_PG, creds, 6),
        (_INSERT_IDENTIFIERS_PG, idents, 6),
        (_INSERT_VERIFIABLE_PG, verifiable, 8),
        (_INSERT_RECOVERY_PG, recovery, 5),
    ):
        if rows:
            batch.add(sql, (identity.id, *_columns(rows, width)))


_json_text = msgspec.json.Encoder().encode


def _identity_values(identity: Identity) -> tuple[Any, ...]:
    return (
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


# Writes. Inserting a new identity changes nothing a session cache holds; updates and deletes
# announce the identity (see kratos_core.persistence.db.announce).
_INSERT_IDENTITY = announced(f"INSERT INTO identities ({_IDENTITY_COLUMNS}) VALUES ({_placeholders(1, 12)})")
_INSERT_CREDENTIAL = announced(
    "INSERT INTO identity_credentials (id, identity_id, type, config, version, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
_INSERT_IDENTIFIER = announced(
    "INSERT INTO identity_credential_identifiers "
    "(id, credential_id, identity_id, type, identifier, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
_INSERT_VERIFIABLE = announced(
    "INSERT INTO identity_verifiable_addresses "
    "(id, identity_id, via, value, verified, verified_at, status, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_INSERT_RECOVERY = announced(
    "INSERT INTO identity_recovery_addresses (id, identity_id, via, value, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6)"
)
_UPDATE_IDENTITY = announced(
    "UPDATE identities SET schema_id = $2, state = $3, state_changed_at = $4, traits = $5, "
    "metadata_public = $6, metadata_admin = $7, external_id = $8, organization_id = $9, "
    "available_aal = $10, updated_at = $11 WHERE id = $1"
)
_DELETE_CHILDREN = tuple(
    announced(f"DELETE FROM {table} WHERE identity_id = $1")
    for table in ("identity_credentials", "identity_verifiable_addresses", "identity_recovery_addresses")
)
_DELETE_IDENTITY = announced("DELETE FROM identities WHERE id = $1")
# Deactivating an identity revokes its sessions for good (issue 15, item 8): Kratos only hides
# them while the identity is inactive, so re-activating it brought them back to life.
_REVOKE_SESSIONS = announced(
    "UPDATE sessions SET active = $2, updated_at = $3 WHERE identity_id = $1 AND active = $4"
)


async def insert_identity(conn: Connection, identity: Identity) -> None:
    """Insert a new identity and everything it holds (one statement on PostgreSQL).

    Raises:
        UniqueViolation: an identifier, address or external id is taken.
    """
    if conn.dialect == "postgres":
        if isinstance(conn, Batch):
            _add_identity_writes(conn, identity)
        else:
            batch = Batch()
            _add_identity_writes(batch, identity)
            await batch.send(conn)
        return
    await conn.execute(
        _INSERT_IDENTITY,
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
            _INSERT_CREDENTIAL,
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
                _INSERT_IDENTIFIER,
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
            _INSERT_VERIFIABLE,
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
            _INSERT_RECOVERY,
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
        _UPDATE_IDENTITY,
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
    for statement in _DELETE_CHILDREN:
        await conn.execute(statement, identity.id)
    await _write_children(conn, identity)
    if identity.state != "active":
        await conn.execute(_REVOKE_SESSIONS, identity.id, False, identity.updated_at, True)
    await announce(conn, f"i:{identity.id}")  # cached sessions of this identity are stale


async def delete_identity(conn: Connection, identity_id: uuid.UUID) -> bool:
    """Delete an identity (sessions, credentials and addresses go with it). False if unknown."""
    deleted = await conn.execute(_DELETE_IDENTITY, identity_id) > 0
    await announce(conn, f"i:{identity_id}")
    return deleted


async def mark_address_verified(conn: Connection, identity_id: uuid.UUID, address: VerifiableAddress) -> None:
    """Store one verifiable address as ``verified``/``completed`` with its timestamps (only that row)."""
    await conn.execute(
        "UPDATE identity_verifiable_addresses SET verified = $2, status = 'completed', verified_at = $3, updated_at = $4 "
        "WHERE id = $1",
        address.id,
        True,
        address.verified_at,
        address.updated_at,
    )
    await announce(conn, f"i:{identity_id}")  # whoami shows the addresses: cached sessions are stale


async def mark_address_sent(conn: Connection, identity_id: uuid.UUID, via: str, value: str) -> None:
    """A code or link was sent to a ``pending`` address: it becomes ``sent``."""
    await conn.execute(
        "UPDATE identity_verifiable_addresses SET status = 'sent', updated_at = $4 "
        "WHERE identity_id = $1 AND via = $2 AND value = $3 AND status = 'pending'",
        identity_id,
        via,
        value,
        utcnow(),
    )


async def get_identity(conn: Connection, identity_id: uuid.UUID) -> Identity | None:
    """One identity with addresses and credentials, in one statement (it runs on every login)."""
    row = await conn.fetchrow(_BY_ID[conn.dialect], identity_id)
    return _identity_from_row(row) if row is not None else None


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


def _by_identifier_statement(dialect: str) -> str:
    json = IDENTITY_JSON[dialect]
    return (
        f"SELECT {', '.join('i.' + c for c in _ROW_COLUMNS)}, {json['verifiable']}, {json['recovery']}, {json['credentials']} "
        "FROM identity_credential_identifiers f JOIN identities i ON i.id = f.identity_id "
        "WHERE f.type = $1 AND f.identifier = $2 LIMIT 1"
    )


_BY_IDENTIFIER = {dialect: _by_identifier_statement(dialect) for dialect in IDENTITY_JSON}


async def find_identity_by_identifier(conn: Connection, identifier: str, credential_type: str) -> Identity | None:
    """The identity owning ``identifier`` for ``credential_type``, loaded like :func:`get_identity`,
    in ONE statement (what :func:`find_identity_id_by_identifier` then :func:`get_identity` do in
    two; (type, identifier) is unique)."""
    row = await conn.fetchrow(_BY_IDENTIFIER[conn.dialect], credential_type, identifier)
    return _identity_from_row(row) if row is not None else None


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


# A credential's config replaced only if it is still what the caller read: the conditional write
# that makes a backup code or a TOTP time step usable exactly once under concurrent submits.
_SWAP_CREDENTIAL_CONFIG = {
    "postgres": announced(
        "UPDATE identity_credentials SET config = $4::jsonb, updated_at = $5 "
        "WHERE identity_id = $1 AND type = $2 AND config = $3::jsonb"
    ),
    "sqlite": announced(
        "UPDATE identity_credentials SET config = $4, updated_at = $5 "
        "WHERE identity_id = $1 AND type = $2 AND json(config) = json($3)"
    ),
}


async def swap_credential_config(
    conn: Connection,
    identity_id: uuid.UUID,
    credential_type: str,
    expected: dict[str, Any],
    config: dict[str, Any],
) -> bool:
    """Replace a credential's config with ``config`` if it still equals ``expected``.

    Returns:
        True when written; False when the credential is gone or another request changed it
        since ``expected`` was read (the caller reloads and decides again).
    """
    changed = await conn.execute(
        _SWAP_CREDENTIAL_CONFIG[conn.dialect], identity_id, credential_type, expected, config, utcnow()
    )
    if changed:
        await announce(conn, f"i:{identity_id}")  # cached sessions hold the old credential
    return changed > 0


async def identity_ids_of_organization(conn: Connection, organization_id: uuid.UUID, *, limit: int = 500) -> list[uuid.UUID]:
    """Ids of the identities of one organization, in id order (at most ``limit``)."""
    rows = await conn.fetch("SELECT id FROM identities WHERE organization_id = $1 ORDER BY id LIMIT $2", organization_id, limit)
    return [r["id"] for r in rows]


async def identity_ids_by_identifier_prefix(conn: Connection, prefix: str, *, limit: int = 250) -> list[uuid.UUID]:
    """Ids of identities with a credential identifier starting with ``prefix`` (taken literally)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await conn.fetch(
        "SELECT DISTINCT identity_id FROM identity_credential_identifiers WHERE identifier LIKE $1 ESCAPE '\\' LIMIT $2",
        escaped + "%",
        limit,
    )
    return [r["identity_id"] for r in rows]


#: The address tables an address's owner is looked up in.
_ADDRESS_TABLES = {
    "verifiable": "SELECT identity_id FROM identity_verifiable_addresses WHERE via = $1 AND value = $2",
    "recovery": "SELECT identity_id FROM identity_recovery_addresses WHERE via = $1 AND value = $2",
}


async def address_owner(conn: Connection, kind: str, via: str, value: str) -> uuid.UUID | None:
    """The id of the identity whose ``kind`` (``verifiable`` or ``recovery``) address this is."""
    owner = await conn.fetchval(_ADDRESS_TABLES[kind], via, value)
    return owner if owner is None or isinstance(owner, uuid.UUID) else uuid.UUID(str(owner))
