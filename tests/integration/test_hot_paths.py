"""The hot paths' performance machinery keeps behaviour exact (bench/README.md has the figures).

* whoami's fast rendering gives the same bytes as ``session_dict`` through ``json_response``;
* identities load in one statement and insert in one (PostgreSQL), with the same result as the
  multi-statement path; a session is issued in one statement without a transaction;
* the lean PostgreSQL pool survives cancellation and bounds its connections;
* the session cache (on PostgreSQL unless ``feature_flags.cacheable_sessions: false``) serves whoami without SQL and
  never serves a session after a change announced by any process: revocations, identity updates,
  writes by code that does not announce, a lost LISTEN connection;
* the hashing pools of all server processes together have one thread per core.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from kratos_core.app import KratosApp
from kratos_core.identity.model import Credential, Identity, RecoveryAddress, VerifiableAddress, utcnow
from kratos_core.persistence import identities as identity_store
from kratos_core.persistence.db import open_database
from kratos_core.session.model import AuthenticationMethod, Device, Session, session_dict, session_json
from tests.conftest import base_config, make_app
from tests.integration.test_sessions import fake_request, issue, new_identity, token_header
from tests.integration.test_whoami_queries import StatementCounter, rich_session

UTC = dt.UTC


# -- rendering ----------------------------------------------------------------------------------


def _sample_session(when: dt.datetime, *, rich: bool) -> Session:
    identity = Identity(
        id=uuid.uuid4(),
        schema_id="default",
        traits={"email": "a@example.org", "n": [1, 2.5, None]},
        state="active",
        state_changed_at=when if rich else None,
        metadata_public={"k": "v"} if rich else None,
        metadata_admin={"secret": 1},
        external_id="ext" if rich else None,
        organization_id=uuid.uuid4() if rich else None,
        created_at=when,
        updated_at=when + dt.timedelta(microseconds=1),
        verifiable_addresses=[
            VerifiableAddress(
                id=uuid.uuid4(), value="a@example.org", via="email", verified=rich,
                status="completed" if rich else "pending", verified_at=when if rich else None,
                created_at=when, updated_at=when,
            )
        ]
        if rich
        else [],
        recovery_addresses=[RecoveryAddress(id=uuid.uuid4(), value="a@example.org", via="email", created_at=when, updated_at=when)],
    )
    methods = [AuthenticationMethod(method="password", aal="aal1", completed_at=when)]
    if rich:
        methods.append(
            AuthenticationMethod(
                method="oidc", aal="aal1", completed_at=when, provider="google", organization="org",
                upstream_acr="acr", upstream_amr=["pwd"],
            )
        )
    return Session(
        id=uuid.uuid4(),
        identity_id=identity.id,
        active=True,
        aal="aal1",
        authentication_methods=methods,
        issued_at=when,
        authenticated_at=when,
        expires_at=when + dt.timedelta(days=3650),
        created_at=when,
        updated_at=when,
        devices=[Device(id=uuid.uuid4(), ip_address="10.0.0.1", user_agent=None, location="Berlin, DE", created_at=when)],
        identity=identity,
    )


@pytest.mark.parametrize(
    "when",
    [
        dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        dt.datetime(2024, 5, 6, 7, 8, 9, 0, tzinfo=UTC),  # msgspec would drop the fraction
        dt.datetime(2024, 5, 6, 7, 8, 9, 100000, tzinfo=UTC),  # trailing zeros kept
        dt.datetime(2024, 5, 6, 9, 8, 9, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),  # not UTC
        dt.datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # strftime's year has no padding
    ],
)
@pytest.mark.parametrize("rich", [False, True])
def test_session_json_is_session_dict_encoded(when: dt.datetime, rich: bool) -> None:
    session = _sample_session(when, rich=rich)
    now = when + dt.timedelta(seconds=1)
    expected = msgspec.json.encode(session_dict(session, "http://127.0.0.1:4433/", admin=False, now=now))
    assert session_json(session, "http://127.0.0.1:4433/", now=now) == expected


async def test_whoami_body_is_unchanged(app: KratosApp) -> None:
    identity = await new_identity(app)
    session, token = await issue(app, identity)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433") as public:
        r = await public.get("/sessions/whoami", headers=token_header(token))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    loaded = await app.sessions.find_by_token(token)
    assert loaded is not None
    expected = msgspec.json.encode(session_dict(loaded, app.public_base_url, admin=False))
    # "active" is computed at render time; everything else is fixed.
    assert r.content == expected


# -- identities and sessions in few statements ----------------------------------------------------


@pytest.fixture
async def any_app(tmp_path: Path, any_dsn: str) -> AsyncIterator[KratosApp]:
    app = make_app(tmp_path, base_config(tmp_path, any_dsn))
    await app.start(migrate=True)
    try:
        yield app
    finally:
        await app.stop()


def _rich_identity() -> Identity:
    now = utcnow()
    later = now + dt.timedelta(seconds=1)
    identity = Identity(
        id=uuid.uuid4(),
        schema_id="default",
        traits={"email": "many@example.org"},
        metadata_public={"p": 1},
        metadata_admin={"a": [1, 2]},
        external_id=f"ext-{uuid.uuid4().hex[:6]}",
        created_at=now,
        updated_at=now,
    )
    identity.credentials = {
        "password": Credential(
            id=uuid.uuid4(), type="password", identifiers=["many@example.org", "alias@example.org", "many@example.org"],
            config={"hashed_password": "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"}, version=1,
            created_at=now, updated_at=later,
        ),
        "totp": Credential(
            id=uuid.uuid4(), type="totp", identifiers=[str(identity.id)], config={"totp_url": "otpauth://x", "n": None},
            created_at=now, updated_at=now,
        ),
        "webauthn": Credential(id=uuid.uuid4(), type="webauthn", identifiers=[], config={}, created_at=now, updated_at=now),
    }
    identity.verifiable_addresses = [
        VerifiableAddress(id=uuid.uuid4(), value="many@example.org", via="email", created_at=now, updated_at=now),
        VerifiableAddress(
            id=uuid.uuid4(), value="alias@example.org", via="email", verified=True, status="completed",
            verified_at=later, created_at=later, updated_at=later,
        ),
    ]
    identity.recovery_addresses = [
        RecoveryAddress(id=uuid.uuid4(), value="many@example.org", via="email", created_at=now, updated_at=now)
    ]
    return identity


async def test_identity_round_trip_in_one_statement_each(any_app: KratosApp, monkeypatch: pytest.MonkeyPatch) -> None:
    identity = _rich_identity()
    counter = StatementCounter(any_app.db, monkeypatch)
    if any_app.db.dialect == "postgres":
        await identity_store.insert_identity(any_app.db, identity)  # one statement: no transaction needed
        assert len(counter.statements) == 1
    else:
        monkeypatch.undo()
        async with any_app.db.transaction() as tx:
            await identity_store.insert_identity(tx, identity)
        counter = StatementCounter(any_app.db, monkeypatch)
    counter.reset()
    loaded = await identity_store.get_identity(any_app.db, identity.id)
    assert len(counter.statements) == 1
    monkeypatch.undo()
    # The same as the multi-statement path that lists use, and as what was written.
    (listed,) = await identity_store.get_identities(any_app.db, [identity.id])
    assert loaded == listed
    assert loaded is not None
    # Stored order: (created_at, identifier); duplicates dropped.
    assert loaded.credentials["password"].identifiers == ["alias@example.org", "many@example.org"]
    assert loaded.credentials["totp"].config == {"totp_url": "otpauth://x", "n": None}
    assert loaded.credentials["webauthn"].identifiers == []
    assert [a.value for a in loaded.verifiable_addresses] == ["many@example.org", "alias@example.org"]
    assert loaded.verifiable_addresses[1].verified_at == identity.verifiable_addresses[1].verified_at
    assert (loaded.metadata_public, loaded.metadata_admin, loaded.external_id) == ({"p": 1}, {"a": [1, 2]}, identity.external_id)
    assert await identity_store.get_identity(any_app.db, uuid.uuid4()) is None


async def test_identity_by_identifier_in_one_statement(any_app: KratosApp, monkeypatch: pytest.MonkeyPatch) -> None:
    identity = _rich_identity()
    async with any_app.db.batch() as batch:
        await identity_store.insert_identity(batch, identity)
    counter = StatementCounter(any_app.db, monkeypatch)
    found = await identity_store.find_identity_by_identifier(any_app.db, "alias@example.org", "password")
    assert len(counter.statements) == 1
    monkeypatch.undo()
    assert found == await identity_store.get_identity(any_app.db, identity.id)
    assert await identity_store.find_identity_by_identifier(any_app.db, "alias@example.org", "code") is None


async def test_duplicate_identifier_in_one_statement_insert_is_a_unique_violation(any_app: KratosApp) -> None:
    from kratos_core.persistence.db import UniqueViolation

    first = _rich_identity()
    async with any_app.db.transaction() as tx:
        await identity_store.insert_identity(tx, first)
    second = _rich_identity()
    second.external_id = None
    with pytest.raises(UniqueViolation):
        async with any_app.db.transaction() as tx:
            await identity_store.insert_identity(tx, second)
    assert await identity_store.get_identity(any_app.db, second.id) is None  # nothing half-written


async def test_issuing_a_session_is_one_statement_on_postgres(postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(tmp_path, base_config(tmp_path, postgres_dsn))
    await app.start(migrate=True)
    try:
        identity = await new_identity(app)
        counter = StatementCounter(app.db, monkeypatch)  # also refuses transactions
        session, token = await issue(app, identity, request=fake_request({"user-agent": "one"}))
        assert len(counter.statements) == 1
        monkeypatch.undo()
        loaded = await app.sessions.find_by_token(token)
        assert loaded is not None and [d.user_agent for d in loaded.devices] == ["one"]
        assert loaded.devices[0].id == session.devices[0].id
    finally:
        await app.stop()


async def test_registration_writes_are_one_statement_on_postgres(
    postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kratos_core.persistence.db import UniqueViolation

    app = make_app(tmp_path, base_config(tmp_path, postgres_dsn))
    await app.start(migrate=True)
    try:
        identity = _rich_identity()
        counter = StatementCounter(app.db, monkeypatch)  # also refuses transactions
        async with app.db.batch() as batch:
            await identity_store.insert_identity(batch, identity)
            session, token = await app.sessions.issue(identity, method="password", request=fake_request(), conn=batch)
            assert counter.statements == []  # nothing sent before the end of the block
        assert len(counter.statements) == 1
        monkeypatch.undo()
        loaded = await app.sessions.find_by_token(token)
        assert loaded is not None and loaded.identity is not None
        assert loaded.identity == await identity_store.get_identity(app.db, identity.id)
        assert [d.id for d in loaded.devices] == [d.id for d in session.devices]
        # All or nothing: a taken identifier leaves neither the identity nor its session behind.
        twin = _rich_identity()
        twin.external_id = None
        with pytest.raises(UniqueViolation):
            async with app.db.batch() as batch:
                await identity_store.insert_identity(batch, twin)
                _, twin_token = await app.sessions.issue(twin, method="password", conn=batch)
        assert await identity_store.get_identity(app.db, twin.id) is None
        assert await app.sessions.find_by_token(twin_token) is None
        # Nothing is sent when the block raises.
        with pytest.raises(RuntimeError):
            async with app.db.batch() as batch:
                await identity_store.insert_identity(batch, _rich_identity_named("late@example.org"))
                raise RuntimeError("boom")
        assert await app.db.fetchval("SELECT count(*) FROM identities") == 1
        with pytest.raises(TypeError):
            async with app.db.batch() as batch:
                await batch.fetchval("SELECT 1")
    finally:
        await app.stop()


def _rich_identity_named(email: str) -> Identity:
    identity = _rich_identity()
    identity.external_id = None
    for cred in identity.credentials.values():
        cred.identifiers = [email] if cred.type == "password" else cred.identifiers
    for address in (*identity.verifiable_addresses, *identity.recovery_addresses):
        address.value = email.replace("@", f"+{uuid.uuid4().hex[:4]}@")
    return identity


# -- the lean PostgreSQL pool ---------------------------------------------------------------------


async def test_pool_bounds_connections_and_survives_cancellation(postgres_dsn: str) -> None:
    db = await open_database(postgres_dsn, pool_size=3)
    try:
        results = await asyncio.gather(*(db.fetchval("SELECT $1::int FROM pg_sleep(0.02)", i) for i in range(12)))
        assert results == list(range(12))
        assert db._pool._size <= 3  # type: ignore[attr-defined]
        # A statement cancelled mid-flight must not leave its connection busy for the next user.
        task = asyncio.ensure_future(db.fetchval("SELECT pg_sleep(5)"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.gather(*(db.fetchval("SELECT 1") for _ in range(6))) == [1] * 6
        # A failing statement leaves a usable connection; a failed transaction rolls back.
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises, the connection survives
            await db.execute("SELECT * FROM no_such_table")
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.execute("CREATE TABLE t_pool (x int)")
                raise RuntimeError("boom")
        assert await db.fetchval("SELECT to_regclass('t_pool') IS NULL") is True
        assert db._pool._size <= 3  # type: ignore[attr-defined]
    finally:
        await db.close()


# -- the session cache ----------------------------------------------------------------------------


def _cache_config(tmp_path: Path, dsn: str) -> dict[str, Any]:
    return base_config(tmp_path, dsn, feature_flags={"cacheable_sessions": True})


async def _eventually(check: Any, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def two_processes(tmp_path: Path, postgres_dsn: str) -> AsyncIterator[tuple[KratosApp, KratosApp]]:
    """Two apps on one database, like two worker processes; only the first caches sessions."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cached = make_app(tmp_path / "a", _cache_config(tmp_path / "a", postgres_dsn))
    other = make_app(tmp_path / "b", base_config(tmp_path / "b", postgres_dsn, feature_flags={"cacheable_sessions": False}))
    await cached.start(migrate=True)
    await other.start()
    try:
        yield cached, other
    finally:
        await other.stop()
        await cached.stop()


