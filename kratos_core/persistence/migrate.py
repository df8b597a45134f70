"""Versioned schema migrations: which exist, which are applied, and applying the rest.

Each migration is a module in ``kratos_core.persistence.migrations`` with ``VERSION``, ``NAME``
and ``statements(dialect)``. Applied versions are recorded in ``kratos_migrations``. Every
migration runs in its own transaction; on PostgreSQL an advisory lock makes concurrent
``kratos migrate`` runs (several servers starting at once) apply each migration exactly once.
"""

from __future__ import annotations

import datetime as dt
from types import ModuleType

import msgspec

from .db import Database
from .migrations import m0001_initial, m0002_courier, m0003_codes, m0004_audit

__all__ = ["MIGRATIONS", "MigrationStatus", "migration_status", "apply_migrations", "pending_migrations"]

MIGRATIONS: tuple[ModuleType, ...] = (m0001_initial, m0002_courier, m0003_codes, m0004_audit)

_LOCK_KEY = 0x6B7261746F73  # "kratos" as an integer: the advisory lock id

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS kratos_migrations (
    version TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)
"""


class MigrationStatus(msgspec.Struct, frozen=True):
    version: str
    name: str
    applied_at: dt.datetime | None


async def _applied(db: Database) -> dict[str, dt.datetime]:
    async with db.transaction() as tx:
        if tx.dialect == "postgres":
            # CREATE TABLE IF NOT EXISTS races with itself on PostgreSQL: serialise it.
            await tx.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await tx.execute(_CREATE_TABLE)
    rows = await db.fetch("SELECT version, applied_at FROM kratos_migrations")
    return {r["version"]: r["applied_at"] for r in rows}


async def migration_status(db: Database) -> list[MigrationStatus]:
    """Every known migration with the time it was applied (None when pending)."""
    applied = await _applied(db)
    return [MigrationStatus(m.VERSION, m.NAME, applied.get(m.VERSION)) for m in MIGRATIONS]


async def pending_migrations(db: Database) -> list[str]:
    """Versions not yet applied (``/health/ready`` is not ready while any are)."""
    return [s.version for s in await migration_status(db) if s.applied_at is None]


async def apply_migrations(db: Database) -> list[str]:
    """Apply every pending migration in order; returns the versions applied now."""
    await _applied(db)
    done: list[str] = []
    for module in MIGRATIONS:
        async with db.transaction() as tx:
            if tx.dialect == "postgres":
                await tx.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            seen = await tx.fetchval("SELECT version FROM kratos_migrations WHERE version = $1", module.VERSION)
            if seen is not None:
                continue
            for statement in module.statements(tx.dialect):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO kratos_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                module.VERSION,
                module.NAME,
                dt.datetime.now(dt.UTC),
            )
            done.append(module.VERSION)
    return done
