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
import time
import uuid
import weakref
from typing import Any

import msgspec

from ..identity.model import Identity, utcnow
from ..metrics import SESSION_CACHE
from ..persistence.db import SESSION_CHANGES_CHANNEL, Batch, Connection, announce, announced, on_local_announcement
from ..persistence.identities import IDENTITY_JSON, credentials_from_json, recovery_from_json, verifiable_from_json
from .model import AuthenticationMethod, Device, Session

__all__ = [
    "ACTIVE_ANY",
    "ACTIVE_ONLY",
    "INACTIVE_ONLY",
    "Cursor",
    "insert_session",
    "insert_is_atomic",
    "insert_device",
    "update_authentication",
    "load_by_token_digest",
    "load_row_by_token_digest",
    "session_from_row",
    "SessionCache",
    "SESSION_CHANGES_CHANNEL",
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

# The identity's children come from the identity store's fragments; devices are the session's.
# SQLite: json_group_array/json_object (aggregation order is not guaranteed: rows are sorted in
# Python). PostgreSQL: json_agg/json_build_object, sent back as text so both dialects decode the
# same way; json_agg of no rows is NULL, hence the COALESCE.
_SQLITE_JSON = {
    **IDENTITY_JSON["sqlite"],
    "devices": (
        "(SELECT json_group_array(json_object('id', d.id, 'ip_address', d.ip_address, "
        "'user_agent', d.user_agent, 'location', d.location, 'created_at', d.created_at)) "
        "FROM session_devices d WHERE d.session_id = s.id) AS devices"
    ),
}
_POSTGRES_JSON = {
    **IDENTITY_JSON["postgres"],
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

_INSERT_SESSION = announced(
    "INSERT INTO sessions (id, identity_id, token_digest, logout_token_digest, active, aal, "
    "authentication_methods, issued_at, authenticated_at, expires_at, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
)
_INSERT_DEVICE = announced(
    "INSERT INTO session_devices (id, session_id, ip_address, user_agent, location, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
_UPDATE_AUTHENTICATION = announced(
    "UPDATE sessions SET active = $2, aal = $3, authentication_methods = $4, issued_at = $5, "
    "authenticated_at = $6, expires_at = $7, updated_at = $8 WHERE id = $1"
)

# -- decoding -----------------------------------------------------------------------------------

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
        verifiable_addresses=verifiable_from_json(row["i_verifiable"]),
        recovery_addresses=recovery_from_json(row["i_recovery"]),
    )
    raw_credentials = row.get("i_credentials")
    if raw_credentials is not None:
        identity.credentials = credentials_from_json(raw_credentials)
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


# PostgreSQL: the session and its devices in ONE statement (a write batch), atomic without a
# transaction (a login's session write went from BEGIN, two INSERTs and COMMIT to one round trip).
_INSERT_DEVICES_PG = announced(
    "INSERT INTO session_devices (id, session_id, ip_address, user_agent, location, created_at, updated_at) "
    "SELECT d.id, $1, d.ip_address, d.user_agent, d.location, d.created_at, d.created_at FROM "
    "unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) "
    "AS d(id, ip_address, user_agent, location, created_at)"
)


def insert_is_atomic(conn: Connection) -> bool:
    """Whether :func:`insert_session` is one statement here (no transaction needed around it)."""
    return conn.dialect == "postgres"


async def insert_session(conn: Connection, session: Session, token_digest: str, logout_token_digest: str) -> None:
    """Insert a new session and its devices (run it in the caller's transaction, unless
    :func:`insert_is_atomic`)."""
    if conn.dialect == "postgres":
        batch = conn if isinstance(conn, Batch) else Batch()
        batch.add(
            _INSERT_SESSION,
            (
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
            ),
        )
        if session.devices:
            now = utcnow()
            devices = session.devices
            batch.add(
                _INSERT_DEVICES_PG,
                (
                    session.id,
                    [d.id for d in devices],
                    [d.ip_address for d in devices],
                    [d.user_agent for d in devices],
                    [d.location for d in devices],
                    [d.created_at or now for d in devices],
                ),
            )
        if batch is not conn:
            await batch.send(conn)
        return
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
    await announce(conn, f"s:{session_id}")


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
    await announce(conn, f"s:{session.id}")


# Every write below announces what it changed, for the session caches of all processes.
_REVOKE = announced("UPDATE sessions SET active = $2, updated_at = $3 WHERE id = $1")
_REVOKE_OF = announced("UPDATE sessions SET active = $3, updated_at = $4 WHERE id = $1 AND identity_id = $2")
_REVOKE_OTHERS = announced(
    "UPDATE sessions SET active = $3, updated_at = $4 WHERE identity_id = $1 AND id <> $2 AND active = $5"
)
_REVOKE_BY_DIGEST = announced(
    "UPDATE sessions SET active = $2, updated_at = $3 WHERE token_digest = $1 RETURNING id, identity_id"
)
_DELETE = announced("DELETE FROM sessions WHERE id = $1")
_DELETE_OF_IDENTITY = announced("DELETE FROM sessions WHERE identity_id = $1")
_SET_EXPIRY = announced("UPDATE sessions SET expires_at = $2, updated_at = $3 WHERE id = $1")


async def revoke_session(conn: Connection, session_id: uuid.UUID, identity_id: uuid.UUID | None = None) -> bool:
    """Deactivate one session (of one identity, when given). False when no such session."""
    if identity_id is None:
        count = await conn.execute(_REVOKE, session_id, False, utcnow())
    else:
        count = await conn.execute(_REVOKE_OF, session_id, identity_id, False, utcnow())
    if count:
        await announce(conn, f"s:{session_id}")
    return count > 0


async def revoke_other_sessions(conn: Connection, identity_id: uuid.UUID, keep: uuid.UUID) -> int:
    """Deactivate an identity's active sessions except ``keep``; the number revoked."""
    count = await conn.execute(_REVOKE_OTHERS, identity_id, keep, False, utcnow(), True)
    if count:
        await announce(conn, f"i:{identity_id}")
    return count


async def revoke_identity_sessions(conn: Connection, identity_id: uuid.UUID) -> int:
    """Deactivate all active sessions of an identity; the number revoked."""
    return await revoke_other_sessions(conn, identity_id, _NO_SESSION)


async def revoke_by_token_digest(conn: Connection, digest: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """Deactivate the session a token belongs to: its ``(id, identity_id)`` (for the
    ``session.revoked`` event and the audit log), or None when no session has that token."""
    rows = await conn.fetch(_REVOKE_BY_DIGEST, digest, False, utcnow())
    if not rows:
        return None
    await announce(conn, f"d:{digest}")
    return rows[0]["id"], rows[0]["identity_id"]


async def delete_session(conn: Connection, session_id: uuid.UUID) -> bool:
    count = await conn.execute(_DELETE, session_id)
    if count:
        await announce(conn, f"s:{session_id}")
    return count > 0


async def delete_identity_sessions(conn: Connection, identity_id: uuid.UUID) -> int:
    """Delete (not deactivate) every session of an identity; devices go with them."""
    count = await conn.execute(_DELETE_OF_IDENTITY, identity_id)
    if count:
        await announce(conn, f"i:{identity_id}")
    return count


async def set_expiry(conn: Connection, session_id: uuid.UUID, expires_at: dt.datetime) -> None:
    await conn.execute(_SET_EXPIRY, session_id, expires_at, utcnow())
    await announce(conn, f"s:{session_id}")


# -- reading ------------------------------------------------------------------------------------


async def load_by_token_digest(conn: Connection, digest: str) -> Session | None:
    """The session with this token digest, with identity (credentials included) and devices.

    One statement, whatever the session holds: this runs on every authenticated request.
    """
    row = await conn.fetchrow(_SQL[conn.dialect]["by_token"], digest)
    return _session(row) if row is not None else None


async def load_row_by_token_digest(conn: Connection, digest: str) -> dict[str, Any] | None:
    """The row :func:`load_by_token_digest` decodes (for :class:`SessionCache`)."""
    return await conn.fetchrow(_SQL[conn.dialect]["by_token"], digest)


def session_from_row(row: dict[str, Any]) -> Session:
    """A fresh :class:`Session` from a row of :func:`load_row_by_token_digest`."""
    return _session(row)


# -- the session cache --------------------------------------------------------------------------


class CacheEntry:
    """One cached session row, and what whoami derives from it alone: the rendered body and
    whether the session passes ``session.whoami.required_aal`` (both filled on first use)."""

    __slots__ = ("row", "session_id", "identity_id", "expires", "body", "aal_ok", "flag_active", "expires_at")

    def __init__(self, row: dict[str, Any], expires: float) -> None:
        self.row = row  # never mutated: a hit that needs a Session decodes a fresh one from it
        self.session_id = str(row["id"])
        self.identity_id = str(row["identity_id"])
        self.expires = expires
        self.body: bytes | None = None
        self.aal_ok = False
        # Session.is_active without decoding: stored flag and identity state; expiry at use.
        self.flag_active = bool(row["active"]) and row["identity_state"] == "active"
        self.expires_at: dt.datetime = row["expires_at"]


class _NeverFresh:
    fresh = False


class SessionCache:
    """Sessions by token digest in this process, exact up to the delivery of a change
    announcement (opt-in: ``feature_flags.cacheable_sessions``, PostgreSQL only).

    Every write to a session or to what a session shows (identity, credentials, addresses,
    devices) is announced with NOTIFY (:func:`kratos_core.persistence.db.announce`; writes by
    code that does not announce are announced as "everything" by the database layer), and every
    caching process LISTENs. Rules that keep it exact:

    * entries are only served while the LISTEN connection is up and proven current: its newest
      heartbeat came back and was sent less than ``CACHE_STALENESS`` ago (a stalled connection
      stops the cache within that bound, and writers wait that long after announcing, so no
      process answers from a cache that missed a committed revocation); when the connection is
      lost the cache is emptied and disabled until it listens again;
    * an entry is stored only if no announcement arrived between the start of its database read
      and its arrival (``generation``), so a read racing a revocation cannot resurrect the
      revoked state;
    * the process that writes invalidates its own cache at once, without waiting for its
      notification to come back;
    * entries also expire after ``max_age`` seconds (``feature_flags.cacheable_sessions_max_age``,
      default 60 s) and the cache holds at most ``max_entries`` (oldest out first). Unknown
      tokens are not cached.

    A revocation committed by one process reaches another when its notification does (on one
    host, well under a millisecond); the revoking request answers only ``CACHE_STALENESS`` after
    its commit, when every other process has it or has stopped serving from its cache.
    """

    def __init__(self, *, max_entries: int = 4096, max_age: float = 60.0) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self.enabled = False
        self.generation = 0
        #: What proves the announcements are current (the database's ``fresh`` flag).
        self.clock: Any = _NeverFresh()
        self._entries: dict[str, CacheEntry] = {}
        _CACHES.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: str) -> CacheEntry | None:
        if not self.enabled:
            return None
        if not self.clock.fresh:
            _BYPASSES.inc()
            return None  # a listener not proven current may have missed a revocation
        entry = self._entries.get(digest)
        if entry is not None and entry.expires < time.monotonic():
            del self._entries[digest]
            entry = None
        (_MISSES if entry is None else _HITS).inc()
        return entry

    def put(self, digest: str, row: dict[str, Any], generation: int) -> CacheEntry | None:
        """Store a row read when :attr:`generation` was ``generation`` (else drop it)."""
        if not self.enabled or generation != self.generation or not self.clock.fresh:
            return None
        entries = self._entries
        if len(entries) >= self.max_entries and digest not in entries:
            del entries[next(iter(entries))]
        entry = entries[digest] = CacheEntry(row, time.monotonic() + self.max_age)
        return entry

    def invalidate(self, payload: str) -> None:
        """Apply a change announcement (``s:<session id>``, ``d:<digest>``, ``i:<identity id>``, ``*``)."""
        self.generation += 1
        _INVALIDATIONS.inc()
        kind, _, key = payload.partition(":")
        entries = self._entries
        if kind == "d":
            entries.pop(key, None)
        elif kind == "s":
            for digest in [d for d, e in entries.items() if e.session_id == key]:
                del entries[digest]
        elif kind == "i":
            for digest in [d for d, e in entries.items() if e.identity_id == key]:
                del entries[digest]
        else:  # "*" and anything unknown
            entries.clear()

    def set_listening(self, listening: bool) -> None:
        """The LISTEN connection is up (serve entries) or lost (empty and stop serving)."""
        self.generation += 1
        self._entries.clear()
        self.enabled = listening


_CACHES: weakref.WeakSet[SessionCache] = weakref.WeakSet()

# ``kratos_session_cache_total``: bound once (a labelled child is a dictionary lookup per call).
_HITS = SESSION_CACHE.labels("hit")
_MISSES = SESSION_CACHE.labels("miss")
_BYPASSES = SESSION_CACHE.labels("bypass")
_INVALIDATIONS = SESSION_CACHE.labels("invalidation")


def _invalidate_local(payload: str) -> None:
    for cache in list(_CACHES):
        cache.invalidate(payload)


on_local_announcement(_invalidate_local)


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
