"""How message ids travel from the request that queues them to the code that delivers them.

The database is the source of truth (a message is ``queued`` there before any hand-off); a
queue only makes delivery prompt. Two kinds:

* :class:`LocalQueue`: an ``asyncio.Queue`` drained by tasks in this process (the embedded
  default: ``kratos serve --watch-courier`` sends mail with nothing else running);
* :class:`DramatiqQueue`: a Dramatiq actor on a broker (Redis in production, the stub broker in
  tests); ``kratos courier watch`` processes (and ``--watch-courier`` servers) consume it.

A lost hand-off (process crash, Redis down) loses nothing: the poller finds the message
``queued`` in the database. A duplicate hand-off sends nothing twice: delivery starts with an
atomic claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["MessageQueue", "LocalQueue", "DramatiqQueue", "redis_broker", "ACTOR_NAME", "QUEUE_NAME"]

log = logging.getLogger("kratos.courier")

Deliver = Callable[[uuid.UUID], Awaitable[Any]]

#: The Dramatiq actor and queue names (stable: other processes send to them by name).
ACTOR_NAME = "kratos_courier_deliver"
QUEUE_NAME = "kratos_courier"


class MessageQueue(Protocol):
    """What the courier hands message ids to."""

    async def enqueue(self, message_id: uuid.UUID, delay: float = 0.0) -> None:
        """Hand off ``message_id`` for delivery in ``delay`` seconds; never raises."""
        ...

    async def start(self, deliver: Deliver) -> None:
        """Start consuming in this process: ``deliver`` is called once per hand-off."""
        ...

    async def stop(self) -> None:
        """Stop consuming; in-flight deliveries finish first."""
        ...


class LocalQueue:
    """An in-process queue: hand-offs reach consumer tasks of this process only.

    Args:
        concurrency: How many messages are delivered at once (a slow SMTP server must not hold
            up every other message).
    """

    def __init__(self, concurrency: int = 4) -> None:
        self._concurrency = concurrency
        self._queue: asyncio.Queue[uuid.UUID] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()

    async def enqueue(self, message_id: uuid.UUID, delay: float = 0.0) -> None:
        queue = self._queue
        if queue is None:
            return  # no consumer here: the poller of whichever worker runs will find it
        if delay <= 0:
            queue.put_nowait(message_id)
            return
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            queue.put_nowait(message_id)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)

    async def start(self, deliver: Deliver) -> None:
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._consume(deliver)) for _ in range(self._concurrency)]

    async def _consume(self, deliver: Deliver) -> None:
        assert self._queue is not None
        while True:
            message_id = await self._queue.get()
            try:
                await deliver(message_id)
            except Exception:  # noqa: BLE001 - one message must not stop the consumer
                log.exception("courier: delivering message %s failed unexpectedly", message_id)

    async def stop(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._queue = None


def redis_broker(url: str, *, namespace: str = "kratos") -> Any:
    """A Dramatiq Redis broker for ``url`` that fails fast when Redis is unreachable.

    Args:
        url: ``redis://[:password@]host:port/db`` (``KRATOS_COURIER_BROKER_URL``).
        namespace: Prefix of the broker's Redis keys.
    """
    import redis
    from dramatiq.brokers.redis import RedisBroker

    # Short timeouts: queueing happens inside requests; a dead Redis must cost a request
    # seconds at most (the message is in the database already and the poller delivers it).
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    return RedisBroker(client=client, namespace=namespace)


class DramatiqQueue:
    """Hand-offs through a Dramatiq actor.

    The actor runs in Dramatiq's worker threads and hands each id back to this process's event
    loop, where the database and the channel plugins live.

    Args:
        broker: A Dramatiq broker (:func:`redis_broker`, or ``StubBroker`` in tests). Each
            courier has its own broker and actor: no module-global Dramatiq state.
        worker_threads: Dramatiq worker threads when consuming.
    """

    def __init__(self, broker: Any, *, worker_threads: int = 4) -> None:
        import dramatiq

        self.broker = broker
        self._threads = worker_threads
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deliver: Deliver | None = None
        self._worker: Any = None
        # Delivery failures are recorded in the database and retried by the courier; Dramatiq's
        # own retries only cover the bridge failing (this process stopping mid-hand-off).
        self.actor = dramatiq.Actor(
            self._run,
            broker=broker,
            actor_name=ACTOR_NAME,
            queue_name=QUEUE_NAME,
            priority=0,
            options={"max_retries": 3, "min_backoff": 1000, "max_backoff": 30000},
        )

    async def enqueue(self, message_id: uuid.UUID, delay: float = 0.0) -> None:
        options: dict[str, Any] = {"args": (str(message_id),)}
        if delay > 0:
            options["delay"] = int(delay * 1000)
        try:
            # redis-py blocks: keep it off the event loop.
            await asyncio.to_thread(self.actor.send_with_options, **options)
        except Exception as exc:  # noqa: BLE001 - the broker is down: the poller takes over
            log.warning("courier: broker unavailable (%s); message %s stays queued for the poller", exc, message_id)

    async def start(self, deliver: Deliver) -> None:
        import dramatiq

        self._loop = asyncio.get_running_loop()
        self._deliver = deliver
        self._worker = dramatiq.Worker(self.broker, queues={QUEUE_NAME}, worker_threads=self._threads, worker_timeout=200)
        await asyncio.to_thread(self._worker.start)

    def _run(self, message_id: str) -> None:
        loop, deliver = self._loop, self._deliver
        if loop is None or deliver is None or loop.is_closed():
            raise RuntimeError("the courier worker of this process is not running")
        future = asyncio.run_coroutine_threadsafe(deliver(uuid.UUID(message_id)), loop)
        future.result()

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            # Worker.stop joins threads that may be waiting on this loop: keep the loop running.
            await asyncio.to_thread(worker.stop)
        self._deliver = None
