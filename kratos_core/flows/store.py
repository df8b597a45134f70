"""Persistence of flows (``selfservice_flows``) and of browser errors (``selfservice_errors``).

Every function takes a :class:`~kratos_core.persistence.db.Connection`, so the caller decides
what is atomic. Expired flows are kept (Kratos leaves them to a cleanup job, pitfall 6): a late
submit must still find the flow to answer "expired" with a replacement.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from ..identity.model import utcnow
from ..persistence.db import Connection
from ..ui.container import Container
from .model import Flow

__all__ = ["insert_flow", "update_flow", "get_flow", "insert_error", "get_error"]

_COLUMNS = (
    "id, kind, type, state, identity_id, session_id, csrf_token, request_url, return_to, active, "
    "ui, data, internal_context, submit_count, issued_at, expires_at, created_at, updated_at"
)


def _values(flow: Flow) -> tuple[Any, ...]:
    return (
        flow.id,
        flow.kind,
        flow.type,
        flow.state,
        flow.identity_id,
        flow.session_id,
        flow.csrf_token,
        flow.request_url,
        flow.return_to,
        flow.active,
        flow.ui.to_dict(),
        flow.data,
        flow.internal_context,
        flow.submit_count,
        flow.issued_at,
        flow.expires_at,
        flow.created_at,
        flow.updated_at,
    )


async def insert_flow(conn: Connection, flow: Flow) -> None:
    marks = ", ".join(f"${i}" for i in range(1, 19))
    await conn.execute(f"INSERT INTO selfservice_flows ({_COLUMNS}) VALUES ({marks})", *_values(flow))


async def update_flow(conn: Connection, flow: Flow) -> None:
    """Write back everything that may change after creation (``updated_at`` is set now)."""
    flow.updated_at = utcnow()
    await conn.execute(
        "UPDATE selfservice_flows SET state = $2, identity_id = $3, session_id = $4, csrf_token = $5, "
        "active = $6, ui = $7, data = $8, internal_context = $9, submit_count = $10, updated_at = $11 "
        "WHERE id = $1",
        flow.id,
        flow.state,
        flow.identity_id,
        flow.session_id,
        flow.csrf_token,
        flow.active,
        flow.ui.to_dict(),
        flow.data,
        flow.internal_context,
        flow.submit_count,
        flow.updated_at,
    )


async def get_flow(conn: Connection, flow_id: uuid.UUID, kind: str) -> Flow | None:
    """The flow of this kind with this id, or None (another kind's id is "not found" too)."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM selfservice_flows WHERE id = $1 AND kind = $2", flow_id, kind)
    if row is None:
        return None
    row["ui"] = Container.from_dict(row["ui"])
    return Flow(**row)


async def insert_error(conn: Connection, error: dict[str, Any], csrf_token: str = "") -> uuid.UUID:
    """Store an error a browser is sent to the error UI for; returns its id."""
    error_id = uuid.uuid4()
    now = utcnow()
    await conn.execute(
        "INSERT INTO selfservice_errors (id, error, csrf_token, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
        error_id,
        error,
        csrf_token,
        now,
        now,
    )
    return error_id


async def get_error(conn: Connection, error_id: uuid.UUID) -> tuple[dict[str, Any], dt.datetime, dt.datetime] | None:
    """``(error, created_at, updated_at)`` of a stored error, or None."""
    row = await conn.fetchrow("SELECT error, created_at, updated_at FROM selfservice_errors WHERE id = $1", error_id)
    if row is None:
        return None
    return row["error"], row["created_at"], row["updated_at"]
