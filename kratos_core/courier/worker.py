"""Delivering messages: one attempt per claim, retries with back-off, and the database poller.

Statuses (kratos-behaviour.md section 8.3): ``queued -> processing -> sent``; after a failed
attempt back to ``queued`` (not before ``next_attempt_at``), and ``abandoned`` once
``send_count > courier.message_retries``. Every attempt is a dispatch row, ``success`` or
``failed`` with the error. Delivery is at-least-once: a claim is a lease (``updated_at`` of a ``processing``
message) that the delivering worker renews every ``processing_timeout / 4`` while it sends; a
worker that dies mid-send stops renewing, and once its lease is older than
``processing_timeout`` (default 10 s) the poller counts the attempt as failed and sends the
message again, seconds later rather than minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import metrics
from ..events import CourierMessageAbandoned, CourierMessageSent
from . import store
from .channels import channel_id_for, raise_missing
from .model import DeliveryError, Dispatch, Message, utcnow

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["Outcome", "Deliverer", "Poller", "backoff", "DEFAULT_PROCESSING_TIMEOUT"]

log = logging.getLogger("kratos.courier")

#: Our guard around a channel's own timeout (Kratos: 10 s), so a hung plugin cannot hold a
#: message in ``processing`` until crash recovery.
SEND_GUARD_SECONDS = 30.0

#: How long a claim (lease) on a ``processing`` message lasts without renewal: after that, the
#: poller takes the message as lost with a dead worker (``KRATOS_COURIER_PROCESSING_TIMEOUT``).
DEFAULT_PROCESSING_TIMEOUT = dt.timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery did: the message's new status and, when ``queued``, when to retry."""

    message_id: uuid.UUID
    status: str
    retry_in: float | None = None


def backoff(attempts: int, base: dt.timedelta, cap: dt.timedelta) -> dt.timedelta:
    """Exponential back-off after ``attempts`` failed attempts: base, 2*base, 4*base ... cap."""
    return min(base * (2 ** max(attempts - 1, 0)), cap)


class Deliverer:
    """Claims and delivers messages of one app.

    Args:
        app: The started app (database, plugins, config).
        retry_backoff: Wait after the first failed attempt; doubled after each further one.
        max_backoff: The longest wait between attempts.
        processing_timeout: The lease of a claim; renewed every quarter of it while sending.
    """

    def __init__(
        self,
        app: KratosApp,
        *,
        retry_backoff: dt.timedelta,
        max_backoff: dt.timedelta,
        processing_timeout: dt.timedelta = DEFAULT_PROCESSING_TIMEOUT,
    ) -> None:
        self.app = app
        self.retry_backoff = retry_backoff
        self.max_backoff = max_backoff
        self.renew_every = max(processing_timeout.total_seconds() / 4, 0.05)
        self._configured: set[str] = set()

    def configure_channels(self) -> None:
        """Hand every registered channel the config (raises what a channel refuses)."""
        for channel_id, channel in self.app.plugins.channels.items.items():
            self._configure(channel_id, channel)

    def _configure(self, channel_id: str, channel: Any) -> None:
        if channel_id in self._configured:
            return
        configure = getattr(channel, "configure", None)
        if callable(configure):
            if getattr(channel, "config_model", None) is not None:
                # Its validated courier.channels[].config, as methods get theirs.
                section = self.app.plugins.channel_configs.get(channel_id) or channel.config_model()
                configure(section, self.app.config)
            else:
                configure(self.app.config)
        self._configured.add(channel_id)

    @property
    def retries(self) -> int:
        return self.app.config.courier.message_retries

    async def deliver(self, message_id: uuid.UUID) -> Outcome | None:
        """Make one attempt at ``message_id`` if it is due and nobody else has claimed it.

        Returns:
            What happened, or None when the message was not claimable (unknown, taken,
            finished or in back-off).
        """
        message = await store.claim_message(self.app.db, message_id, utcnow())
        if message is None:
            return None
        if message.send_count > self.retries:
            # Kratos abandons over-tried messages without another attempt (e.g. after the
            # retry setting was lowered).
            return await self._finish(message, None, abandon=True)
        renewer = asyncio.create_task(self._renew(message.id))
        try:
            error = await self._attempt(message)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        return await self._finish(message, error)

    async def _renew(self, message_id: uuid.UUID) -> None:
        """Keep the claim alive while this worker is sending (until cancelled)."""
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                if not await store.renew_lease(self.app.db, message_id, utcnow()):
                    return  # recovered by a poller meanwhile: at-least-once, nothing to guard
            except Exception as exc:  # noqa: BLE001 - the database is away: try again later
                log.warning("courier: renewing the claim on message %s failed: %s", message_id, exc)

    async def _attempt(self, message: Message) -> DeliveryError | None:
        try:
            # Fail closed: a veto (any exception) makes this a failed attempt.
            await self.app.plugins.hooks.courier_before_send(message=message)
        except DeliveryError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - recorded as the attempt's error
            return DeliveryError(f"vetoed by kratos_courier_before_send: {exc}", details={"hook": "kratos_courier_before_send"})
        channel_id = channel_id_for(message.channel, self.app.config)
        channel = self.app.plugins.channels.get(channel_id)
        try:
            if channel is None:
                raise_missing(channel_id)
            self._configure(channel_id, channel)
            await asyncio.wait_for(channel.send(message), SEND_GUARD_SECONDS)
        except DeliveryError as exc:
            return exc
        except TimeoutError:
            return DeliveryError(f'channel "{channel_id}" did not finish within {SEND_GUARD_SECONDS:.0f} s')
        except Exception as exc:  # noqa: BLE001 - a plugin bug is a failed attempt, not a crash
            log.exception("courier: channel %r failed on message %s", channel_id, message.id)
            return DeliveryError(f"{type(exc).__name__}: {exc}", details={"channel": channel_id})
        return None

    async def _finish(self, message: Message, error: DeliveryError | None, *, abandon: bool = False) -> Outcome:
        now = utcnow()
        if abandon:
            await self._abandon(message, now)
            await self.app.plugins.hooks.event(payload=_abandoned(message, message.send_count, None))
            return Outcome(message.id, "abandoned")
        dispatch = Dispatch(
            id=uuid.uuid4(),
            message_id=message.id,
            status="success" if error is None else "failed",
            error=None if error is None else error.to_json(),
            created_at=now,
            updated_at=now,
        )
        status, retry_in, next_at = self._next_state(message, error, now)
        await store.record_attempt(self.app.db, message, dispatch, status=status, next_attempt_at=next_at)
        if error is not None:
            log.warning("courier: message %s attempt %d failed: %s", message.id, message.send_count + 1, error.reason)
            metrics.courier_failure(message.channel)  # abandonment is counted from its event
        hooks = self.app.plugins.hooks
        await hooks.courier_after_send(message=message, dispatch=dispatch)
        attempts = message.send_count + 1
        if status == "sent":
            await hooks.event(payload=_sent(message, attempts))
        elif status == "abandoned":
            await hooks.event(payload=_abandoned(message, attempts, error))
        return Outcome(message.id, status, retry_in)

    def _next_state(
        self, message: Message, error: DeliveryError | None, now: dt.datetime
    ) -> tuple[str, float | None, dt.datetime | None]:
        if error is None:
            return "sent", None, None
        attempts = message.send_count + 1
        if error.permanent or attempts > self.retries:
            return "abandoned", None, None
        wait = backoff(attempts, self.retry_backoff, self.max_backoff)
        return "queued", wait.total_seconds(), now + wait

    async def _abandon(self, message: Message, now: dt.datetime) -> None:
        await self.app.db.execute(
            "UPDATE courier_messages SET status = 'abandoned', updated_at = $2 WHERE id = $1",
            message.id,
            now,
        )

    async def recover(self, message_id: uuid.UUID, processing_before: dt.datetime) -> Outcome | None:
        """Count a message stuck in ``processing`` as a failed attempt (its worker died).

        The attempt may have reached the recipient before the crash, so retrying can send it
        twice: at-least-once, as Kratos's courier.
        """
        message = await store.get_message(self.app.db, message_id)
        if message is None:
            return None
        now = utcnow()
        error = DeliveryError(
            "the worker stopped while delivering this message; it is sent again",
            details={"processing_since": message.updated_at.isoformat()},
        )
        status, retry_in, next_at = self._next_state(message, error, now)
        dispatch = Dispatch(id=uuid.uuid4(), message_id=message.id, status="failed", error=error.to_json(), created_at=now, updated_at=now)
        stored = await store.record_attempt(
            self.app.db, message, dispatch, status=status, next_attempt_at=next_at, only_if_processing_before=processing_before
        )
        if not stored:
            return None  # another poller recovered it, or its worker finished after all
        log.warning("courier: message %s was stuck in processing; now %s", message.id, status)
        return Outcome(message.id, status, retry_in)


