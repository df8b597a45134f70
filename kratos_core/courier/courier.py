"""The courier of one app: queue messages in a flow's transaction, deliver them in a worker.

Queueing renders the template and stores the message as ``queued`` in the caller's connection,
so it commits (or rolls back) with the flow change that causes it; once the row is committed,
its id is handed to the queue. Delivery runs in a worker: the in-process one of
``kratos serve --watch-courier`` or ``kratos courier watch``.

The broker is chosen by the environment, since Kratos's config has no key for it:
``KRATOS_COURIER_BROKER_URL=redis://host:6379/0`` hands ids to Dramatiq on Redis; without it the
in-process queue is used. Either way a poller reads the database every
``courier.worker.pull_wait``, so nothing queued is lost when the broker is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from ..config import ConfigError
from ..config.durations import parse_duration
from ..config.frozen import thaw
from . import store
from .channels import CHANNEL_PACKAGES, channel_id_for
from .model import Message, utcnow
from .queue import DramatiqQueue, LocalQueue, MessageQueue, redis_broker
from .templates import TemplateRenderError, Templates
from .worker import Deliverer, Outcome, Poller

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp
    from ..persistence.db import Connection

__all__ = ["Courier", "CourierOptions", "courier_for", "TemplateRenderError"]

log = logging.getLogger("kratos.courier")

#: Fields each template type cannot do without (section 8.2); ``to`` defaults to the recipient.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "recovery_valid": ("recovery_url",),
    "recovery_code_valid": ("recovery_code",),
    "verification_valid": ("verification_url",),
    "verification_code_valid": ("verification_code",),
    "login_code_valid": ("login_code",),
    "registration_code_valid": ("registration_code",),
    "stub": ("subject", "body"),
}

#: How long to wait for the transaction that queued a message to commit before leaving the
#: hand-off to the poller (a rolled-back message never appears).
_COMMIT_WAIT_SECONDS = 5.0

#: How long :meth:`Courier.stop` lets pending hand-offs finish.
_STOP_WAIT_SECONDS = 1.0


class CourierOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Worker settings that Kratos's config has no keys for (read from the environment).

    Attributes:
        broker_url: ``KRATOS_COURIER_BROKER_URL``: a ``redis://`` URL for Dramatiq, or None for
            the in-process queue.
        broker_namespace: ``KRATOS_COURIER_BROKER_NAMESPACE``: prefix of the Redis keys.
        retry_backoff: ``KRATOS_COURIER_RETRY_BACKOFF`` (Go duration, default ``1s``): the wait
            after the first failed attempt, doubled after each further one.
        max_backoff: ``KRATOS_COURIER_RETRY_BACKOFF_MAX`` (default ``10m``).
        processing_timeout: ``KRATOS_COURIER_PROCESSING_TIMEOUT`` (default ``10s``): the lease of
            a claim; the delivering worker renews it every quarter of this while it sends, so a
            message whose lease is older is taken as lost by a crashed worker and sent again.
        broker_grace: Messages younger than this are left to the broker by the poller.
        concurrency: In-process consumers (and Dramatiq threads) delivering at once.
    """

    broker_url: str | None = None
    broker_namespace: str = "kratos"
    retry_backoff: dt.timedelta = dt.timedelta(seconds=1)
    max_backoff: dt.timedelta = dt.timedelta(minutes=10)
    processing_timeout: dt.timedelta = dt.timedelta(seconds=10)
    broker_grace: dt.timedelta = dt.timedelta(seconds=10)
    concurrency: int = 4

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CourierOptions:
        """Read the ``KRATOS_COURIER_*`` variables (``os.environ`` by default).

        Raises:
            ConfigError: A variable holds an invalid value.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        url = env.get("KRATOS_COURIER_BROKER_URL", "").strip()
        if url:
            if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
                raise ConfigError("", "must be a redis:// URL", source="environment variable KRATOS_COURIER_BROKER_URL")
            values["broker_url"] = url
        if env.get("KRATOS_COURIER_BROKER_NAMESPACE"):
            values["broker_namespace"] = env["KRATOS_COURIER_BROKER_NAMESPACE"]
        for field, name in (
            ("retry_backoff", "KRATOS_COURIER_RETRY_BACKOFF"),
            ("max_backoff", "KRATOS_COURIER_RETRY_BACKOFF_MAX"),
            ("processing_timeout", "KRATOS_COURIER_PROCESSING_TIMEOUT"),
        ):
            if env.get(name):
                try:
                    values[field] = parse_duration(env[name])
                except ValueError as exc:
                    raise ConfigError("", str(exc), source=f"environment variable {name}") from exc
        return cls(**values)


class Courier:
    """Queues and delivers the messages of one app.

    Args:
        app: The app (started before :meth:`queue` or :meth:`start_worker` is used).
        options: Worker settings; read from the environment when omitted.
        broker: A Dramatiq broker to use instead of the one ``options.broker_url`` names (tests
            pass Dramatiq's ``StubBroker``).
    """

    def __init__(self, app: KratosApp, *, options: CourierOptions | None = None, broker: Any = None) -> None:
        self.app = app
        self.options = options or CourierOptions.from_env()
        self._templates: Templates | None = None
        self._broker = broker
        self._queue: MessageQueue | None = None
        self._handoffs: set[asyncio.Task[None]] = set()
        self._poller_task: asyncio.Task[None] | None = None
        self.deliverer = Deliverer(
            app,
            retry_backoff=self.options.retry_backoff,
            max_backoff=self.options.max_backoff,
            processing_timeout=self.options.processing_timeout,
        )

    # -- start-up ---------------------------------------------------------------------------------

    @property
    def templates(self) -> Templates:
        if self._templates is None:
            self._templates = Templates(self.app.config)
        return self._templates

    @property
    def uses_broker(self) -> bool:
        return self._broker is not None or self.options.broker_url is not None

    @property
    def queue_backend(self) -> MessageQueue:
        """The hand-off queue: Dramatiq when a broker is configured, else in-process."""
        if self._queue is None:
            if self.uses_broker:
                broker = self._broker or redis_broker(self.options.broker_url or "", namespace=self.options.broker_namespace)
                self._queue = DramatiqQueue(broker, worker_threads=self.options.concurrency)
            else:
                self._queue = LocalQueue(self.options.concurrency)
        return self._queue

    def validate(self) -> None:
        """Fail at start-up, not at send time: templates render, selected channels exist.

        Raises:
            ConfigError: A template override does not render, ``courier.templates`` is
                malformed, the delivery strategy names a channel no plugin provides, or a
                channel refuses its settings.
        """
        self.templates.validate()
        config = self.app.config
        channels = self.app.plugins.channels
        wanted = channel_id_for("email", config)
        if config.courier.delivery_strategy == "http" and channels.get(wanted) is None:
            raise ConfigError(
                "courier.delivery_strategy",
                f'"http" needs the "{wanted}" courier channel: install the "{CHANNEL_PACKAGES[wanted]}" package',
            )
        self.deliverer.configure_channels()

    # -- queueing ---------------------------------------------------------------------------------

    async def queue(
        self,
        conn: Connection,
        *,
        recipient: str,
        template_type: str,
        template_data: Mapping[str, Any],
        channel: str = "email",
    ) -> uuid.UUID:
        """Render and store a message as ``queued``; hand it to the queue once committed.

        Args:
            conn: Where to write: the flow's open transaction (the message commits or rolls
                back with it) or the database itself.
            recipient: An email address (``email``) or a phone number (SMS channels).
            template_type: One of :data:`~kratos_core.courier.model.TEMPLATE_TYPES`.
            template_data: The template's data (section 8.2 field names); ``to`` defaults to
                ``recipient``.
            channel: ``email``, ``sms`` or another ``courier.channels`` id.

        Returns:
            The new message's id.

        Raises:
            ValueError: Unknown template type, no template for the channel, required data
                missing.
            TemplateRenderError: The template failed on this data.
        """
        if not self.templates.has(template_type, channel):
            raise ValueError(f'there is no "{template_type}" template for the {channel} channel')
        data = _prepare_data(template_type, channel, recipient, template_data, self.app.public_base_url)
        rendered = self.templates.render(template_type, channel, data)
        now = utcnow()
        message = Message(
            id=uuid.uuid4(),
            type="email" if channel == "email" else "sms",
            channel=channel,
            status="queued",
            recipient=recipient,
            subject=rendered.subject,
            body=rendered.body,
            html_body=rendered.html_body,
            template_type=template_type,
            template_data=data,
            send_count=0,
            created_at=now,
            updated_at=now,
        )
        await store.insert_message(conn, message)
        self._hand_off_after_commit(conn, message.id)
        return message.id

    def _hand_off_after_commit(self, conn: Connection, message_id: uuid.UUID) -> None:
        if self._queue is None and not self.uses_broker:
            return  # no consumer in this process and no broker: the poller will find it
        task = asyncio.create_task(self._hand_off(message_id, committed=conn is self.app.db))
        self._handoffs.add(task)
        task.add_done_callback(self._handoffs.discard)

    async def _hand_off(self, message_id: uuid.UUID, *, committed: bool) -> None:
        # The caller's transaction is still open when queue() returns: wait until the row is
        # visible (on SQLite the read waits for the transaction's lock), so a worker never
        # looks for an uncommitted message, and a rolled-back one is never handed off.
        if not committed and not await self._wait_visible(message_id):
            return
        await self.queue_backend.enqueue(message_id)

    async def _wait_visible(self, message_id: uuid.UUID) -> bool:
        delay, waited = 0.005, 0.0
        while True:
            try:
                if await store.message_exists(self.app.db, message_id):
                    return True
            except Exception:  # noqa: BLE001 - database trouble: the poller covers it
                return False
            if waited >= _COMMIT_WAIT_SECONDS:
                return False
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.5)

    # -- delivering -------------------------------------------------------------------------------

    async def deliver(self, message_id: uuid.UUID) -> Outcome | None:
        """Make one attempt at a message now (if it is due and unclaimed); schedule its retry."""
        outcome = await self.deliverer.deliver(message_id)
        await self._schedule_retry(outcome)
        return outcome

    async def _schedule_retry(self, outcome: Outcome | None) -> None:
        if outcome is not None and outcome.retry_in is not None and self._queue is not None:
            await self._queue.enqueue(outcome.message_id, delay=outcome.retry_in)

    async def drain(self, *, include_retries: bool = False, limit: int = 1000) -> list[Outcome]:
        """Deliver every due ``queued`` message now, in this task (tests, one-shot runs).

        Args:
            include_retries: Do not wait for back-off: retry failed messages until each is sent or
                abandoned.
            limit: At most this many attempts.
        """
        outcomes: list[Outcome] = []
        while len(outcomes) < limit:
            if include_retries:
                await self.app.db.execute("UPDATE courier_messages SET next_attempt_at = NULL WHERE status = 'queued'")
            ids = await store.due_message_ids(self.app.db, due_before=utcnow(), limit=min(100, limit - len(outcomes)))
            attempts = [o for o in [await self.deliverer.deliver(i) for i in ids] if o is not None]
            if not attempts:
                return outcomes
            outcomes.extend(attempts)
        return outcomes

    def poller(self) -> Poller:
        worker = self.app.config.courier.worker
        return Poller(
            self.deliverer,
            interval=worker.pull_wait,
            batch=worker.pull_count,
            processing_timeout=self.options.processing_timeout,
            grace=self.options.broker_grace if self.uses_broker else dt.timedelta(0),
        )

    async def start_worker(self) -> None:
        """Deliver in this process: consume the queue and poll the database, until :meth:`stop`."""
        if self._poller_task is not None:
            return
        self.validate()
        await self.queue_backend.start(self.deliver)
        self._poller_task = asyncio.create_task(self._poll())
        mode = "Dramatiq broker" if self.uses_broker else "in-process queue"
        log.info("courier worker started (%s, polling every %s)", mode, self.app.config.courier.worker.pull_wait)

    async def _poll(self) -> None:
        poller = self.poller()
        while True:
            try:
                for outcome in await poller.poll_once():
                    await self._schedule_retry(outcome)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep polling: the database may come back
                log.exception("courier: polling the database failed")
            await asyncio.sleep(poller.interval.total_seconds())

    async def stop(self) -> None:
        """Stop the worker and pending hand-offs (queued messages stay in the database)."""
        task, self._poller_task = self._poller_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._handoffs:
            # Let hand-offs in flight finish briefly (they are quick once the row is committed);
            # whatever is cut off stays queued in the database for the poller.
            _, pending = await asyncio.wait(set(self._handoffs), timeout=_STOP_WAIT_SECONDS)
            for handoff in pending:
                handoff.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._queue is not None:
            await self._queue.stop()


def courier_for(app: KratosApp) -> Courier:
    """The app's one courier (stored where a ``KratosApp.courier`` cached property keeps it)."""
    courier = app.__dict__.get("courier")
    if courier is None:
        courier = Courier(app)
        app.__dict__["courier"] = courier
    return courier


def _prepare_data(
    template_type: str, channel: str, recipient: str, template_data: Mapping[str, Any], public_base_url: str
) -> dict[str, Any]:
    data: dict[str, Any] = dict(thaw(template_data))
    data.setdefault("to", recipient)
    identity = data.get("identity")
    if isinstance(identity, dict):
        # Pitfall 17: credentials and admin metadata never reach templates (or the stored data).
        data["identity"] = {k: v for k, v in identity.items() if k not in ("credentials", "metadata_admin")}
    if channel != "email":
        # The WebOTP line names the domain that asked for the code.
        source = data.get("request_url") or public_base_url
        data.setdefault("request_url_domain", urlsplit(str(source)).hostname or "")
        if template_type == "recovery_code_valid" and "recovery_code" not in data and "verification_code" in data:
            data["recovery_code"] = data["verification_code"]  # Kratos's SMS model uses this name
    missing = [f for f in _REQUIRED.get(template_type, ()) if data.get(f) in (None, "")]
    if missing:
        raise ValueError(f'template "{template_type}" needs {", ".join(missing)} in template_data')
    return data
