"""Persistence of flows (``selfservice_flows``) and of browser errors (``selfservice_errors``).

Every function takes a :class:`~kratos_core.persistence.db.Connection`, so the caller decides
what is atomic. Expired flows are kept (Kratos leaves them to a cleanup job, pitfall 6): a late
submit must still find the flow to answer "expired" with a replacement.

Exactly-once completion (issue 15, finding 3): a flow is *finished* once it is completed
(``internal_context.completed_at``: login, registration) or has passed its challenge (recovery,
verification). Writes are conditional on the stored row not being finished yet:

* :func:`complete_flow` writes the finishing change and answers whether this submit won; of
  several parallel submits exactly one does (the row lock of the ``UPDATE`` serialises them
  on PostgreSQL, the single connection on SQLite). The loser must write nothing and answer as
  for a replayed flow;
* :func:`update_flow` of an unfinished flow never overwrites a finished row, so a slower
  parallel submit that re-renders its stale copy cannot re-open a flow another one completed;
* :func:`claim_submit` is the optimistic variant for settings flows, which stay usable after a
  success: of parallel submits made on the same version of the flow only one goes on.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

from ..flows.model import Flow
from ..identity.model import utcnow
from ..ui.container import Container
from .db import Connection

__all__ = [
    "insert_flow",
    "update_flow",
    "complete_flow",
    "reopen_flow",
    "undo_on_error",
    "claim_submit",
    "get_flow",
    "insert_error",
    "get_error",
]

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


_UPDATE = (
    "UPDATE selfservice_flows SET state = $2, identity_id = $3, session_id = $4, csrf_token = $5, "
    "active = $6, ui = $7, data = $8, internal_context = $9, submit_count = $10, updated_at = $11 "
    "WHERE id = $1"
)
# The stored row is not finished: neither past its challenge nor completed.
_UNFINISHED = {
    "postgres": " AND state <> 'passed_challenge' AND (internal_context ->> 'completed_at') IS NULL",
    "sqlite": " AND state <> 'passed_challenge' AND json_extract(internal_context, '$.completed_at') IS NULL",
}


def is_finished(flow: Flow) -> bool:
    """Whether ``flow`` is completed or past its challenge (nothing may complete it again)."""
    return flow.completed or flow.state == "passed_challenge"


async def _write(conn: Connection, flow: Flow, *, guarded: bool) -> bool:
    flow.updated_at = utcnow()
    sql = _UPDATE + _UNFINISHED[conn.dialect] if guarded else _UPDATE
    changed = await conn.execute(
        sql,
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
    return changed == 1


async def update_flow(conn: Connection, flow: Flow) -> None:
    """Write back everything that may change after creation (``updated_at`` is set now).

    An unfinished flow is written only over an unfinished row: a stale copy never re-opens a
    flow that a parallel submit finished meanwhile (that write is then silently dropped).
    """
    await _write(conn, flow, guarded=not is_finished(flow))


async def complete_flow(conn: Connection, flow: Flow) -> bool:
    """Write the change that finishes ``flow``, unless the stored row is finished already.

    Call it with ``flow`` marked completed (or moved to ``passed_challenge``), as the first
    write of the transaction that stores what the flow produces (identity, session, verified
    address), and roll that transaction back when it answers False: another submit won.
    """
    return await _write(conn, flow, guarded=True)


@contextlib.contextmanager
def undo_on_error(flow: Flow) -> Iterator[None]:
    """Put ``flow`` back as it was when the block raises: a completion whose transaction was
    rolled back must not be written later by an error answer as if it had happened."""
    saved = copy.deepcopy(vars(flow))
    try:
        yield
    except BaseException:
        vars(flow).update(saved)
        raise


async def reopen_flow(conn: Connection, flow: Flow) -> None:
    """Write ``flow`` back unconditionally: the submit that completed it failed afterwards (a
    hook refused), so the flow is usable again, as if it had never been completed."""
    await _write(conn, flow, guarded=False)


async def claim_submit(conn: Connection, flow: Flow) -> bool:
    """Take this submit's turn on ``flow`` (whose ``submit_count`` the engine already raised).

    True when the stored count is still the one this submit loaded; a parallel submit of the
    same version that claimed first makes it False.
    """
    flow.updated_at = utcnow()
    changed = await conn.execute(
        "UPDATE selfservice_flows SET submit_count = $2, updated_at = $3 WHERE id = $1 AND submit_count = $4",
        flow.id,
        flow.submit_count,
        flow.updated_at,
        flow.submit_count - 1,
    )
    return changed == 1


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
