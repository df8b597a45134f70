"""Faults (issue 15, item 7): the database killed, down or locked answers 503, never 500.

PostgreSQL: the pool's backends are killed with ``pg_terminate_backend`` (idle and while
statements run); a read, or a write that cannot have been applied, is retried once on a fresh
connection; anything else is a 503 in Kratos's shape with ``Retry-After``; no identity is left
half-written. SQLite: another process holding the write lock makes writes wait without blocking
the event loop, and answer 503 once the bounded wait is over. A database that is down makes
every route answer 503 and ``/health/ready`` not ready.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from kratos_core.persistence.db import DatabaseUnavailable, open_database
from tests.conftest import base_config, free_port, make_app



def _pg(dsn: str) -> str:
    return dsn.replace("postgres://", "postgresql://", 1)


async def _kill_backends(dsn: str) -> int:
    """Terminate every backend of ``dsn``'s database except our own; how many."""
    conn = await asyncpg.connect(_pg(dsn))
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return len(rows)


async def test_first_statement_on_a_killed_pooled_connection_succeeds(postgres_dsn: str) -> None:
    db = await open_database(postgres_dsn, pool_size=4)
    try:
        await db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        # Warm several pooled connections, then kill them all while idle.
        await asyncio.gather(*(db.fetchval("SELECT pg_sleep(0.05)") for _ in range(4)))
        assert await _kill_backends(postgres_dsn) >= 1
        await asyncio.sleep(0.05)
        assert await db.fetchval("SELECT 41 + 1") == 42  # a read
        await asyncio.gather(*(db.fetchval("SELECT pg_sleep(0.05)") for _ in range(4)))
        await _kill_backends(postgres_dsn)
        assert await db.execute("INSERT INTO t (id) VALUES (1)") == 1  # a write
        async with db.transaction() as tx:  # a transaction: BEGIN on a dead connection is redone
            await tx.execute("INSERT INTO t (id) VALUES (2)")
        assert await db.fetchval("SELECT count(*) FROM t") == 2
    finally:
        await db.close()


async def test_statements_under_repeated_backend_kills_succeed_or_say_unavailable(postgres_dsn: str) -> None:
    db = await open_database(postgres_dsn, pool_size=6)
    await db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    stop = asyncio.Event()
    outcomes: dict[str, int] = {}

    async def killer() -> None:
        while not stop.is_set():
            await _kill_backends(postgres_dsn)
            await asyncio.sleep(0.03)

    async def worker(n: int) -> None:
        for i in range(40):
            key = n * 1000 + i
            try:
                if i % 2:
                    await db.fetchval("SELECT count(*) FROM t WHERE id < $1", key)
                else:
                    async with db.transaction() as tx:
                        await tx.execute("INSERT INTO t (id) VALUES ($1)", key)
                        await tx.execute("INSERT INTO t (id) VALUES ($1)", -key - 1)
                outcome = "ok"
            except DatabaseUnavailable:
                outcome = "unavailable"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    try:
        kill_task = asyncio.create_task(killer())
        await asyncio.gather(*(worker(n) for n in range(6)))
        stop.set()
        await kill_task
        # Every failure was DatabaseUnavailable (anything else would have propagated), and no
        # transaction is half-written: each positive id has its negative twin.
        assert outcomes.get("ok", 0) > 0, outcomes
        rows = await db.fetch("SELECT id FROM t")
        ids = {r["id"] for r in rows}
        assert {i for i in ids if i >= 0} == {-i - 1 for i in ids if i < 0}
    finally:
        stop.set()
        await db.close()


def _registration_cfg(tmp_path: Path, dsn: str) -> dict:
    return base_config(
        tmp_path,
        dsn=dsn,
        selfservice={
            "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
            "flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}},
        },
    )


async def test_requests_while_backends_are_killed_answer_or_503_never_500(tmp_path: Path, postgres_dsn: str) -> None:
    import kratos_password.plugin as password_plugin

    app = make_app(tmp_path, _registration_cfg(tmp_path, postgres_dsn), plugins=[password_plugin])
    await app.start(migrate=True)
    stop = asyncio.Event()
    statuses: list[int] = []
    registered: list[tuple[str, int]] = []
    try:
        transport = httpx.ASGITransport(app=app.public)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4433", timeout=60) as client:

            async def killer() -> None:
                while not stop.is_set():
                    await _kill_backends(postgres_dsn)
                    await asyncio.sleep(0.05)

            async def register(n: int) -> None:
                for i in range(6):
                    email = f"user-{n}-{i}@example.org"
                    flow = await client.get("/self-service/registration/api")
                    statuses.append(flow.status_code)
                    if flow.status_code != 200:
                        _assert_503_shape(flow)
                        continue
                    r = await client.post(
                        f"/self-service/registration?flow={flow.json()['id']}",
                        json={"method": "password", "password": "correct horse battery staple", "traits": {"email": email}},
                    )
                    statuses.append(r.status_code)
                    registered.append((email, r.status_code))
                    if r.status_code >= 500:
                        _assert_503_shape(r)
                    alive = await client.get("/health/alive")
                    statuses.append(alive.status_code)

            kill_task = asyncio.create_task(killer())
            await asyncio.gather(*(register(n) for n in range(5)))
            stop.set()
            await kill_task
        assert 500 not in statuses and all(s in (200, 503) for s in statuses), statuses
        assert statuses.count(200) > 0
        # Whatever answered 200 is stored whole: identity with its credential and a session.
        db = app.db
        for email, status in registered:
            ident = await db.fetchval(
                "SELECT i.id FROM identities i JOIN identity_credential_identifiers c ON c.identity_id = i.id "
                "WHERE c.identifier = $1",
                email,
            )
            if status == 200:
                assert ident is not None, email
                assert await db.fetchval("SELECT count(*) FROM sessions WHERE identity_id = $1", ident) >= 1
        # No identity without its credential (nothing half-written).
        orphans = await db.fetchval(
            "SELECT count(*) FROM identities i WHERE NOT EXISTS "
            "(SELECT 1 FROM identity_credentials c WHERE c.identity_id = i.id)"
        )
        assert orphans == 0
    finally:
        stop.set()
        await app.stop()


