"""The audit log and the metrics on the admin port (issue 15, items 5 and 6; beyond Kratos).

* ``GET /admin/audit/events``: the audit log, newest first. Filters ``identity_id``, ``event``,
  ``since`` and ``until`` (RFC 3339); keyset pagination with ``page_size`` (1-1000, default
  250) and ``page_token``, the next page named in the ``Link`` header as the other admin lists
  do. With ``Accept: application/x-ndjson`` or ``?format=jsonl`` every matching row is streamed
  as JSON lines (an export: no pagination).
* ``GET /admin/metrics/prometheus`` and ``GET /metrics/prometheus``: the Prometheus exposition.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get
from litestar.response import Stream

from .. import metrics
from ..errors import BadRequest
from ..persistence.audit import AuditFilter, AuditRow, count_courier_queue, list_audit_rows
from .responses import int_query_param, json_response

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["audit_admin_handlers", "metrics_handlers", "audit_rows", "NDJSON"]

NDJSON = "application/x-ndjson"
DEFAULT_PAGE_SIZE = 250
MAX_PAGE_SIZE = 1000
_EXPORT_CHUNK = 500


def _page_token(row: AuditRow) -> str:
    raw = msgspec.json.encode({"t": row.occurred_at.isoformat(), "k": str(row.id)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_page_token(token: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        data = msgspec.json.decode(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        at = dt.datetime.fromisoformat(data["t"])
        if at.tzinfo is None:
            raise ValueError("naive time")
        return at, uuid.UUID(data["k"])
    except (binascii.Error, ValueError, KeyError, TypeError, msgspec.DecodeError) as exc:
        raise BadRequest("The page_token is invalid; use the one from the Link header.") from exc


def _time(request: Request[Any, Any, Any], name: str) -> dt.datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f'The "{name}" parameter must be an RFC 3339 time (2026-01-31T12:00:00Z).') from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _filter(request: Request[Any, Any, Any]) -> AuditFilter:
    q = request.query_params
    identity_id = None
    if q.get("identity_id"):
        try:
            identity_id = uuid.UUID(q["identity_id"])
        except ValueError:
            raise BadRequest('The "identity_id" parameter must be a UUID.') from None
    event = q.get("event") or None
    if event is not None and len(event) > 200:
        raise BadRequest('The "event" parameter is too long.')
    return AuditFilter(identity_id=identity_id, event=event, since=_time(request, "since"), until=_time(request, "until"))


def _render(row: AuditRow) -> dict[str, Any]:
    return msgspec.to_builtins(row)


async def audit_rows(app: KratosApp, where: AuditFilter) -> AsyncIterator[AuditRow]:
    """Every row matching ``where``, newest first, read in keyset pages (exports)."""
    if app.audit is not None:
        await app.audit.flush()
    after: tuple[dt.datetime, uuid.UUID] | None = None
    while True:
        rows = await list_audit_rows(app.db, where, limit=_EXPORT_CHUNK, after=after)
        for row in rows:
            yield row
        if len(rows) < _EXPORT_CHUNK:
            return
        after = (rows[-1].occurred_at, rows[-1].id)


def _wants_lines(request: Request[Any, Any, Any]) -> bool:
    fmt = request.query_params.get("format")
    if fmt:
        if fmt not in ("json", "jsonl", "ndjson"):
            raise BadRequest('The "format" parameter must be json or jsonl.')
        return fmt != "json"
    return NDJSON in (request.headers.get("accept") or "")


def audit_admin_handlers() -> list[Any]:
    """The audit log's admin routes (created per app)."""

    @get("/admin/audit/events", summary="List or export audit events", tags=["audit"])
    async def list_audit_events(request: Request[Any, Any, Any]) -> Response[Any]:
        app: KratosApp = request.app.state["kratos"]
        where = _filter(request)
        if _wants_lines(request):

            async def lines() -> AsyncIterator[bytes]:
                async for row in audit_rows(app, where):
                    yield msgspec.json.encode(_render(row)) + b"\n"

            return Stream(lines(), media_type=NDJSON)
        size = int_query_param(request, "page_size", DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)
        token = request.query_params.get("page_token")
        after = _parse_page_token(token) if token else None
        if app.audit is not None:
            await app.audit.flush()
        rows = await list_audit_rows(app.db, where, limit=size + 1, after=after)
        filters = {k: v for k, v in request.query_params.items() if k in ("identity_id", "event", "since", "until") and v}
        links = [_link(app, {**filters, "page_size": size}, "first")]
        if len(rows) > size:
            rows = rows[:size]
            links.append(_link(app, {**filters, "page_size": size, "page_token": _page_token(rows[-1])}, "next"))
        return json_response([_render(r) for r in rows], headers={"Link": ",".join(links)})

    return [list_audit_events]


def _link(app: KratosApp, params: dict[str, Any], rel: str) -> str:
    url = f"{app.admin_base_url.rstrip('/')}/admin/audit/events?{urlencode(params)}"
    return f'<{url}>; rel="{rel}"'


def metrics_handlers() -> list[Any]:
    """The Prometheus exposition (admin port)."""

    @get(["/admin/metrics/prometheus", "/metrics/prometheus"], summary="Prometheus metrics", tags=["metadata"])
    async def prometheus(request: Request[Any, Any, Any]) -> Response[bytes]:
        app: KratosApp = request.app.state["kratos"]
        try:
            metrics.COURIER_QUEUE.set(await count_courier_queue(app.db))
        except Exception:  # noqa: BLE001 - the other metrics still matter when the database is down
            pass
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    return [prometheus]
