"""Session persistence: sessions with their devices, and the one-statement whoami lookup.

Every function takes a :class:`~kratos_core.persistence.db.Connection` (the database or an open
transaction), so a registration can write identity and session atomically.

The hot path, :func:`load_by_token_digest`, answers in ONE statement: the session row joined with
its identity, and the identity's addresses, credentials and the session's devices aggregated as
JSON in correlated subqueries (ARCHITECTURE.md section 5: whoami stays one prepared statement).
JSON aggregation is spelled differently per dialect, so each statement exists once per dialect,
built at import time; nothing is assembled per request.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from ..identity.model import Credential, Identity, RecoveryAddress, VerifiableAddress, utcnow
from ..persistence.db import Connection
from .model import AuthenticationMethod, Device, Session

__all__ = [
    "ACTIVE_ANY",
    "ACTIVE_ONLY",
    "INACTIVE_ONLY",
    "Cursor",
    "insert_session",
    "insert_device",
    "update_authentication",
    "load_by_token_digest",
    "get_session",
    "list_sessions",
    "count_sessions",
    "revoke_session",
    "revoke_other_sessions",
    "revoke_identity_sessions",
    "revoke_by_token_digest",
    "delete_session",
    "delete_identity_sessions",
    "set_expiry",
]

#: Values of the ``active`` filter of the list statements.
ACTIVE_ANY, ACTIVE_ONLY, INACTIVE_ONLY = "any", "active", "inactive"

#: A keyset position: (created_at, id) of the last session of the previous page.
Cursor = tuple[dt.datetime, uuid.UUID]

# Keyset sentinels meaning "from the newest": later than any row, and the largest UUID (as text it
# sorts after every lower-case hex UUID on SQLite; on PostgreSQL uuid order is byte order).
_NEWEST: Cursor = (dt.datetime(9999, 12, 31, tzinfo=dt.UTC), uuid.UUID(int=(1 << 128) - 1))
_NO_SESSION = uuid.UUID(int=0)

# -- statements ---------------------------------------------------------------------------------

_SESSION_COLUMNS = (
    "s.id, s.identity_id, s.active, s.aal, s.authentication_methods, s.issued_at, s.authenticated_at, "
    "s.expires_at, s.created_at, s.updated_at, i.state AS identity_state"
)
_IDENTITY_COLUMNS = (
    "i.schema_id AS i_schema_id, i.state_changed_at AS i_state_changed_at, i.traits AS i_traits, "
    "i.metadata_public AS i_metadata_public, i.metadata_admin AS i_metadata_admin, "
    "i.external_id AS i_external_id, i.organization_id AS i_organization_id, "
    "i.available_aal AS i_available_aal, i.created_at AS i_created_at, i.updated_at AS i_updated_at"
)

# SQLite: json_group_array/json_object; json() keeps stored JSON (and nested arrays) as JSON
# rather than as quoted strings. Aggregation order is not guaranteed: rows are sorted in Python.
_SQLITE_JSON = {
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
        "'identifiers', json((SELECT json_group_array(ci.identifier) FROM identity_credential_identifiers ci "
        "WHERE ci.credential_id = c.id)))) "
        "FROM identity_credentials c WHERE c.identity_id = i.id) AS i_credentials"
    ),
    "devices": (
        "(SELECT json_group_array(json_object('id', d.id, 'ip_address', d.ip_address, "
        "'user_agent', d.user_agent, 'location', d.location, 'created_at', d.created_at)) "
        "FROM session_devices d WHERE d.session_id = s.id) AS devices"
    ),
}

# PostgreSQL: json_agg/json_build_object, sent back as text so both dialects decode the same way;
# json_agg of no rows is NULL, hence the COALESCE.
_POSTGRES_JSON = {
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
    "devices": (
        "(SELECT COALESCE(json_agg(json_build_object('id', d.id, 'ip_address', d.ip_address, "
        "'user_agent', d.user_agent, 'location', d.location, 'created_at', d.created_at) "
        "ORDER BY d.created_at, d.id), '[]'::json)::text "
        "FROM session_devices d WHERE d.session_id = s.id) AS devices"
    ),
}

_FROM = "FROM sessions s JOIN identities i ON i.id = s.identity_id"

def _active_filter(mode: int, now: int) -> str:
    """``active`` list filter on parameters ``$mode`` ('any'|'active'|'inactive') and ``$now``.

    Kratos counts a session as active when its flag is set and it has not expired.
    """
    m = f"CAST(${mode} AS TEXT)"
    return (
        f"({m} = 'any' OR ({m} = 'active' AND s.active AND s.expires_at > ${now}) "
        f"OR ({m} = 'inactive' AND (NOT s.active OR s.expires_at <= ${now})))"
    )


def _page(at: int) -> str:
    """Newest first, strictly after the keyset cursor (``$at``, ``$at+1``), then LIMIT/OFFSET."""
    return (
        f"(s.created_at < ${at} OR (s.created_at = ${at} AND s.id < ${at + 1})) "
        f"ORDER BY s.created_at DESC, s.id DESC LIMIT ${at + 2} OFFSET ${at + 3}"
    )


# Per identity: $1 identity, $2 exclude, $3 mode, $4 now, $5/$6 cursor, $7 limit, $8 offset.
_WHERE_IDENTITY = f"WHERE s.identity_id = $1 AND s.id <> $2 AND {_active_filter(3, 4)} AND {_page(5)}"
# All sessions: $1 mode, $2 now, $3/$4 cursor, $5 limit, $6 offset.
_WHERE_ALL = f"WHERE {_active_filter(1, 2)} AND {_page(3)}"


def _full_select(json: dict[str, str], *, credentials: bool) -> str:
    parts = [_SESSION_COLUMNS, _IDENTITY_COLUMNS, json["verifiable"], json["recovery"], json["devices"]]
    if credentials:
        parts.append(json["credentials"])
    return "SELECT " + ", ".join(parts) + " " + _FROM


def _statements(json: dict[str, str]) -> dict[str, str]:
    full_creds = _full_select(json, credentials=True)
    full = _full_select(json, credentials=False)
    bare = f"SELECT {_SESSION_COLUMNS} {_FROM}"
    return {
        "by_token": f"{full_creds} WHERE s.token_digest = $1",
        "by_id": f"{full_creds} WHERE s.id = $1",
        "list_identity_full": f"{full} {_WHERE_IDENTITY}",
        "list_identity_bare": f"{bare} {_WHERE_IDENTITY}",
        "list_all_full": f"{full} {_WHERE_ALL}",
        "list_all_bare": f"{bare} {_WHERE_ALL}",
    }


_SQL = {"sqlite": _statements(_SQLITE_JSON), "postgres": _statements(_POSTGRES_JSON)}

_COUNT_FOR_IDENTITY = f"SELECT count(*) FROM sessions s WHERE s.identity_id = $1 AND s.id <> $2 AND {_active_filter(3, 4)}"

_INSERT_SESSION = (
    "INSERT INTO sessions (id, identity_id, token_digest, logout_token_digest, active, aal, "
    "authentication_methods, issued_at, authenticated_at, expires_at, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
)
_INSERT_DEVICE = (
    "INSERT INTO session_devices (id, session_id, ip_address, user_agent, location, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
_UPDATE_AUTHENTICATION = (
    "UPDATE sessions SET active = $2, aal = $3, authentication_methods = $4, issued_at = $5, "
    "authenticated_at = $6, expires_at = $7, updated_at = $8 WHERE id = $1"
)

# -- decoding -----------------------------------------------------------------------------------

_verifiable = msgspec.json.Decoder(list[VerifiableAddress], strict=False)
_recovery = msgspec.json.Decoder(list[RecoveryAddress], strict=False)
_credentials = msgspec.json.Decoder(list[Credential], strict=False)
_devices = msgspec.json.Decoder(list[Device], strict=False)


def _methods(raw: Any) -> list[AuthenticationMethod]:
    return msgspec.convert(raw or [], list[AuthenticationMethod], strict=False)


def _identity(row: dict[str, Any]) -> Identity:
    identity = Identity(
        id=row["identity_id"],
        schema_id=row["i_schema_id"],
        state=row["identity_state"],
        state_changed_at=row["i_state_changed_at"],
        traits=row["i_traits"],
        metadata_public=row["i_metadata_public"],
        metadata_admin=row["i_metadata_admin"],
        external_id=row["i_external_id"],
        organization_id=row["i_organization_id"],
        available_aal=row["i_available_aal"],
        created_at=row["i_created_at"],
        updated_at=row["i_updated_at"],
        verifiable_addresses=sorted(_verifiable.decode(row["i_verifiable"]), key=lambda a: (a.created_at, a.value)),
        recovery_addresses=sorted(_recovery.decode(row["i_recovery"]), key=lambda a: (a.created_at, a.value)),
    )
    raw_credentials = row.get("i_credentials")
    if raw_credentials is not None:
        identity.credentials = {c.type: c for c in _credentials.decode(raw_credentials)}
    return identity


def _session(row: dict[str, Any]) -> Session:
    session = Session(
        id=row["id"],
        identity_id=row["identity_id"],
        active=bool(row["active"]),
        aal=row["aal"],
        authentication_methods=_methods(row["authentication_methods"]),
        issued_at=row["issued_at"],
        authenticated_at=row["authenticated_at"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        identity_active=row["identity_state"] == "active",
    )
    if "i_traits" in row:
        session.identity = _identity(row)
        devices = _devices.decode(row["devices"])
        session.devices = sorted(devices, key=lambda d: (d.created_at or _NEWEST[0], str(d.id)))
    return session


def _methods_json(methods: list[AuthenticationMethod]) -> list[dict[str, Any]]:
    return msgspec.to_builtins(methods)


# -- writing ------------------------------------------------------------------------------------


async def insert_session(conn: Connection, session: Session, token_digest: str, logout_token_digest: str) -> None:
    """Insert a new session and its devices (run it in the caller's transaction)."""
    await conn.execute(
        _INSERT_SESSION,
        session.id,
        session.identity_id,
        token_digest,
        logout_token_digest,
        session.active,
        session.aal,
        _methods_json(session.authentication_methods),
        session.issued_at,
        session.authenticated_at,
        session.expires_at,
        session.created_at,
        session.updated_at,
    )
    for device in session.devices:
        await insert_device(conn, session.id, device)


async def insert_device(conn: Connection, session_id: uuid.UUID, device: Device) -> None:
    """Record one more device (issue or step-up) of a session."""
    now = device.created_at or utcnow()
    await conn.execute(
        _INSERT_DEVICE, device.id, session_id, device.ip_address, device.user_agent, device.location, now, now
    )


async def update_authentication(conn: Connection, session: Session) -> None:
    """Store a step-up: methods, AAL, issue/auth/expiry times and the active flag."""
    await conn.execute(
        _UPDATE_AUTHENTICATION,
        session.id,
        session.active,
        session.aal,
        _methods_json(session.authentication_methods),
        session.issued_at,
        session.authenticated_at,
        session.expires_at,
        session.updated_at,
    )


async def revoke_session(conn: Connection, session_id: uuid.UUID, identity_id: uuid.UUID | None = None) -> bool:
    """Deactivate one session (of one identity, when given). False when no such session."""
    if identity_id is None:
        count = await conn.execute(
            "UPDATE sessions SET active = $2, updated_at = $3 WHERE id = $1", session_id, False, utcnow()
        )
    else:
        count = await conn.execute(
            "UPDATE sessions SET active = $3, updated_at = $4 WHERE id = $1 AND identity_id = $2",
            session_id,
            identity_id,
            False,
            utcnow(),
        )
    return count > 0


async def revoke_other_sessions(conn: Connection, identity_id: uuid.UUID, keep: uuid.UUID) -> int:
    """Deactivate an identity's active sessions except ``keep``; the number revoked."""
    return await conn.execute(
        "UPDATE sessions SET active = $3, updated_at = $4 WHERE identity_id = $1 AND id <> $2 AND active = $5",
        identity_id,
        keep,
        False,
        utcnow(),
        True,
    )


async def revoke_identity_sessions(conn: Connection, identity_id: uuid.UUID) -> int:
    """Deactivate all active sessions of an identity; the number revoked."""
    return await revoke_other_sessions(conn, identity_id, _NO_SESSION)


async def revoke_by_token_digest(conn: Connection, digest: str) -> bool:
    """Deactivate the session a token belongs to. False when no session has that token."""
    count = await conn.execute(
        "UPDATE sessions SET active = $2, updated_at = $3 WHERE token_digest = $1", digest, False, utcnow()
    )
    return count > 0


async def delete_session(conn: Connection, session_id: uuid.UUID) -> bool:
    return await conn.execute("DELETE FROM sessions WHERE id = $1", session_id) > 0


async def delete_identity_sessions(conn: Connection, identity_id: uuid.UUID) -> int:
    """Delete (not deactivate) every session of an identity; devices go with them."""
    return await conn.execute("DELETE FROM sessions WHERE identity_id = $1", identity_id)


async def set_expiry(conn: Connection, session_id: uuid.UUID, expires_at: dt.datetime) -> None:
    await conn.execute(
        "UPDATE sessions SET expires_at = $2, updated_at = $3 WHERE id = $1", session_id, expires_at, utcnow()
    )


# -- reading ------------------------------------------------------------------------------------


async def load_by_token_digest(conn: Connection, digest: str) -> Session | None:
    """The session with this token digest, with identity (credentials included) and devices.

    One statement, whatever the session holds: this runs on every authenticated request.
    """
    row = await conn.fetchrow(_SQL[conn.dialect]["by_token"], digest)
    return _session(row) if row is not None else None


async def get_session(conn: Connection, session_id: uuid.UUID) -> Session | None:
    """One session with identity (credentials included) and devices."""
    row = await conn.fetchrow(_SQL[conn.dialect]["by_id"], session_id)
    return _session(row) if row is not None else None


async def list_sessions(
    conn: Connection,
    *,
    limit: int,
    identity_id: uuid.UUID | None = None,
    active: str = ACTIVE_ANY,
    exclude: uuid.UUID | None = None,
    after: Cursor | None = None,
    offset: int = 0,
    expand: bool = False,
    now: dt.datetime | None = None,
) -> list[Session]:
    """One page of sessions, newest first.

    Args:
        limit: Page size (ask for one more to learn whether a next page exists).
        identity_id: Only this identity's sessions; None for all sessions.
        active: ``ACTIVE_ANY``, ``ACTIVE_ONLY`` (flag set and unexpired) or ``INACTIVE_ONLY``.
        exclude: A session id to leave out (the caller's own, for "my other sessions").
        after: Keyset cursor from the previous page.
        offset: Legacy ``page``/``per_page`` pagination.
        expand: Load identity (without credentials) and devices too.
    """
    cursor = after or _NEWEST
    page = (active, now or utcnow(), cursor[0], cursor[1], limit, offset)
    suffix = "full" if expand else "bare"
    if identity_id is None:
        rows = await conn.fetch(_SQL[conn.dialect][f"list_all_{suffix}"], *page)
    else:
        rows = await conn.fetch(_SQL[conn.dialect][f"list_identity_{suffix}"], identity_id, exclude or _NO_SESSION, *page)
    return [_session(row) for row in rows]


async def count_sessions(
    conn: Connection,
    identity_id: uuid.UUID,
    *,
    active: str = ACTIVE_ANY,
    exclude: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> int:
    """How many sessions :func:`list_sessions` would page through for one identity."""
    return int(await conn.fetchval(_COUNT_FOR_IDENTITY, identity_id, exclude or _NO_SESSION, active, now or utcnow()))
