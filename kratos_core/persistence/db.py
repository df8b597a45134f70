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
import collections
import contextlib
import datetime as dt
import logging
import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import msgspec

log = logging.getLogger(__name__)

__all__ = [
    "Database",
    "Connection",
    "UniqueViolation",
    "DatabaseUnavailable",
    "database_unavailable",
    "open_database",
    "parse_dsn",
    "DsnInfo",
    "SESSION_CHANGES_CHANNEL",
    "Batch",
    "announce",
    "announced",
    "on_local_announcement",
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


def database_unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The :class:`DatabaseUnavailable` behind ``exc`` (itself, or a cause of it), if any: the
    request answers 503 then, never 500."""
    current: BaseException | None = exc
    for _ in range(10):
        if current is None:
            return None
        if isinstance(current, DatabaseUnavailable):
            return current
        current = current.__cause__ or current.__context__
    return None


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
    def batch(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...
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


class _SqliteBusy(DatabaseUnavailable):
    """SQLITE_BUSY: another connection (another process) holds the lock; nothing was done."""


#: How long (milliseconds) a statement waits for a lock another process holds before the request
#: answers 503; ``_busy_timeout`` in the dsn (as Kratos's SQLite driver spells it) overrides.
SQLITE_BUSY_TIMEOUT_MS = 5000


class _SqliteConn:
    """Runs statements on the one shared sqlite3 connection.

    The connection's own busy handler is off (``busy_timeout = 0``): SQLite's busy wait sleeps
    in the calling thread, which here is the event loop's, so a write lock held by another
    process froze every request, ``/health/alive`` included (issue 15). A statement that finds
    the database locked fails at once without having done anything; it is tried again after
    ``asyncio.sleep`` back-off until :attr:`busy_timeout` seconds have passed, then
    :class:`DatabaseUnavailable` (503) is raised.
    """

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, busy_timeout: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> None:
        self._conn = conn
        self._sql_cache: dict[str, str] = {}
        self.busy_timeout = busy_timeout

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
            if "database is locked" in str(exc) or "database table is locked" in str(exc):
                raise _SqliteBusy(str(exc)) from exc
            if "unable to open" in str(exc) or "disk I/O error" in str(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise

    async def _before_retry(self) -> None:
        """Called (without a suspension before the statement runs) ahead of every retry."""

    async def _run_waiting(self, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
        """:meth:`_run` again and again off the lock, never blocking the event loop."""
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.001
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.025)
            await self._before_retry()
            try:
                return self._run(sql, args)
            except _SqliteBusy as exc:
                if time.monotonic() >= deadline:
                    raise DatabaseUnavailable(
                        f"the SQLite database stayed locked by another connection for {self.busy_timeout:g} s"
                    ) from exc

    async def _cursor(self, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._run(sql, args)
        except _SqliteBusy:
            return await self._run_waiting(sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in (await self._cursor(sql, args)).fetchall()]

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        row = (await self._cursor(sql, args)).fetchone()
        return dict(row) if row is not None else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = (await self._cursor(sql, args)).fetchone()
        return row[0] if row is not None else None

    async def execute(self, sql: str, *args: Any) -> int:
        return (await self._cursor(sql, args)).rowcount

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        for item in args:
            await self._cursor(sql, item)


def _sqlite_args(args: Sequence[Any]) -> Sequence[Any]:
    # JSON scalars other than dict/list (a JSON string in a JSONB column) never reach here:
    # the stores always wrap JSON as dict/list or None.
    return args


def _busy_timeout_seconds(dsn: str) -> float:
    query = dsn.split("?", 1)[1] if "?" in dsn else ""
    for key, value in parse_qsl(query):
        if key == "_busy_timeout":
            try:
                return max(int(value), 0) / 1000
            except ValueError:
                raise ValueError(f'sqlite dsn: _busy_timeout must be milliseconds, not "{value}"') from None
    return SQLITE_BUSY_TIMEOUT_MS / 1000


class SqliteDatabase(_SqliteConn):
    """The embedded default: one connection, WAL, foreign keys on.

    Statements run on the event loop thread: each takes microseconds (a whoami is one indexed
    read), and handing every statement to a thread would cost more than the statement (see
    docs/architecture.md, "Failure behaviour"). What could block, waiting for another process's
    lock, is done by :meth:`_run_waiting` with ``asyncio.sleep`` instead.
    """

    def __init__(self, info: DsnInfo) -> None:
        busy_timeout = _busy_timeout_seconds(info.redacted)
        conn = sqlite3.connect(
            info.target,
            detect_types=sqlite3.PARSE_DECLTYPES,
            isolation_level=None,  # autocommit; we issue BEGIN/COMMIT ourselves
            check_same_thread=False,
            timeout=0,  # no busy wait on the event loop thread: see _SqliteConn
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 0")
        conn.execute("PRAGMA foreign_keys = ON")
        super().__init__(conn, busy_timeout)
        if info.target != ":memory:":
            self._pragma_waiting("PRAGMA journal_mode = WAL")
            self._pragma_waiting("PRAGMA synchronous = NORMAL")
        self.url = info.redacted
        self._lock = asyncio.Lock()  # one transaction at a time (they share the connection)
        self._no_transaction = asyncio.Event()  # set while no transaction is open
        self._no_transaction.set()
        self._closed = False

    def _pragma_waiting(self, sql: str) -> None:
        # At startup, before the loop serves anything: a plain blocking retry is fine here.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                self._run(sql, ())
                return
            except _SqliteBusy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        # The lock keeps other transactions out; the event keeps plain statements out of an open
        # transaction (they share the one connection: they would be rolled back with it).
        # While BEGIN waits for another process's write lock, plain statements (reads) go on.
        async with self._lock:
            try:
                self._run("BEGIN IMMEDIATE", ())
            except _SqliteBusy:
                await self._run_waiting("BEGIN IMMEDIATE", ())
            self._no_transaction.clear()
            try:
                yield _SqliteConn(self._conn, self.busy_timeout)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._no_transaction.set()

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
        # transaction on the shared connection (it would be rolled back with it). No await
        # between the last check and the statement: it runs before any other coroutine.
        while not self._no_transaction.is_set():
            await self._no_transaction.wait()

    _before_retry = _wait_for_transaction

    def batch(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        """Writes that must happen together: a transaction here (PostgreSQL sends them as one
        statement)."""
        return self.transaction()

    async def ping(self) -> None:
        await self._wait_for_transaction()
        (await self._cursor("SELECT 1", ())).fetchone()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.close()


# --------------------------------------------------------------------------------------------
# PostgreSQL


# --------------------------------------------------------------------------------------------
# Change announcements (for the session cache, kratos_core.session.store.SessionCache)
#
# A process may keep sessions in memory only if every change to a session or its identity reaches
# it at once. On PostgreSQL, writers announce changes with NOTIFY on one channel (inside their
# transaction, so the announcement is delivered when the change commits) and every process that
# caches LISTENs. Payloads: ``s:<session id>``, ``d:<token digest>``, ``i:<identity id>`` or
# ``*`` (everything). The session and identity stores announce precisely what they change; any
# other statement that writes one of the tables a cached session is built from is announced as
# ``*`` by this module, so code written without the cache in mind cannot leave it stale.

#: The NOTIFY channel of session/identity changes.
SESSION_CHANGES_CHANNEL = "kratos_session_changes"

#: How old (seconds) the proof may be that a caching process has received every announcement:
#: a process serves from its cache only while its newest heartbeat (a NOTIFY it sent to itself
#: and received back, which PostgreSQL delivers after every announcement committed before it)
#: was sent less than this long ago, and a write that announces a change answers only this long
#: after its commit. So once the writer answers, every process either has the announcement or
#: has stopped answering from its cache, however its LISTEN connection is doing (issue 15).
CACHE_STALENESS = 0.15
#: How often (seconds) a listening process sends itself a heartbeat; well below the staleness.
HEARTBEAT_INTERVAL = 0.025
#: A heartbeat not answered within this long (seconds) means the LISTEN connection is lost.
HEARTBEAT_TIMEOUT = 1.0
#: ``application_name`` of the LISTEN connections (``pg_stat_activity`` shows it).
LISTENER_APPLICATION_NAME = "kratos session listener"

_NOTIFY = "SELECT pg_notify($1, $2)"
_CACHED_TABLES = re.compile(
    r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(?:sessions|session_devices|identities|identity_credentials|"
    r"identity_credential_identifiers|identity_verifiable_addresses|identity_recovery_addresses)\b",
    re.IGNORECASE,
)
_announced: set[str] = set()
_flush_after: dict[str, bool] = {}
_local_listeners: list[Any] = []


def announced(sql: str) -> str:
    """Mark a statement whose callers announce its changes themselves (or whose changes need no
    announcement: inserting a new session or identity changes nothing anyone has cached)."""
    _announced.add(sql)
    _flush_after.pop(sql, None)
    return sql


def on_local_announcement(listener: Any) -> None:
    """Call ``listener(payload)`` for every announcement made in this process, right away (the
    process's own cache must not wait for its notification to come back from the server)."""
    _local_listeners.append(listener)


def _needs_flush(sql: str) -> bool:
    flush = _flush_after.get(sql)
    if flush is None:
        flush = sql not in _announced and _CACHED_TABLES.search(sql) is not None
        if len(_flush_after) < 4096:
            _flush_after[sql] = flush
    return flush


def _tell_local(payload: str) -> None:
    for listener in _local_listeners:
        listener(payload)


async def announce(conn: Connection, payload: str) -> None:
    """Announce a change to sessions/identities (delivered at commit when ``conn`` is a
    transaction). No-op on SQLite, where nothing is cached."""
    if conn.dialect != "postgres":
        return
    if isinstance(conn, Batch):
        conn.announcements.append(payload)  # sent right after the batch's statement
        return
    await conn.fetchval(_NOTIFY, SESSION_CHANGES_CHANNEL, payload)
    _tell_local(payload)
    if isinstance(conn, _PgConn):
        conn.announced.append(payload)  # delivered at commit: the transaction waits for it then
    elif isinstance(conn, PostgresDatabase):
        await conn.await_echo(payload)


async def _flush_announcement(raw_conn: Any) -> None:
    await raw_conn.fetchval(_NOTIFY, SESSION_CHANGES_CHANNEL, "*")
    _tell_local("*")


class Batch:
    """Blind writes collected and sent to PostgreSQL as ONE statement (each write a
    data-modifying CTE): atomic without BEGIN/COMMIT, and one round trip instead of one per write
    plus two. Foreign keys are checked at the end of the statement, so parents and children may
    be written together. Only plain INSERT/UPDATE/DELETE statements (no WITH of their own) whose
    result nobody reads: :meth:`execute` answers 0; reads raise ``TypeError``.

    Use :meth:`PostgresDatabase.batch` (a transaction on SQLite).
    """

    dialect = "postgres"

    def __init__(self) -> None:
        self.parts: list[tuple[str, Sequence[Any]]] = []
        self.announcements: list[str] = []

    def add(self, sql: str, args: Sequence[Any]) -> None:
        self.parts.append((sql, args))

    async def execute(self, sql: str, *args: Any) -> int:
        self.add(sql, args)
        return 0

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        for item in args:
            self.add(sql, item)

    async def _refuse(self, sql: str, *args: Any) -> Any:
        raise TypeError("a write batch cannot answer reads; run them before or after it")

    fetch = fetchrow = fetchval = _refuse

    def compose(self) -> tuple[str, list[Any]]:
        """The one statement and its arguments (placeholders renumbered part by part)."""
        ctes: list[str] = []
        args: list[Any] = []
        for i, (sql, part_args) in enumerate(self.parts):
            offset = len(args)
            renumbered = _PLACEHOLDER.sub(lambda m, o=offset: f"${int(m.group(1)) + o}", sql) if offset else sql
            ctes.append(f"b{i} AS ({renumbered})")
            args.extend(part_args)
        return "WITH " + ", ".join(ctes) + " SELECT 1", args

    async def send(self, conn: Connection) -> None:
        """Run the batch on ``conn`` (the database, or a transaction)."""
        if len(self.parts) == 1:
            sql, args = self.parts[0]
            await conn.execute(sql, *args)
        elif self.parts:
            sql, args = self.compose()
            if not any(_needs_flush(part) for part, _ in self.parts):
                announced(sql)  # its writes are announced by their callers, like each part's
            await conn.fetchval(sql, *args)
        self.parts = []
        announcements, self.announcements = self.announcements, []
        for payload in dict.fromkeys(announcements):
            await announce(conn, payload)


class _PgConn:
    dialect = "postgres"

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        #: Announcements made in this transaction (their echo is awaited after the commit).
        self.announced: list[str] = []

    # Plain try/except rather than a context manager: these run several times per request and
    # a generator-based context manager costs more than the statement's Python side.

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        try:
            rows = await self._conn.fetch(sql, *args)
        except Exception as exc:
            _raise_ours(exc)
            raise
        if _needs_flush(sql):  # a write with RETURNING
            await _flush_announcement(self._conn)
            self.announced.append("*")
        return [dict(r) for r in rows]

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        try:
            row = await self._conn.fetchrow(sql, *args)
        except Exception as exc:
            _raise_ours(exc)
            raise
        if _needs_flush(sql):
            await _flush_announcement(self._conn)
            self.announced.append("*")
        return dict(row) if row is not None else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        try:
            value = await self._conn.fetchval(sql, *args)
        except Exception as exc:
            _raise_ours(exc)
            raise
        if _needs_flush(sql):
            await _flush_announcement(self._conn)
            self.announced.append("*")
        return value

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            status = await self._conn.execute(sql, *args)
        except Exception as exc:
            _raise_ours(exc)
            raise
        if _needs_flush(sql):
            await _flush_announcement(self._conn)
            self.announced.append("*")
        try:
            return int(status.rsplit(" ", 1)[-1])
        except ValueError:
            return 0

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        try:
            await self._conn.executemany(sql, args)
        except Exception as exc:
            _raise_ours(exc)
            raise
        if _needs_flush(sql):
            await _flush_announcement(self._conn)
            self.announced.append("*")


def _raise_ours(exc: Exception) -> None:
    """Raise our exception for a driver error that has one; return for any other."""
    import asyncpg

    if isinstance(exc, asyncpg.UniqueViolationError):
        raise UniqueViolation(f"{exc.constraint_name}: {exc.detail or exc}") from exc
    if _connection_lost(exc) or isinstance(exc, (TimeoutError, asyncpg.TooManyConnectionsError)):
        raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc


def _connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection (not the statement) failed: refused, closed, killed
    by the server (``pg_terminate_backend``, shutdown, crash)."""
    import asyncpg

    if isinstance(exc, (OSError, asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.CannotConnectNowError)):
        return True
    if isinstance(
        exc,
        (
            asyncpg.exceptions.AdminShutdownError,  # 57P01: pg_terminate_backend, smart/fast shutdown
            asyncpg.exceptions.CrashShutdownError,  # 57P02
            asyncpg.exceptions.PostgresConnectionError,  # class 08
        ),
    ):
        return True
    if isinstance(exc, asyncpg.exceptions._base.InternalClientError):
        # "cannot switch to state ...": the connection got the server's FATAL message while
        # idle in the pool and refuses the statement before sending it.
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


def _not_applied(exc: BaseException) -> bool:
    """Whether a statement that failed with ``exc`` certainly changed nothing.

    An error *response* from the server (``AdminShutdownError`` when the backend was terminated
    while running it) means the statement failed and its implicit transaction rolled back; the
    driver refusing a closed connection means nothing was sent. A connection that just vanished
    mid-statement (``ConnectionDoesNotExistError``) says nothing either way: the write may have
    committed.
    """
    import asyncpg

    if isinstance(exc, (asyncpg.PostgresError, asyncpg.exceptions._base.InternalClientError)):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


_READ_ONLY: dict[str, bool] = {}


def _read_only(sql: str) -> bool:
    """A plain SELECT (no data-modifying CTE, no row locks): safe to run twice."""
    ro = _READ_ONLY.get(sql)
    if ro is None:
        head = sql.lstrip()[:6].upper()
        upper = sql.upper()
        ro = head == "SELECT" and " FOR UPDATE" not in upper and " FOR SHARE" not in upper and "PG_NOTIFY" not in upper
        if len(_READ_ONLY) < 4096:
            _READ_ONLY[sql] = ro
    return ro


async def _init_pg_connection(conn: Any) -> None:
    for typename in ("jsonb", "json"):
        await conn.set_type_codec(
            typename,
            encoder=lambda v: _json_encode(v).decode(),
            decoder=_json_decode,
            schema="pg_catalog",
        )


#: Session settings of every pooled connection. Our statements are key lookups whose best plan
#: does not depend on the parameter values, so the generic plan of a prepared statement is as
#: good as a custom one, and forcing it saves re-planning on every execution (the whoami
#: statement's planning took longer than its execution; measured in bench/README.md).
_PG_SESSION_SETTINGS = {"plan_cache_mode": "force_generic_plan"}

#: Seconds a statement may run before the driver gives up on it.
_COMMAND_TIMEOUT = 30


class _LeanPool:
    """A minimal connection pool for asyncpg connections, for the hot paths.

    asyncpg's own pool costs ~75 us of CPU per acquire/release on this class of machine (a task
    per release for ``shield``, timers for idle connections) and by default sends a reset query
    (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``) after *every* use,
    a second round trip per statement. Here a connection is taken from a LIFO stack (the most
    recently used one, whose prepared statements are warm) and put back, nothing more: our
    statements never take advisory locks, LISTEN or SET anything on a pooled connection.

    A connection that saw anything but a clean finish or a server-side SQL error (cancellation,
    I/O error, timeout, a transaction left open) is terminated rather than reused; its slot is
    handed to the next waiter, who opens a fresh connection.
    """

    def __init__(self, target: str, max_size: int) -> None:
        self._target = target
        self._max = max_size
        self._size = 0  # connections open or being opened
        self._idle: list[Any] = []
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._closed = False

    async def _connect(self) -> Any:
        import asyncpg

        conn = await asyncpg.connect(
            self._target,
            command_timeout=_COMMAND_TIMEOUT,
            server_settings=_PG_SESSION_SETTINGS,
        )
        try:
            await _init_pg_connection(conn)
        except BaseException:
            conn.terminate()
            raise
        return conn

    async def start(self) -> None:
        self._size += 1
        try:
            self._idle.append(await self._connect())
        except BaseException:
            self._size -= 1
            raise

    async def acquire(self) -> Any:
        if self._closed:
            raise DatabaseUnavailable("the database connection pool is closed")
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.is_closed():
                return conn
            self._size -= 1
        if self._size < self._max:
            return await self._open_slot()
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            conn = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Handed a connection (or a slot) just as we were cancelled: pass it on.
                granted = waiter.result()
                if granted is None:
                    self._size -= 1
                    self._wake_for_slot()
                else:
                    self.release(granted)
            raise
        if conn is None:  # a slot was freed: open our own connection in it
            self._size -= 1
            return await self._open_slot()
        return conn

    async def _open_slot(self) -> Any:
        self._size += 1
        try:
            return await self._connect()
        except BaseException:
            self._size -= 1
            self._wake_for_slot()
            raise

    def release(self, conn: Any) -> None:
        """Put back a connection that finished cleanly."""
        if self._closed or conn.is_closed() or conn.is_in_transaction():
            self.discard(conn)
            return
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def discard(self, conn: Any) -> None:
        """Drop a connection whose state is unknown (after cancellation, I/O errors...)."""
        conn.terminate()
        self._size -= 1
        self._wake_for_slot()

    def purge_idle(self) -> None:
        """Drop every idle connection: one was found killed by the server (a restart, an
        operator's ``pg_terminate_backend``), so the others likely were too; the next acquire
        opens a fresh one."""
        idle, self._idle = self._idle, []
        for conn in idle:
            self.discard(conn)

    def _wake_for_slot(self) -> None:
        waiters = self._waiters
        while waiters and self._size < self._max:
            waiter = waiters.popleft()
            if not waiter.done():
                self._size += 1  # reserved for the waiter, which opens the connection
                waiter.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(DatabaseUnavailable("the database connection pool is closed"))
        self._waiters.clear()
        for conn in idle:
            self._size -= 1
            try:
                await conn.close(timeout=5)
            except Exception:  # noqa: BLE001 - closing anyway
                conn.terminate()


def _reusable_after(exc: BaseException) -> bool:
    """Whether a connection whose statement raised ``exc`` is in a known, idle state."""
    import asyncpg

    # A server-side SQL error (constraint, syntax...) leaves the connection idle and usable;
    # anything else (cancellation, timeout, I/O, protocol state, a terminated backend) may
    # leave a query in flight or the connection dead.
    return (
        isinstance(exc, asyncpg.PostgresError)
        and not isinstance(exc, asyncpg.InterfaceError)
        and not _connection_lost(exc)
    )


class PostgresDatabase:
    """PostgreSQL through a lean pool of asyncpg connections (see :class:`_LeanPool`).

    A statement outside a transaction borrows a connection for just that statement.
    """

    dialect = "postgres"

    def __init__(self, info: DsnInfo) -> None:
        self._info = info
        self.url = info.redacted
        self._pool: _LeanPool | None = None
        self._listeners: list[asyncio.Task[None]] = []
        self._listening = 0
        #: Until when (``time.monotonic()``) this process is proven to have every announcement.
        self.fresh_until = 0.0

    async def connect(self, pool_size: int) -> None:
        import asyncpg

        pool = _LeanPool(self._info.target, pool_size)
        try:
            await pool.start()
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(f"cannot connect to {self._info.redacted}: {exc}") from exc
        self._pool = pool

    async def _run(self, method: str, sql: str, args: Sequence[Any]) -> Any:
        pool = self._pool
        if pool is None:
            raise DatabaseUnavailable("the database is not connected")
        retried = False
        while True:
            try:
                conn = await pool.acquire()
            except Exception as exc:
                _raise_ours(exc)
                raise
            try:
                result = await getattr(conn, method)(sql, *args)
            except BaseException as exc:
                if _reusable_after(exc):
                    pool.release(conn)
                else:
                    pool.discard(conn)
                if isinstance(exc, Exception):
                    # A pooled connection the server killed (pg_terminate_backend, restart):
                    # once more on a fresh one, where running the statement again cannot
                    # apply it twice (issue 15). Otherwise DatabaseUnavailable: a 503.
                    if not retried and _connection_lost(exc) and (_read_only(sql) or _not_applied(exc)):
                        retried = True
                        log.info("database connection lost (%s); retrying the statement once", type(exc).__name__)
                        pool.purge_idle()
                        continue
                    _raise_ours(exc)
                raise
            break
        flushed = _needs_flush(sql)
        if flushed:
            try:
                await _flush_announcement(conn)
            except BaseException as exc:
                pool.discard(conn)
                if not isinstance(exc, Exception) or not _connection_lost(exc):
                    raise
                # The write is committed: announce it on another connection.
                await self._run("fetchval", _NOTIFY, (SESSION_CHANGES_CHANNEL, "*"))
                _tell_local("*")
            else:
                pool.release(conn)
        else:
            pool.release(conn)
        if flushed:
            await self.await_echo("*")
        return result

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._run("fetch", sql, args)]

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        row = await self._run("fetchrow", sql, args)
        return dict(row) if row is not None else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run("fetchval", sql, args)

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._run("execute", sql, args)
        try:
            return int(status.rsplit(" ", 1)[-1])
        except ValueError:
            return 0

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        await self._run("executemany", sql, (args,))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        pool = self._pool
        if pool is None:
            raise DatabaseUnavailable("the database is not connected")
        retried = False
        while True:
            try:
                conn = await pool.acquire()
            except Exception as exc:
                _raise_ours(exc)
                raise
            tr = conn.transaction()
            try:
                await tr.start()
            except BaseException as exc:
                pool.discard(conn)
                if isinstance(exc, Exception):
                    # Nothing ran yet: a killed pooled connection is replaced once.
                    if not retried and _connection_lost(exc):
                        retried = True
                        pool.purge_idle()
                        continue
                    _raise_ours(exc)
                raise
            break
        tx = _PgConn(conn)
        try:
            yield tx
        except BaseException as exc:
            # Our own errors raised inside the block (a duplicate, a validation error) leave the
            # connection usable once rolled back; a cancelled or failed statement may not.
            if isinstance(exc, Exception) and not isinstance(exc, (OSError, asyncio.TimeoutError)) and (
                _reusable_after(exc) or not _is_driver_error(exc)
            ) and not conn.is_closed():
                try:
                    await tr.rollback()
                except Exception:  # noqa: BLE001 - the connection is gone: the server rolled back
                    pool.discard(conn)
                else:
                    pool.release(conn)  # discarded there if a transaction is still open
            else:
                pool.discard(conn)
            if isinstance(exc, Exception):
                _raise_ours(exc)
            raise
        try:
            await tr.commit()
        except BaseException as exc:
            # The outcome of a COMMIT whose connection died is unknown: 503, never 500.
            if _reusable_after(exc):
                pool.release(conn)
            else:
                pool.discard(conn)
            if isinstance(exc, Exception):
                _raise_ours(exc)
            raise
        pool.release(conn)
        if tx.announced:
            await self.await_echo(tx.announced[-1])

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[Connection]:
        """Blind writes that must happen together, sent as one statement at the end of the block
        (nothing is sent when the block raises). See :class:`Batch`."""
        batch = Batch()
        yield batch  # type: ignore[misc]
        await batch.send(self)

    async def ping(self) -> None:
        await self.fetchval("SELECT 1")

    async def await_echo(self, payload: str) -> None:
        """After a committed announcement: wait until every caching process has received it or
        stopped answering from its cache (:data:`CACHE_STALENESS` after the commit).

        PostgreSQL delivers notifications in commit order, and a process serves cached sessions
        only while it holds a heartbeat sent less than :data:`CACHE_STALENESS` ago; a heartbeat
        sent after this commit arrives after this announcement. No wait where this process does
        not cache sessions (the deployment's processes share their config).
        """
        if self._listeners:
            await asyncio.sleep(CACHE_STALENESS)

    @property
    def fresh(self) -> bool:
        """Whether this process has provably received every announcement older than
        :data:`CACHE_STALENESS` (a cache may answer only then)."""
        return time.monotonic() < self.fresh_until

    def _set_listening(self, up: bool) -> None:
        self._listening += 1 if up else -1
        if not up:
            self.fresh_until = 0.0

    def listen(self, channel: str, on_message: Any, on_state: Any) -> None:
        """LISTEN on ``channel`` on a dedicated connection, for as long as the database is open.

        ``on_message(payload)`` is called for every notification; ``on_state(True)`` once the
        connection listens (again), ``on_state(False)`` as soon as it is lost or a heartbeat is
        not answered within :data:`HEARTBEAT_TIMEOUT`, after which it reconnects with back-off.
        Every :data:`HEARTBEAT_INTERVAL` the connection notifies a channel of its own; each
        heartbeat that comes back moves :attr:`fresh_until` to its send time plus
        :data:`CACHE_STALENESS`.
        """
        task = asyncio.get_running_loop().create_task(self._listen_forever(channel, on_message, on_state))
        self._listeners.append(task)

    async def _listen_forever(self, channel: str, on_message: Any, on_state: Any) -> None:
        import asyncpg

        delay = 0.1
        up = False
        own = f"kratos_heartbeat_{secrets.token_hex(8)}"
        while True:
            conn = None
            lost = asyncio.get_running_loop().create_future()
            sent: dict[int, float] = {}
            try:
                conn = await asyncpg.connect(
                    self._info.target,
                    command_timeout=HEARTBEAT_TIMEOUT,
                    server_settings={"application_name": LISTENER_APPLICATION_NAME},
                )
                conn.add_termination_listener(lambda _c, lost=lost: lost.done() or lost.set_result(None))
                await conn.add_listener(channel, lambda _c, _pid, _ch, payload: on_message(payload))
                await conn.add_listener(own, lambda _c, _pid, _ch, payload, sent=sent: self._heartbeat(sent, payload))
                on_state(True)
                self._set_listening(True)
                up = True
                delay = 0.1
                beat = 0
                while not lost.done():
                    beat += 1
                    sent[beat] = time.monotonic()
                    await conn.execute("SELECT pg_notify($1, $2)", own, str(beat), timeout=HEARTBEAT_TIMEOUT)
                    await asyncio.wait([lost], timeout=HEARTBEAT_INTERVAL)
            except asyncio.CancelledError:
                on_state(False)
                if up:
                    self._set_listening(False)
                if conn is not None:
                    conn.terminate()
                raise
            except Exception:  # noqa: BLE001 - any failure: stop trusting, reconnect
                pass
            on_state(False)
            if up:
                self._set_listening(False)
                up = False
            if conn is not None:
                conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _heartbeat(self, sent: dict[int, float], payload: str) -> None:
        beat = int(payload)
        at = sent.pop(beat, None)
        if at is not None and self._listening:
            self.fresh_until = max(self.fresh_until, at + CACHE_STALENESS)
        for older in [key for key in sent if key < beat]:
            del sent[older]  # beats are answered in order: an older one still here was lost

    async def close(self) -> None:
        for task in self._listeners:
            task.cancel()
        for task in self._listeners:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._listeners.clear()
        if self._pool is not None:
            await self._pool.close()


def _is_driver_error(exc: BaseException) -> bool:
    import asyncpg

    return isinstance(exc, (asyncpg.InterfaceError, asyncpg.PostgresError)) or type(exc).__module__.startswith("asyncpg")