class Poller:
    """Finds work in the database: due ``queued`` messages and stuck ``processing`` ones.

    It backs up the queue: messages written while the broker was down, by another process, or
    whose hand-off was lost, and retries that are due.

    Args:
        deliverer: Makes the attempts.
        interval: Sleep between polls (``courier.worker.pull_wait``).
        batch: Messages per poll (``courier.worker.pull_count``).
        processing_timeout: After this long in ``processing`` a message counts as stuck.
        grace: Leave messages younger than this to the queue (a broker delivers them sooner;
            zero for the in-process queue).
    """

    def __init__(
        self,
        deliverer: Deliverer,
        *,
        interval: dt.timedelta,
        batch: int,
        processing_timeout: dt.timedelta,
        grace: dt.timedelta = dt.timedelta(0),
    ) -> None:
        self.deliverer = deliverer
        self.interval = interval
        self.batch = max(batch, 1)
        self.processing_timeout = processing_timeout
        self.grace = grace

    async def poll_once(self) -> list[Outcome]:
        """One round: recover stuck messages, then attempt up to ``batch`` due ones."""
        db = self.deliverer.app.db
        now = utcnow()
        outcomes: list[Any] = []
        cutoff = now - self.processing_timeout
        for message_id in await store.stuck_message_ids(db, processing_before=cutoff, limit=self.batch):
            outcomes.append(await self.deliverer.recover(message_id, cutoff))
        for message_id in await store.due_message_ids(db, due_before=now - self.grace, limit=self.batch):
            outcomes.append(await self.deliverer.deliver(message_id))
        return [o for o in outcomes if o is not None]

    async def run(self) -> None:
        """Poll until cancelled; a failing poll (database down) is logged and retried."""
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep polling: the database may come back
                log.exception("courier: polling the database failed")
            await asyncio.sleep(self.interval.total_seconds())


def _sent(message: Message, attempts: int) -> CourierMessageSent:
    return CourierMessageSent(
        message_id=message.id, channel=message.channel, template_type=message.template_type, attempts=attempts
    )


def _abandoned(message: Message, attempts: int, error: DeliveryError | None) -> CourierMessageAbandoned:
    # The reason names the failure kind only: a channel's error text may quote the message.
    reason = "retries_exhausted" if error is None or not error.permanent else "permanent_failure"
    return CourierMessageAbandoned(
        message_id=message.id, channel=message.channel, template_type=message.template_type, attempts=attempts, reason=reason
    )