def _assert_503_shape(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    body = response.json()
    assert body["error"]["code"] == 503
    assert body["error"]["status"] == "Service Unavailable"
    assert int(response.headers["retry-after"]) >= 1


async def test_database_down_is_503_on_every_route_and_not_ready(tmp_path: Path, postgres_dsn: str) -> None:
    app = make_app(tmp_path, base_config(tmp_path, dsn=postgres_dsn))
    await app.start(migrate=True)
    try:
        # The server goes away: point the pool at a port nobody listens on, drop the old ones.
        pool = app.db._pool  # type: ignore[attr-defined]
        port = free_port()
        pool._target = f"postgresql://postgres@127.0.0.1:{port}/nothing"
        await _kill_backends(postgres_dsn)
        await asyncio.sleep(0.05)
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433") as public,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://127.0.0.1:4434") as admin,
        ):
            for client, path in (
                (public, "/sessions/whoami"),
                (public, "/self-service/login/api"),
                (public, "/self-service/registration/api"),
                (admin, "/admin/identities"),
                (admin, f"/admin/identities/{uuid.uuid4()}"),
                (admin, "/admin/courier/messages"),
            ):
                r = await client.get(path, headers={"X-Session-Token": "ory_st_" + "a" * 32})
                _assert_503_shape(r)
            ready = await admin.get("/health/ready")
            assert ready.status_code == 503
            assert "database" in ready.json()["errors"]
            assert (await public.get("/health/alive")).status_code == 200
    finally:
        await app.stop()


_HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("CREATE TABLE IF NOT EXISTS lock_holder (x INTEGER)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def _hold_write_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that holds the SQLite write lock for ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


async def test_sqlite_lock_held_by_another_process_does_not_freeze_the_server(tmp_path: Path) -> None:
    import kratos_password.plugin as password_plugin

    path = tmp_path / "kratos.sqlite"
    app = make_app(tmp_path, _registration_cfg(tmp_path, f"sqlite://{path}?_fk=true&_busy_timeout=1000"), plugins=[password_plugin])
    await app.start(migrate=True)
    try:
        transport = httpx.ASGITransport(app=app.public)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4433", timeout=30) as client:
            flow = (await client.get("/self-service/registration/api")).json()
            holder = await asyncio.to_thread(_hold_write_lock, path, 2.5)
            try:
                started = time.monotonic()
                submit = asyncio.create_task(
                    client.post(
                        f"/self-service/registration?flow={flow['id']}",
                        json={"method": "password", "password": "correct horse battery staple", "traits": {"email": "locked@example.org"}},
                    )
                )
                # While the registration waits for the lock, the server keeps answering.
                alive_times = []
                for _ in range(10):
                    t0 = time.monotonic()
                    assert (await client.get("/health/alive")).status_code == 200
                    alive_times.append(time.monotonic() - t0)
                    await asyncio.sleep(0.05)
                assert max(alive_times) < 0.25, alive_times
                # Reads go on too (WAL readers do not wait for writers).
                assert (await client.get(f"/self-service/registration/flows?id={flow['id']}")).status_code == 200
                r = await submit
                waited = time.monotonic() - started
                _assert_503_shape(r)
                assert 0.9 < waited < 2.4, waited  # the bounded wait (1 s), not the whole hold
            finally:
                await asyncio.to_thread(holder.wait, 10)
            # Nothing was written by the refused submit; once the lock is free, writes work.
            assert await app.db.fetchval("SELECT count(*) FROM identities") == 0
            flow = (await client.get("/self-service/registration/api")).json()
            r = await client.post(
                f"/self-service/registration?flow={flow['id']}",
                json={"method": "password", "password": "correct horse battery staple", "traits": {"email": "locked@example.org"}},
            )
            assert r.status_code == 200, r.text
    finally:
        await app.stop()


async def test_sqlite_write_waits_for_a_short_lock_and_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite"
    db = await open_database(f"sqlite://{path}?_busy_timeout=3000")
    try:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        holder = await asyncio.to_thread(_hold_write_lock, path, 0.5)
        try:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            tick_task = asyncio.create_task(ticker())
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t (id) VALUES (1)")
            assert await db.execute("INSERT INTO t (id) VALUES (2)") == 1
            tick_task.cancel()
            assert ticks >= 10  # the loop ran while the transaction waited for the lock
        finally:
            await asyncio.to_thread(holder.wait, 10)
        assert await db.fetchval("SELECT count(*) FROM t") == 2
    finally:
        await db.close()