async def _whoami(app: KratosApp, token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433") as public:
        return await public.get("/sessions/whoami", headers=token_header(token))


async def _listening(app: KratosApp) -> None:
    await _whoami(app, "ory_st_" + "Z" * 32)  # starts the cache and its listener

    async def ready() -> bool:
        cache = app.sessions.session_cache()
        return cache is not None and cache.enabled and app.db.fresh  # type: ignore[attr-defined]

    await _eventually(ready)


async def test_cache_serves_whoami_without_sql(two_processes: tuple[KratosApp, KratosApp], monkeypatch: pytest.MonkeyPatch) -> None:
    cached, _ = two_processes
    session, token = await rich_session(cached)
    await _listening(cached)
    counter = StatementCounter(cached.db, monkeypatch)
    first = await _whoami(cached, token)
    assert first.status_code == 200 and len(counter.statements) == 1
    await _listening(cached)  # still current (a loaded machine may delay a heartbeat)
    counter.reset()
    second = await _whoami(cached, token)
    assert second.status_code == 200 and counter.statements == []  # the one cache call
    assert second.content == first.content
    assert second.headers["x-kratos-authenticated-identity-id"] == str(session.identity_id)
    # Unknown tokens are not cached (no memory for garbage), and still cost one statement.
    counter.reset()
    for _ in range(2):
        assert (await _whoami(cached, "ory_st_" + "Y" * 32)).status_code == 401
    assert len(counter.statements) == 2


async def test_revocation_by_another_process_reaches_the_cache(two_processes: tuple[KratosApp, KratosApp]) -> None:
    cached, other = two_processes
    session, token = await rich_session(cached)
    await _listening(cached)
    assert (await _whoami(cached, token)).status_code == 200
    assert (await _whoami(cached, token)).status_code == 200  # from the cache
    await other.sessions.revoke(session.id)

    async def revoked() -> bool:
        return (await _whoami(cached, token)).status_code == 401

    await _eventually(revoked, timeout=1.0)


async def test_the_writing_process_invalidates_at_once(two_processes: tuple[KratosApp, KratosApp]) -> None:
    cached, _ = two_processes
    identity = await new_identity(cached)
    session, token = await issue(cached, identity)
    await _listening(cached)
    assert (await _whoami(cached, token)).status_code == 200
    assert (await _whoami(cached, token)).status_code == 200
    await cached.sessions.revoke_token(token)
    assert (await _whoami(cached, token)).status_code == 401  # no waiting for the notification


async def test_identity_changes_reach_the_cache(two_processes: tuple[KratosApp, KratosApp]) -> None:
    cached, other = two_processes
    identity = await new_identity(cached)
    _, token = await issue(cached, identity)
    await _listening(cached)
    before = await _whoami(cached, token)
    assert before.json()["identity"]["metadata_public"] is None
    stored = await other.identities.get(identity.id)
    stored.metadata_public = {"plan": "gold"}
    await other.identities.save(stored)

    async def updated() -> bool:
        return (await _whoami(cached, token)).json()["identity"]["metadata_public"] == {"plan": "gold"}

    await _eventually(updated, timeout=1.0)
    stored.state = "inactive"
    await other.identities.save(stored)

    async def disabled() -> bool:
        return (await _whoami(cached, token)).status_code == 401

    await _eventually(disabled, timeout=1.0)


async def test_writes_that_do_not_announce_flush_the_cache(two_processes: tuple[KratosApp, KratosApp]) -> None:
    cached, other = two_processes
    identity = await new_identity(cached)
    _, token = await issue(cached, identity)
    await _listening(cached)
    assert (await _whoami(cached, token)).json()["identity"]["verifiable_addresses"][0]["verified"] is False
    # Code that knows nothing of the cache (e.g. a verification flow) writes an address directly.
    await other.db.execute(
        "UPDATE identity_verifiable_addresses SET verified = $2, status = 'completed' WHERE identity_id = $1",
        identity.id,
        True,
    )

    async def verified() -> bool:
        return (await _whoami(cached, token)).json()["identity"]["verifiable_addresses"][0]["verified"] is True

    await _eventually(verified, timeout=1.0)


async def test_a_lost_listener_disables_the_cache_until_it_listens_again(
    two_processes: tuple[KratosApp, KratosApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    cached, other = two_processes
    identity = await new_identity(cached)
    _, token = await issue(cached, identity)
    await _listening(cached)
    await _whoami(cached, token)
    cache = cached.sessions.session_cache()
    assert cache is not None and len(cache) == 1
    # Kill the LISTEN connection from the server side.
    killed = await other.db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'kratos session listener'"
    )
    assert killed == 1

    async def disabled() -> bool:
        return not cache.enabled

    await _eventually(disabled, timeout=2.0)
    assert len(cache) == 0
    counter = StatementCounter(cached.db, monkeypatch)
    assert (await _whoami(cached, token)).status_code == 200
    assert (await _whoami(cached, token)).status_code == 200
    if not cache.enabled:
        assert len(counter.statements) == 2  # nothing served from memory meanwhile
    monkeypatch.undo()

    async def back() -> bool:
        return cache.enabled

    await _eventually(back, timeout=5.0)
    await other.sessions.revoke_token(token)

    async def revoked() -> bool:
        return (await _whoami(cached, token)).status_code == 401

    await _eventually(revoked, timeout=1.0)


async def test_cached_whoami_keeps_cookie_reissue_and_expiry(tmp_path: Path, postgres_dsn: str) -> None:
    cfg = base_config(tmp_path, postgres_dsn, feature_flags={"cacheable_sessions": True}, session={"lifespan": "2s"})
    app = make_app(tmp_path, cfg)
    await app.start(migrate=True)
    try:
        identity = await new_identity(app)
        session, token = await issue(app, identity)
        await _listening(app)
        # A cookie that remembers an older expiry is re-issued, from the cache as well.
        old = app.sessions.codec.encode(token, session.expires_at - dt.timedelta(seconds=1))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433") as public:
            answers = [await public.get("/sessions/whoami", headers={"Cookie": f"ory_kratos_session={old}"}) for _ in range(3)]
            public.cookies.clear()
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert all("ory_kratos_session=" in r.headers.get("set-cookie", "") for r in answers)
        assert answers[2].content == answers[0].content
        assert answers[2].headers["x-kratos-authenticated-identity-id"] == str(identity.id)
        # Expiry is checked at every request, not when the entry was made.
        assert (await _whoami(app, token)).status_code == 200
        await asyncio.sleep(max(0.0, (session.expires_at - utcnow()).total_seconds()) + 0.05)
        assert (await _whoami(app, token)).status_code == 401
    finally:
        await app.stop()


async def test_a_revocation_answers_only_when_every_cache_has_it_or_stopped_serving(
    two_processes: tuple[KratosApp, KratosApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caching process serves only with a heartbeat younger than CACHE_STALENESS, and a writer
    answers CACHE_STALENESS after its commit: by then every cache has the change or is bypassed."""
    from kratos_core.persistence.db import CACHE_STALENESS

    cached, other = two_processes
    identity = await new_identity(cached)
    session, token = await issue(cached, identity)
    await _listening(cached)
    assert cached.db.fresh  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await cached.sessions.revoke(session.id)
    assert loop.time() - started >= CACHE_STALENESS
    assert (await _whoami(cached, token)).status_code == 401
    # A process that does not cache sessions has nobody to wait for.
    _, token2 = await issue(other, identity)
    started = loop.time()
    await other.sessions.revoke_token(token2)
    assert loop.time() - started < CACHE_STALENESS


async def test_a_listener_whose_heartbeats_stop_coming_back_stops_the_cache(
    two_processes: tuple[KratosApp, KratosApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kratos_core.persistence.db import CACHE_STALENESS

    cached, _ = two_processes
    identity = await new_identity(cached)
    _, token = await issue(cached, identity)
    await _listening(cached)
    await _whoami(cached, token)
    cache = cached.sessions.session_cache()
    assert cache is not None and len(cache) == 1
    # Heartbeats that are sent but never come back, as behind a stalled connection.
    monkeypatch.setattr(cached.db, "_heartbeat", lambda sent, payload: None)
    await asyncio.sleep(CACHE_STALENESS + 0.05)
    assert cache.enabled and not cached.db.fresh  # type: ignore[attr-defined]
    counter = StatementCounter(cached.db, monkeypatch)
    assert (await _whoami(cached, token)).status_code == 200
    assert len(counter.statements) == 1  # read from the database, not the cache


async def test_cache_is_on_by_default_on_postgres_only(tmp_path: Path, postgres_dsn: str) -> None:
    sqlite = make_app(tmp_path, base_config(tmp_path, f"sqlite://{tmp_path}/k.sqlite", feature_flags={"cacheable_sessions": True}))
    default = make_app(tmp_path, base_config(tmp_path, postgres_dsn))
    off = make_app(tmp_path, base_config(tmp_path, postgres_dsn, feature_flags={"cacheable_sessions": False}))
    await sqlite.start(migrate=True)
    await default.start(migrate=True)
    await off.start()
    try:
        assert sqlite.sessions.session_cache() is None
        assert off.sessions.session_cache() is None
        cache = default.sessions.session_cache()
        assert cache is not None
        identity = await new_identity(default)
        _, token = await issue(default, identity)
        await _listening(default)
        assert (await _whoami(default, token)).status_code == 200
        assert len(cache) == 1
    finally:
        for app in (sqlite, default, off):
            await app.stop()


# -- hashing --------------------------------------------------------------------------------------


def test_hashing_threads_share_the_cores_among_server_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    from kratos_password.pool import HashPool, default_threads

    cores = len(os.sched_getaffinity(0))
    assert default_threads({}) == cores
    assert default_threads({"KRATOS_SERVE_WORKERS": str(cores)}) == 1  # workers = cores: one each
    assert default_threads({"KRATOS_SERVE_WORKERS": str(cores * 4)}) == 1  # never zero
    assert default_threads({"KRATOS_SERVE_WORKERS": "2", "KRATOS_HASH_THREADS": "5"}) == 5
    assert default_threads({"KRATOS_SERVE_WORKERS": "garbage"}) == cores
    monkeypatch.delenv("KRATOS_HASH_THREADS", raising=False)
    monkeypatch.setenv("KRATOS_SERVE_WORKERS", "1")
    pool = HashPool()
    try:
        assert pool.max_workers == cores
        assert HashPool(max_workers=3).max_workers == 3
    finally:
        pool.shutdown()
