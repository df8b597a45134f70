"""Courier persistence: messages and dispatches, claims, due and stuck messages, admin pages.

Every function takes a :class:`~kratos_core.persistence.db.Connection`, so :func:`insert_message`
can run in the caller's transaction (the message is stored atomically with the flow change that
causes it). Claiming is one conditional ``UPDATE``: whichever worker flips ``queued`` to
``processing`` first owns the attempt, so duplicate hand-offs (broker plus poller, two workers)
never send twice at once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from ..persistence.db import Connection, Database
from .model import SDK_TEMPLATE_TYPES, Dispatch, Message

__all__ = [
    "insert_message",
    "get_message",
    "claim_message",
    "record_attempt",
    "due_message_ids",
    "stuck_message_ids",
    "list_messages",
    "list_dispatches",
    "message_exists",
]

_COLUMNS = (
    "id, type, channel, status, recipient, subject, body, html_body, template_type, template_data, "
    "send_count, created_at, updated_at, next_attempt_at"
)
_DISPATCH_COLUMNS = "id, message_id, status, error, created_at, updated_at"

# Constant literals (never user input): the SDK rejects any other template type.
_SDK_TYPES_SQL = ", ".join(f"'{t}'" for t in sorted(SDK_TEMPLATE_TYPES))


def _message(row: dict[str, Any]) -> Message:
    row = dict(row)
    row["template_data"] = row.get("template_data") or {}
    return msgspec.convert(row, Message, from_attributes=False)


async def insert_message(conn: Connection, message: Message) -> None:
    """Store a new message (in the caller's transaction when ``conn`` is one)."""
    await conn.execute(
        f"INSERT INTO courier_messages ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14)",
        message.id,
        message.type,
        message.channel,
        message.status,
        message.recipient,
        message.subject,
        message.body,
        message.html_body,
        message.template_type,
        message.template_data,
        message.send_count,
        message.created_at,
        message.updated_at,
        message.next_attempt_at,
    )


async def get_message(conn: Connection, message_id: uuid.UUID) -> Message | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM courier_messages WHERE id = $1", message_id)
    return _message(row) if row is not None else None


async def message_exists(conn: Connection, message_id: uuid.UUID) -> bool:
    return await conn.fetchval("SELECT 1 FROM courier_messages WHERE id = $1", message_id) is not None


async def claim_message(conn: Connection, message_id: uuid.UUID, now: dt.datetime) -> Message | None:
    """Flip a due ``queued`` message to ``processing`` and return it; None when not claimable.

    Not claimable: unknown (or not committed yet), already taken, finished, or in back-off.
    """
    claimed = await conn.execute(
        "UPDATE courier_messages SET status = 'processing', updated_at = $2 "
        "WHERE id = $1 AND status = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= $2)",
        message_id,
        now,
    )
    if claimed != 1:
        return None
    return await get_message(conn, message_id)


async def renew_lease(conn: Connection, message_id: uuid.UUID, now: dt.datetime) -> bool:
    """Extend the claim on a ``processing`` message (its ``updated_at`` is the lease's start).

    Returns:
        False when the message is no longer ``processing`` (recovered by a poller meanwhile).
    """
    renewed = await conn.execute(
        "UPDATE courier_messages SET updated_at = $2 WHERE id = $1 AND status = 'processing'",
        message_id,
        now,
    )
    return renewed == 1


async def record_attempt(
    db: Database,
    message: Message,
    dispatch: Dispatch,
    *,
    status: str,
    next_attempt_at: dt.datetime | None,
    only_if_processing_before: dt.datetime | None = None,
) -> bool:
    """Store an attempt's outcome and its dispatch in one transaction.

    Args:
        db: The database.
        message: The message as claimed (its ``send_count`` before this attempt).
        dispatch: The attempt's record.
        status: The message's next status (``sent``, ``queued`` or ``abandoned``).
        next_attempt_at: When a ``queued`` message may be attempted again.
        only_if_processing_before: Crash recovery: change the message only if it is still
            ``processing`` since before this time (so two pollers never both recover it).

    Returns:
        False when the recovery guard found the message changed (nothing stored).
    """
    sql = (
        "UPDATE courier_messages SET status = $2, send_count = send_count + 1, updated_at = $3, "
        "next_attempt_at = $4 WHERE id = $1"
    )
    args: list[Any] = [message.id, status, dispatch.created_at, next_attempt_at]
    if only_if_processing_before is not None:
        sql += " AND status = 'processing' AND updated_at < $5"
        args.append(only_if_processing_before)
    async with db.transaction() as tx:
        if await tx.execute(sql, *args) != 1:
            return False
        await tx.execute(
            f"INSERT INTO courier_dispatches ({_DISPATCH_COLUMNS}) VALUES ($1, $2, $3, $4::jsonb, $5, $6)",
            dispatch.id,
            dispatch.message_id,
            dispatch.status,
            dispatch.error,
            dispatch.created_at,
            dispatch.updated_at,
        )
    return True


async def due_message_ids(conn: Connection, *, due_before: dt.datetime, limit: int) -> list[uuid.UUID]:
    """Ids of ``queued`` messages due at ``due_before``, oldest first."""
    rows = await conn.fetch(
        "SELECT id FROM courier_messages WHERE status = 'queued' "
        "AND COALESCE(next_attempt_at, created_at) <= $1 ORDER BY created_at, id LIMIT $2",
        due_before,
        limit,
    )
    return [r["id"] for r in rows]


async def stuck_message_ids(conn: Connection, *, processing_before: dt.datetime, limit: int) -> list[uuid.UUID]:
    """Ids of messages ``processing`` since before ``processing_before`` (a worker died)."""
    rows = await conn.fetch(
        "SELECT id FROM courier_messages WHERE status = 'processing' AND updated_at < $1 "
        "ORDER BY updated_at, id LIMIT $2",
        processing_before,
        limit,
    )
    return [r["id"] for r in rows]


async def list_messages(
    conn: Connection,
    *,
    limit: int,
    status: str | None = None,
    recipient: str | None = None,
    before: tuple[dt.datetime, uuid.UUID] | None = None,
) -> list[Message]:
    """A page of messages, newest first, that the official SDK can parse.

    Args:
        conn: Where to read.
        limit: At most this many.
        status: Only this status.
        recipient: Only this exact recipient.
        before: Keyset cursor: only messages older than this ``(created_at, id)``.
    """
    clauses = [f"template_type IN ({_SDK_TYPES_SQL})"]
    args: list[Any] = []
    if status is not None:
        args.append(status)
        clauses.append(f"status = ${len(args)}")
    if recipient is not None:
        args.append(recipient)
        clauses.append(f"recipient = ${len(args)}")
    if before is not None:
        args.extend(before)
        clauses.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM courier_messages WHERE {' AND '.join(clauses)} "
        f"ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
        *args,
    )
    return [_message(r) for r in rows]


async def list_dispatches(conn: Connection, message_id: uuid.UUID) -> list[Dispatch]:
    """A message's attempts, newest first."""
    rows = await conn.fetch(
        f"SELECT {_DISPATCH_COLUMNS} FROM courier_dispatches WHERE message_id = $1 ORDER BY created_at DESC, id DESC",
        message_id,
    )
    return [msgspec.convert(r, Dispatch) for r in rows]
