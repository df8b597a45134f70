"""The courier on Dramatiq with Redis: hand-offs, separate workers, retries, and Redis going away.

Needs the Redis server named by ``KRATOS_TEST_REDIS_URL`` (see tests/courier_helpers.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from kratos_core.app import KratosApp
from kratos_core.courier import Courier, store
from kratos_core.courier.queue import QUEUE_NAME
from tests.conftest import base_config, make_app, require_or_skip
from tests.courier_helpers import FAST, REDIS_URL, Recorder, TcpProxy, dispatch_statuses, redis_available, wait_status

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_url() -> str:
    require_or_skip(redis_available())
    return REDIS_URL


@pytest.fixture
def namespace(redis_url: str) -> Any:
    """A Redis key prefix of this test alone (other tests and engineers share the server)."""
    name = f"kratos-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def options(url: str, namespace: str, **changes: Any) -> Any:
    return msgspec.structs.replace(FAST, broker_url=url, broker_namespace=namespace, **changes)


async def start_app(tmp_path: Path, recorder: Recorder, dsn: str = "memory", **courier: Any) -> KratosApp:
    cfg = base_config(tmp_path, dsn=dsn)
    cfg["courier"] = {"worker": {"pull_wait": "50ms"}, **courier}
    app = make_app(tmp_path, cfg, plugins=[recorder])
    await app.start(migrate=True)
    return app


@pytest.fixture
async def stack(tmp_path: Path, redis_url: str, namespace: str) -> AsyncIterator[tuple[KratosApp, Recorder, Courier]]:
    recorder = Recorder()
    app = await start_app(tmp_path, recorder)
    # The poller leaves fresh messages to the broker for 30 s: a prompt delivery is Redis's.
    courier = Courier(app, options=options(redis_url, namespace))
    try:
        yield app, recorder, courier
    finally:
        await courier.stop()
        await app.stop()


async def queue(courier: Courier, to: str = "jane@example.org") -> uuid.UUID:
    return await courier.queue(courier.app.db, recipient=to, template_type="login_code_valid", template_data={"login_code": "123456"})


async def test_dramatiq_on_redis_delivers_one_success(stack: Any) -> None:
    app, recorder, courier = stack
    await courier.start_worker()
    async with app.db.transaction() as tx:
        message_id = await courier.queue(tx, recipient="jane@example.org", template_type="login_code_valid", template_data={"login_code": "123456"})
    message = await wait_status(app.db, message_id, "sent")
    assert message.send_count == 1
    assert await dispatch_statuses(app.db, message_id) == ["success"]
    assert [m.id for m in recorder.sent] == [message_id]


async def test_server_queues_and_a_separate_worker_delivers(tmp_path: Path, redis_url: str, namespace: str, any_dsn: str) -> None:
    """``kratos serve`` (no worker) hands ids to Redis; ``kratos courier watch`` delivers."""
    server_recorder, worker_recorder = Recorder(), Recorder()
    (tmp_path / "server").mkdir()
    (tmp_path / "worker").mkdir()
    server = await start_app(tmp_path / "server", server_recorder, dsn=any_dsn)
    worker = await start_app(tmp_path / "worker", worker_recorder, dsn=any_dsn)
    producer = Courier(server, options=options(redis_url, namespace))
    consumer = Courier(worker, options=options(redis_url, namespace))
    try:
        await consumer.start_worker()
        ids = [await queue(producer, f"user{i}@example.org") for i in range(3)]
        for message_id in ids:
            await wait_status(server.db, message_id, "sent")
        assert server_recorder.sent == [] and sorted(m.id for m in worker_recorder.sent) == sorted(ids)
    finally:
        await consumer.stop()
        await producer.stop()
        await worker.stop()
        await server.stop()


async def test_retry_goes_through_the_delay_queue(tmp_path: Path, redis_url: str, namespace: str) -> None:
    recorder = Recorder(fail_times=2)
    app = await start_app(tmp_path, recorder)
    courier = Courier(app, options=options(redis_url, namespace))
    try:
        await courier.start_worker()
        message_id = await queue(courier)
        message = await wait_status(app.db, message_id, "sent")
        assert message.send_count == 3
        assert await dispatch_statuses(app.db, message_id) == ["success", "failed", "failed"]
    finally:
        await courier.stop()
        await app.stop()


async def test_retries_then_abandons_on_redis(tmp_path: Path, redis_url: str, namespace: str) -> None:
    recorder = Recorder(fail_times=-1)
    app = await start_app(tmp_path, recorder, message_retries=1)
    courier = Courier(app, options=options(redis_url, namespace))
    try:
        await courier.start_worker()
        message_id = await queue(courier)
        message = await wait_status(app.db, message_id, "abandoned")
        assert message.send_count == 2 and await dispatch_statuses(app.db, message_id) == ["failed", "failed"]
    finally:
        await courier.stop()
        await app.stop()


async def test_redis_going_away_loses_nothing(tmp_path: Path, redis_url: str, namespace: str) -> None:
    proxy = TcpProxy(redis_url)
    await proxy.start()
    recorder = Recorder()
    app = await start_app(tmp_path, recorder)
    # A short grace: once the broker has had its chance, the database poller delivers.
    courier = Courier(app, options=options(proxy.url, namespace, broker_grace=dt.timedelta(milliseconds=500)))
    try:
        await courier.start_worker()
        first = await queue(courier, "before@example.org")
        await wait_status(app.db, first, "sent", timeout=5)

        await proxy.stop()  # Redis goes away
        ids = [await queue(courier, f"during{i}@example.org") for i in range(3)]
        for message_id in ids:  # the request still succeeded; the messages wait in the database
            assert (await store.get_message(app.db, message_id)).status in ("queued", "processing", "sent")
        for message_id in ids:  # ... and the worker's poller delivers them without Redis
            await wait_status(app.db, message_id, "sent", timeout=10)

        await proxy.start()  # Redis is back: the broker path works again
        last = await queue(courier, "after@example.org")
        await wait_status(app.db, last, "sent", timeout=10)
        assert sorted(m.recipient for m in recorder.sent) == sorted(
            ["before@example.org", "after@example.org", *(f"during{i}@example.org" for i in range(3))]
        )
        for message_id in [first, *ids, last]:
            assert await dispatch_statuses(app.db, message_id) == ["success"]
    finally:
        await courier.stop()
        await app.stop()
        await proxy.stop()


async def test_hand_off_lost_in_redis_is_found_in_the_database(tmp_path: Path, redis_url: str, namespace: str) -> None:
    recorder = Recorder()
    app = await start_app(tmp_path, recorder)
    producer = Courier(app, options=options(redis_url, namespace))
    message_id = await queue(producer)
    await producer.stop()  # waits for the hand-off task
    client = redis.Redis.from_url(redis_url)
    assert client.llen(f"{namespace}:{QUEUE_NAME}") == 1
    # Redis restarts without persistence: the queued hand-off is gone.
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)
    client.close()
    worker = Courier(app, options=options(redis_url, namespace, broker_grace=dt.timedelta(0)))
    try:
        await worker.start_worker()
        await wait_status(app.db, message_id, "sent")
        assert [m.id for m in recorder.sent] == [message_id]
    finally:
        await worker.stop()
        await app.stop()
