"""One small database interface over SQLite (embedded default) and PostgreSQL (production).

Queries are plain SQL written once, in PostgreSQL's ``$1`` placeholder style; for SQLite the
placeholders are rewritten to ``?1`` (SQLite's numbered parameters) once per statement and cached.
Both backends hand back rows as ``dict``-like records with the same Python types: ``uuid.UUID``,
timezone-aware ``datetime`` (UTC), ``bool``, and decoded JSON.

Why not an ORM on this path: ARCHITECTURE.md section 5 measured query building at ~350 us and a
new SQLite connection per query at ~1.9 ms; a whoami must stay near 40 us of database work. So
every backend keeps its connections open: SQLite one connection (statements are microseconds and
run on the event loop, serialised by a lock so a transaction is never interleaved), PostgreSQL an
asyncpg pool (asyncpg prepares and caches statements per connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import msgspec

__all__ = [
    "Database",
    "Connection",
    "UniqueViolation",
    "DatabaseUnavailable",
    "open_database",
    "parse_dsn",
    "DsnInfo",
]

_json_encode = msgspec.json.encode
_json_decode = msgspec.json.decode


class UniqueViolation(Exception):
    """A write broke a unique constraint; ``detail`` names the table/columns when known."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class DatabaseUnavailable(Exception):
    """The database could not be reached."""


class Connection(Protocol):
    """What queries use: the same four calls on a pool, a connection or a transaction."""

    dialect: str

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]: ...
    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None: ...
    async def fetchval(self, sql: str, *args: Any) -> Any: ...
    async def execute(self, sql: str, *args: Any) -> int: ...
    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None: ...


class Database(Connection, Protocol):
    """A connected database: a :class:`Connection` plus transactions and lifecycle."""

    url: str

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...


class DsnInfo(msgspec.Struct, frozen=True):
    """A parsed ``dsn``: which backend, and what to hand its driver."""

    dialect: str  # "sqlite" | "postgres"
    target: str  # sqlite: file path or ":memory:"; postgres: the libpq URL
    redacted: str  # for logs: the password replaced by ***


