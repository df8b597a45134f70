"""Storage on the embedded SQLite file database and on PostgreSQL, through the same queries."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from kratos_core.identity.model import Credential, Identity, VerifiableAddress, utcnow
from kratos_core.persistence import identities as store
from kratos_core.persistence.db import UniqueViolation, open_database, parse_dsn
from kratos_core.persistence.migrate import MIGRATIONS, apply_migrations, migration_status, pending_migrations


def new_identity(email: str) -> Identity:
    now = utcnow()
    ident = Identity(id=uuid.uuid4(), schema_id="default", traits={"email": email}, created_at=now, updated_at=now)
    ident.credentials["password"] = Credential(
        id=uuid.uuid4(), type="password", identifiers=[email], config={"hashed_password": "$argon2id$x"}, created_at=now, updated_at=now
    )
    ident.verifiable_addresses.append(VerifiableAddress(id=uuid.uuid4(), value=email, via="email", created_at=now, updated_at=now))
    return ident


@pytest.fixture
async def db(any_dsn: str):
    database = await open_database(any_dsn)
    await apply_migrations(database)
    try:
        yield database
    finally:
        await database.close()


async def test_migrations_are_versioned_and_idempotent(any_dsn: str) -> None:
    database = await open_database(any_dsn)
    try:
        versions = [m.VERSION for m in MIGRATIONS]
        assert versions[0] == "0001" and versions == sorted(versions)
        assert await pending_migrations(database) == versions
        assert await apply_migrations(database) == versions
        assert await apply_migrations(database) == []
        statuses = await migration_status(database)
        assert [s.version for s in statuses] == versions
        assert all(s.applied_at is not None for s in statuses)
    finally:
        await database.close()


async def test_concurrent_migrations_apply_once(postgres_dsn: str) -> None:
    dbs = [await open_database(postgres_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(apply_migrations(d) for d in dbs))
        assert sorted(sum(results, [])) == [m.VERSION for m in MIGRATIONS]
    finally:
        for d in dbs:
            await d.close()


async def test_identity_round_trip_keeps_types(db) -> None:
    ident = new_identity("round@example.org")
    ident.metadata_public = {"nested": {"list": [1, 2.5, None, True]}}
    await store.insert_identity(db, ident)
    loaded = await store.get_identity(db, ident.id)
    assert loaded is not None
    assert loaded.id == ident.id and isinstance(loaded.id, uuid.UUID)
    assert loaded.traits == {"email": "round@example.org"}
    assert loaded.metadata_public == {"nested": {"list": [1, 2.5, None, True]}}
    assert loaded.metadata_admin is None
    assert loaded.created_at.tzinfo is not None
    assert abs(loaded.created_at - ident.created_at) < dt.timedelta(milliseconds=1)
    assert loaded.credentials["password"].identifiers == ["round@example.org"]
    assert loaded.credentials["password"].config == {"hashed_password": "$argon2id$x"}
    assert loaded.verifiable_addresses[0].verified is False


async def test_duplicate_identifier_rolls_back_the_whole_identity(db) -> None:
    await store.insert_identity(db, new_identity("dup@example.org"))
    second = new_identity("dup@example.org")
    with pytest.raises(UniqueViolation):
        async with db.transaction() as tx:
            await store.insert_identity(tx, second)
    assert await store.get_identity(db, second.id) is None
    assert await store.count_identities(db) == 1


async def test_update_rewrites_identifiers_and_delete_cascades(db) -> None:
    ident = new_identity("old@example.org")
    await store.insert_identity(db, ident)
    ident.traits = {"email": "new@example.org"}
    ident.credentials["password"].identifiers = ["new@example.org"]
    async with db.transaction() as tx:
        await store.update_identity(tx, ident)
    assert await store.find_identity_id_by_identifier(db, "new@example.org", "password") == [ident.id]
    assert await store.find_identity_id_by_identifier(db, "old@example.org") == []
    assert await store.delete_identity(db, ident.id) is True
    assert await db.fetchval("SELECT count(*) FROM identity_credential_identifiers") == 0
    assert await db.fetchval("SELECT count(*) FROM identity_verifiable_addresses") == 0
    assert await store.delete_identity(db, ident.id) is False


async def test_keyset_listing_is_ordered_by_id(db) -> None:
    made = [new_identity(f"k{i}@example.org") for i in range(5)]
    for ident in made:
        await store.insert_identity(db, ident)
    ids = sorted(i.id for i in made)
    page1 = await store.list_identities(db, limit=2)
    page2 = await store.list_identities(db, limit=2, after=page1[-1].id)
    page3 = await store.list_identities(db, limit=2, after=page2[-1].id)
    assert [i.id for i in page1 + page2 + page3] == ids


async def test_a_transaction_is_not_interleaved_with_other_statements(db) -> None:
    ident = new_identity("tx@example.org")

    async def writer() -> None:
        async with db.transaction() as tx:
            await store.insert_identity(tx, ident)
            await asyncio.sleep(0.05)
            raise RuntimeError("abort")

    async def reader() -> int:
        await asyncio.sleep(0.01)
        return await store.count_identities(db)

    results = await asyncio.gather(writer(), reader(), return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert results[1] == 0
    assert await store.count_identities(db) == 0


def test_dsn_parsing() -> None:
    assert parse_dsn("memory").target == ":memory:"
    assert parse_dsn("sqlite:///var/lib/k.sqlite?_fk=true").target == "/var/lib/k.sqlite"
    assert parse_dsn("sqlite://./rel.sqlite?_fk=true").target == "./rel.sqlite"
    pg = parse_dsn("postgres://u:secret@db:5432/kratos?sslmode=disable&max_conns=20")
    assert pg.dialect == "postgres"
    assert pg.target == "postgresql://u:secret@db:5432/kratos?sslmode=disable"
    assert "secret" not in pg.redacted
    with pytest.raises(ValueError, match="unsupported"):
        parse_dsn("mysql://x")
