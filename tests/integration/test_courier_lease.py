"""A claim on a message is a short lease (issue 15, finding 6): a message whose worker died
mid-send is sent again within seconds, and a slow but live delivery is not taken from its
worker (delivered once). On Dramatiq with Redis, like production."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import msgspec
import pytest

from kratos_core.courier import Courier, store
from kratos_core.courier.model import utcnow
from tests.courier_helpers import FAST, Recorder, dispatch_statuses, wait_status
from tests.integration.test_courier_redis import namespace, queue, redis_url, start_app  # noqa: F401 - fixtures

pytestmark = pytest.mark.redis

LEASE = dt.timedelta(milliseconds=800)


def options(url: str, ns: str) -> object:
    return msgspec.structs.replace(
        FAST, broker_url=url, broker_namespace=ns, processing_timeout=LEASE, broker_grace=dt.timedelta(0)
    )


async def test_message_of_a_worker_that_died_mid_send_is_sent_again_within_seconds(
    tmp_path: Path, redis_url: str, namespace: str, any_dsn: str
) -> None:
    recorder = Recorder()
    app = await start_app(tmp_path, recorder, dsn=any_dsn)
    producer = Courier(app, options=options(redis_url, namespace))
    try:
        message_id = await queue(producer)
        await producer.stop()
        # A worker claimed it and died before finishing (SIGKILL, or its SMTP connection hung
        # and the process was killed): the message is ``processing`` and nobody renews it.
        assert await store.claim_message(app.db, message_id, utcnow()) is not None
        started = time.monotonic()
        worker = Courier(app, options=options(redis_url, namespace))
        await worker.start_worker()
        try:
            message = await wait_status(app.db, message_id, "sent", timeout=8)
            assert time.monotonic() - started < 5  # the lease (0.8 s), back-off and a poll; not minutes
            assert [m.id for m in recorder.sent] == [message_id]
            assert sorted(await dispatch_statuses(app.db, message_id)) == ["failed", "success"]
            assert message.send_count == 2
        finally:
            await worker.stop()
    finally:
        await app.stop()


async def test_slow_delivery_keeps_its_lease_and_is_sent_once(tmp_path: Path, redis_url: str, namespace: str, any_dsn: str) -> None:
    recorder = Recorder(delay=2.5)  # three leases long
    app = await start_app(tmp_path, recorder, dsn=any_dsn)
    # Two workers poll the same database; the second would take the message if the lease ran out.
    first = Courier(app, options=options(redis_url, namespace))
    second = Courier(app, options=options(redis_url, namespace))
    try:
        await first.start_worker()
        await second.start_worker()
        message_id = await queue(first)
        message = await wait_status(app.db, message_id, "sent", timeout=10)
        assert recorder.attempts[message_id] == 1
        assert [m.id for m in recorder.sent] == [message_id]
        assert await dispatch_statuses(app.db, message_id) == ["success"]
        assert message.send_count == 1
    finally:
        await first.stop()
        await second.stop()
        await app.stop()