def parse_dsn(dsn: str) -> DsnInfo:
    """Understand Kratos's ``dsn`` values: ``memory``, ``sqlite://...``, ``postgres(ql)://...``.

    Raises:
        ValueError: for anything else (mysql and cockroach are not supported yet).
    """
    dsn = dsn.strip()
    if dsn == "memory" or dsn.startswith("sqlite://file::memory:") or dsn == "sqlite://:memory:":
        return DsnInfo("sqlite", ":memory:", "memory")
    if dsn.startswith("sqlite://"):
        rest = dsn[len("sqlite://") :]
        path = rest.split("?", 1)[0]
        if path.startswith("file:"):
            path = path[len("file:") :]
        if not path:
            raise ValueError("sqlite dsn needs a path, e.g. sqlite:///var/lib/kratos/db.sqlite")
        return DsnInfo("sqlite", path, dsn)
    scheme = dsn.split("://", 1)[0].lower()
    if scheme in ("postgres", "postgresql"):
        parts = urlsplit(dsn)
        # Kratos DSNs carry driver options libpq does not know (max_conns, ...): drop them.
        known = {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name"}
        query = "&".join(f"{k}={v}" for k, v in parse_qsl(parts.query) if k in known)
        target = parts._replace(scheme="postgresql", query=query).geturl()
        redacted = target
        if parts.password:
            redacted = target.replace(f":{parts.password}@", ":***@", 1)
        return DsnInfo("postgres", target, redacted)
    raise ValueError(f'unsupported dsn scheme "{scheme}": use memory, sqlite:// or postgres://')


async def open_database(dsn: str, *, pool_size: int = 10) -> Database:
    """Open (and keep open) the database a ``dsn`` names."""
    info = parse_dsn(dsn)
    if info.dialect == "sqlite":
        return SqliteDatabase(info)
    db = PostgresDatabase(info)
    await db.connect(pool_size)
    return db


# --------------------------------------------------------------------------------------------
# SQLite


def _adapt_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    # Fixed width, always UTC: string order is time order, so SQL comparisons work.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _convert_datetime(raw: bytes) -> dt.datetime:
    return dt.datetime.fromisoformat(raw.decode().replace("Z", "+00:00"))


sqlite3.register_adapter(dt.datetime, _adapt_datetime)
sqlite3.register_adapter(uuid.UUID, str)
sqlite3.register_adapter(dict, lambda v: _json_encode(v).decode())
sqlite3.register_adapter(list, lambda v: _json_encode(v).decode())
sqlite3.register_converter("UUID", lambda raw: uuid.UUID(raw.decode()))
sqlite3.register_converter("TIMESTAMPTZ", _convert_datetime)
sqlite3.register_converter("JSONB", _json_decode)
sqlite3.register_converter("BOOLEAN", lambda raw: raw not in (b"0", b""))

_PLACEHOLDER = re.compile(r"\$(\d+)")


class _SqliteConn:
    """Runs statements on the one shared sqlite3 connection."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._sql_cache: dict[str, str] = {}

    def _sql(self, sql: str) -> str:
        out = self._sql_cache.get(sql)
        if out is None:
            out = _PLACEHOLDER.sub(r"?\1", sql)
            out = out.replace("::jsonb", "").replace("::uuid", "").replace("::timestamptz", "")
            self._sql_cache[sql] = out
        return out

    def _run(self, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(self._sql(sql), _sqlite_args(args))
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
                raise UniqueViolation(str(exc)) from exc
            raise
        except sqlite3.OperationalError as exc:
            if "database is locked" in str(exc) or "unable to open" in str(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self._run(sql, args).fetchall()]

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        row = self._run(sql, args).fetchone()
        return dict(row) if row is not None else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = self._run(sql, args).fetchone()
        return row[0] if row is not None else None

    async def execute(self, sql: str, *args: Any) -> int:
        return self._run(sql, args).rowcount

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        for item in args:
            self._run(sql, item)


def _sqlite_args(args: Sequence[Any]) -> Sequence[Any]:
    # JSON scalars other than dict/list (a JSON string in a JSONB column) never reach here:
    # the stores always wrap JSON as dict/list or None.
    return args


class SqliteDatabase(_SqliteConn):
    """The embedded default: one connection, WAL, foreign keys on."""

    def __init__(self, info: DsnInfo) -> None:
        conn = sqlite3.connect(
            info.target,
            detect_types=sqlite3.PARSE_DECLTYPES,
            isolation_level=None,  # autocommit; we issue BEGIN/COMMIT ourselves
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        if info.target != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        super().__init__(conn)
        self.url = info.redacted
        self._lock = asyncio.Lock()
        self._closed = False

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        # The lock keeps other coroutines' statements out of this transaction: they share the
        # one connection. Plain statements outside transactions do not take the lock, which is
        # safe because each runs to completion without awaiting.
        async with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteConn(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        await self._wait_for_transaction()
        return await super().fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        await self._wait_for_transaction()
        return await super().fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        await self._wait_for_transaction()
        return await super().fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        await self._wait_for_transaction()
        return await super().execute(sql, *args)

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        await self._wait_for_transaction()
        await super().executemany(sql, args)

    async def _wait_for_transaction(self) -> None:
        # A statement outside a transaction must not run inside another coroutine's open
        # transaction on the shared connection (it would be rolled back with it).
        if self._lock.locked():
            async with self._lock:
                pass

    async def ping(self) -> None:
        self._conn.execute("SELECT 1").fetchone()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.close()


# --------------------------------------------------------------------------------------------
# PostgreSQL


class _PgConn:
    dialect = "postgres"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with _pg_errors():
            return [dict(r) for r in await self._conn.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        with _pg_errors():
            row = await self._conn.fetchrow(sql, *args)
        return dict(row) if row is not None else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        with _pg_errors():
            return await self._conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        with _pg_errors():
            status = await self._conn.execute(sql, *args)
        try:
            return int(status.rsplit(" ", 1)[-1])
        except ValueError:
            return 0

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        with _pg_errors():
            await self._conn.executemany(sql, args)


@contextlib.contextmanager
def _pg_errors() -> Any:
    import asyncpg

    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise UniqueViolation(f"{exc.constraint_name}: {exc.detail or exc}") from exc
    except (OSError, asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.CannotConnectNowError) as exc:
        raise DatabaseUnavailable(str(exc)) from exc


async def _init_pg_connection(conn: Any) -> None:
    for typename in ("jsonb", "json"):
        await conn.set_type_codec(
            typename,
            encoder=lambda v: _json_encode(v).decode(),
            decoder=_json_decode,
            schema="pg_catalog",
        )


class PostgresDatabase(_PgConn):
    """PostgreSQL through an asyncpg pool."""

    def __init__(self, info: DsnInfo) -> None:
        super().__init__(None)
        self._info = info
        self.url = info.redacted

    async def connect(self, pool_size: int) -> None:
        import asyncpg

        try:
            self._conn = await asyncpg.create_pool(
                self._info.target,
                min_size=1,
                max_size=pool_size,
                init=_init_pg_connection,
                command_timeout=30,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(f"cannot connect to {self._info.redacted}: {exc}") from exc

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._conn.acquire() as conn:
            async with conn.transaction():
                yield _PgConn(conn)

    async def ping(self) -> None:
        await self.fetchval("SELECT 1")

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
