"""Helpers of the courier tests: test channels, waiting on message states, Redis and a TCP proxy.

Redis tests use ``KRATOS_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). When it cannot
be reached they skip with the reason, unless ``KRATOS_TEST_REQUIRE_SERVICES=1``, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from kratos_core import hookimpl
from kratos_core.courier import CourierOptions, DeliveryError, Message, store

REDIS_URL = os.environ.get("KRATOS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

#: Fast retries and polling for tests (Kratos's timing would make them slow).
FAST = CourierOptions(
    retry_backoff=dt.timedelta(milliseconds=30),
    max_backoff=dt.timedelta(milliseconds=200),
    processing_timeout=dt.timedelta(seconds=30),
    broker_grace=dt.timedelta(seconds=30),
)


def redis_available(url: str = REDIS_URL) -> str | None:
    """None when Redis answers PING, else why not."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"Redis at {url} is not reachable: {exc}"
    return None


class Recorder:
    """A channel plugin: records sends; fails the first ``fail_times`` attempts per message.

    Args:
        ids: Channel ids to register (``email``, ``sms`` ...).
        fail_times: Attempts per message that raise before one succeeds (-1: always fail).
        delay: Seconds each send takes.
    """

    def __init__(self, ids: tuple[str, ...] = ("email", "sms"), *, fail_times: int = 0, delay: float = 0.0) -> None:
        self.ids = ids
        self.fail_times = fail_times
        self.delay = delay
        self.sent: list[Message] = []
        self.attempts: dict[uuid.UUID, int] = {}

    @hookimpl
    def kratos_register_courier_channels(self, register: Any) -> None:
        for channel_id in self.ids:
            register(_Channel(channel_id, self))


class _Channel:
    def __init__(self, channel_id: str, recorder: Recorder) -> None:
        self.id = channel_id
        self.recorder = recorder

    async def send(self, message: Message) -> None:
        rec = self.recorder
        rec.attempts[message.id] = rec.attempts.get(message.id, 0) + 1
        if rec.delay:
            await asyncio.sleep(rec.delay)
        if rec.fail_times < 0 or rec.attempts[message.id] <= rec.fail_times:
            raise DeliveryError("gateway unavailable", details={"status_code": 503})
        rec.sent.append(message)


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` (keeping the event loop running) until true or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def wait_status(db: Any, message_id: uuid.UUID, status: str, timeout: float = 10.0) -> Message:
    """Wait until the message has ``status``; returns it."""

    async def reached() -> bool:
        message = await store.get_message(db, message_id)
        return message is not None and message.status == status

    await wait_for(reached, timeout, f"message {message_id} to be {status}")
    message = await store.get_message(db, message_id)
    assert message is not None
    return message


async def dispatch_statuses(db: Any, message_id: uuid.UUID) -> list[str]:
    return [d.status for d in await store.list_dispatches(db, message_id)]


class TcpProxy:
    """A TCP proxy in front of Redis that a test can take down and bring back (same port)."""

    def __init__(self, target_url: str = REDIS_URL) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.db_path = parts.path or "/0"
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.db_path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones (Redis "goes away")."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        with contextlib.suppress(asyncio.CancelledError):  # the test's loop is closing
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update({writer, up_writer})
