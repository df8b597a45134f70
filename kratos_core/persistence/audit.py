"""The audit log's queries (table ``audit_events``, migration 0004): insert, list, delete old.

Rows are listed newest first; a page continues after ``(occurred_at, id)`` of the last row of
the previous page (keyset pagination: no offset scans, stable under concurrent inserts).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from .db import Connection

__all__ = ["AuditRow", "AuditFilter", "insert_audit_rows", "list_audit_rows", "delete_audit_rows_before", "count_courier_queue"]


class AuditRow(msgspec.Struct, frozen=True, kw_only=True):
    """One stored audit event.

    Attributes:
        id: The row's id.
        occurred_at: When the event was emitted (UTC).
        event: The event's dotted name (``login.succeeded``).
        outcome: ``success`` or ``failure``.
        identity_id: Whose event it is, when known.
        session_id: The session it is about, when known.
        client_address: The client address as the trusted-proxy config decides (IPv6 as a /64),
            or None when the event did not come from a request (the courier worker).
        user_agent: The request's ``User-Agent`` (truncated), or None.
        payload: The event's payload (ids, method names, outcomes; never a secret).
    """

    id: uuid.UUID
    occurred_at: dt.datetime
    event: str
    outcome: str
    identity_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    client_address: str | None = None
    user_agent: str | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


class AuditFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What ``list_audit_rows`` returns: all conditions must hold (None: any)."""

    identity_id: uuid.UUID | None = None
    event: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


_COLUMNS = "id, occurred_at, event, outcome, identity_id, session_id, client_address, user_agent, payload"


async def insert_audit_rows(db: Connection, rows: Sequence[AuditRow]) -> None:
    """Store ``rows`` in one statement batch."""
    if not rows:
        return
    await db.executemany(
        f"INSERT INTO audit_events ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
        [
            (r.id, r.occurred_at, r.event, r.outcome, r.identity_id, r.session_id, r.client_address, r.user_agent, r.payload)
            for r in rows
        ],
    )


async def list_audit_rows(
    db: Connection, where: AuditFilter, *, limit: int, after: tuple[dt.datetime, uuid.UUID] | None = None
) -> list[AuditRow]:
    """Up to ``limit`` rows matching ``where``, newest first, after the keyset position ``after``."""
    conditions: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if where.identity_id is not None:
        conditions.append(f"identity_id = {arg(where.identity_id)}")
    if where.event is not None:
        conditions.append(f"event = {arg(where.event)}")
    if where.since is not None:
        conditions.append(f"occurred_at >= {arg(where.since)}")
    if where.until is not None:
        conditions.append(f"occurred_at < {arg(where.until)}")
    if after is not None:
        at, last_id = after
        first, second, third = arg(at), arg(at), arg(last_id)
        conditions.append(f"(occurred_at < {first} OR (occurred_at = {second} AND id < {third}))")
    sql = f"SELECT {_COLUMNS} FROM audit_events"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += f" ORDER BY occurred_at DESC, id DESC LIMIT {arg(limit)}"
    return [_row(r) for r in await db.fetch(sql, *args)]


def _row(record: dict[str, Any]) -> AuditRow:
    payload = record["payload"]
    if isinstance(payload, (str, bytes)):  # asyncpg hands JSONB back as text
        payload = msgspec.json.decode(payload)
    return AuditRow(
        id=record["id"],
        occurred_at=record["occurred_at"],
        event=record["event"],
        outcome=record["outcome"],
        identity_id=record["identity_id"],
        session_id=record["session_id"],
        client_address=record["client_address"],
        user_agent=record["user_agent"],
        payload=payload,
    )


async def delete_audit_rows_before(db: Connection, cutoff: dt.datetime) -> int:
    """Delete rows older than ``cutoff``; returns how many were deleted."""
    return await db.execute("DELETE FROM audit_events WHERE occurred_at < $1", cutoff)


async def count_courier_queue(db: Connection) -> int:
    """Courier messages waiting or being delivered (the ``kratos_courier_queue_depth`` gauge)."""
    return int(await db.fetchval("SELECT COUNT(*) FROM courier_messages WHERE status IN ('queued', 'processing')") or 0)
