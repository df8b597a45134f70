"""The audit log (issue 15, item 5; beyond Kratos OSS): a built-in ``kratos_event`` observer.

Every event of the catalogue (:mod:`kratos_core.events`) becomes a row of ``audit_events``:
who (identity id, session id), what (event name and payload, which never holds a secret),
when, from where (the client address as ``security.trusted_proxies`` decides, through the
throttle's :class:`~kratos_core.security.client.ClientAddressResolver`), the user agent and the
outcome. ``security.audit`` configures it (on by default); it is listed by
``GET /admin/audit/events`` and exported by ``kratos audit export``.

Why buffered rather than in the change's own transaction: events are emitted after what they
report is committed, by code spread over every flow and plugin; writing the row there would add
a database round trip (and, on SQLite, a write-lock hold) to every login. The observer only
appends to a bounded in-memory queue (a few microseconds, on the event loop); a background task
stores the queue in one batch every ``flush_interval`` (500 ms) or as soon as 256 rows wait, and
on shutdown. The price: a crash loses at most the last interval's rows, and a queue that
overflows (the database down for long) drops its oldest rows, counted in
``kratos_audit_dropped_total`` and logged. Rows older than ``retention`` are deleted at start
and hourly.

Blocking the plugin ``kratos_core.builtin.audit`` (``plugins.blocked``) or
``security.audit.enabled: false`` switches it off.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from .. import hookimpl, metrics
from ..events import Event
from ..web.observability import current_request_scope
from ..persistence.audit import AuditRow, delete_audit_rows_before, insert_audit_rows

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["AuditLog", "PLUGIN_NAME", "FAILURE_EVENTS", "outcome_of"]

log = logging.getLogger("kratos.audit")

#: The name the observer is registered (and blocked) under.
PLUGIN_NAME = "kratos_core.builtin.audit"

#: Events that report a refusal or a failure; every other event reports a success.
FAILURE_EVENTS = frozenset({"login.failed", "courier.message.abandoned"})

_BATCH = 256
_CLEANUP_EVERY = 3600.0
_USER_AGENT_MAX = 512


def outcome_of(payload: Event) -> str:
    """``failure`` for refusals and failures, ``success`` otherwise."""
    return "failure" if payload.name in FAILURE_EVENTS else "success"


def _uuid7() -> uuid.UUID:
    # Time-ordered ids: rows inserted in one millisecond still sort in insertion order mostly,
    # and the primary key index stays append-only.
    millis = time.time_ns() // 1_000_000
    value = (millis << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62) | secrets.randbits(62)
    return uuid.UUID(int=value)


class AuditLog:
    """The audit writer of one app: a bounded queue and the task that stores it.

    Args:
        app: The started app (its database, config and client-address resolver).
    """

    def __init__(self, app: KratosApp) -> None:
        self._app = app
        self.config = app.config.security.audit
        self._queue: collections.deque[AuditRow] = collections.deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._resolver = app.throttle.client_address

    # -- the observer ------------------------------------------------------------------------

    @hookimpl
    def kratos_event(self, event: str, data: dict[str, Any], payload: Event) -> None:
        """Queue the event's row (synchronous and cheap: no database work here)."""
        address = agent = None
        scope = current_request_scope()
        if scope is not None:
            address, agent = self._client(scope)
        identity_id = getattr(payload, "identity_id", None)
        row = AuditRow(
            id=_uuid7(),
            occurred_at=dt.datetime.now(dt.UTC),
            event=event,
            outcome=outcome_of(payload),
            identity_id=identity_id if isinstance(identity_id, uuid.UUID) else None,
            session_id=getattr(payload, "session_id", None),
            client_address=address,
            user_agent=agent,
            payload=data,
        )
        if len(self._queue) >= self.config.queue_size:
            self._queue.popleft()
            metrics.AUDIT_DROPPED.inc()
            log.warning("the audit queue is full (%d events): dropped the oldest", self.config.queue_size)
        self._queue.append(row)
        if len(self._queue) >= _BATCH:
            self._wake.set()

    def _client(self, scope: dict[str, Any]) -> tuple[str | None, str | None]:
        from litestar import Request

        request: Request[Any, Any, Any] = Request(scope)
        try:
            address = self._resolver(request)
        except Exception:  # noqa: BLE001 - an odd transport must not lose the event
            address = None
        agent = request.headers.get("user-agent")
        return address, agent[:_USER_AGENT_MAX] if agent else None

    # -- the writer --------------------------------------------------------------------------

    async def start(self) -> None:
        """Delete expired rows and start the background writer."""
        await self.cleanup()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kratos-audit-writer")

    async def stop(self) -> None:
        """Stop the writer and store what is still queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        """Store every queued row now (the admin list calls this, so it sees its own events)."""
        async with self._lock:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(_BATCH * 4, len(self._queue)))]
                try:
                    async with self._app.db.transaction() as tx:
                        await insert_audit_rows(tx, batch)
                except Exception:  # noqa: BLE001 - the database is down: keep the rows for later
                    log.warning("storing %d audit events failed; will retry", len(batch), exc_info=True)
                    room = self.config.queue_size - len(self._queue)
                    if room < len(batch):
                        metrics.AUDIT_DROPPED.inc(len(batch) - max(room, 0))
                    self._queue.extendleft(reversed(batch[: max(room, 0)]))
                    return

    async def cleanup(self) -> int:
        """Delete rows older than ``retention``; returns how many."""
        cutoff = dt.datetime.now(dt.UTC) - self.config.retention
        try:
            deleted = await delete_audit_rows_before(self._app.db, cutoff)
        except Exception:  # noqa: BLE001 - retried at the next cleanup
            log.warning("deleting expired audit events failed", exc_info=True)
            return 0
        if deleted:
            log.info("deleted %d audit events older than %s", deleted, cutoff.isoformat())
        return deleted

    async def _run(self) -> None:
        interval = max(self.config.flush_interval.total_seconds(), 0.01)
        next_cleanup = time.monotonic() + _CLEANUP_EVERY
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            await self.flush()
            if time.monotonic() >= next_cleanup:
                next_cleanup = time.monotonic() + _CLEANUP_EVERY
                await self.cleanup()
