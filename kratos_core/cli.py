"""The ``kratos`` command line: serve, migrate, identities, plugins, version."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import click

from . import __version__

__all__ = ["main", "cli"]

log = logging.getLogger("kratos")

DEFAULT_ADMIN_URL = "http://127.0.0.1:4434"


def _setup_logging(level: str = "info", fmt: str = "text") -> None:
    level_no = getattr(logging, level.upper(), logging.INFO)
    if fmt == "json":
        format_ = '{"time": "%(asctime)s", "level": "%(levelname)s", "logger": "%(name)s", "msg": %(message)r}'
    else:
        format_ = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    logging.basicConfig(level=level_no, format=format_, stream=sys.stderr, force=True)


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@contextlib.contextmanager
def _boot_errors() -> Iterator[None]:
    """Turn the known start-up failures into one clear line and exit code 1 (no traceback)."""
    from .app import MissingMigrations
    from .config import ConfigError
    from .identity.schema import SchemaLoadError
    from .persistence.db import DatabaseUnavailable
    from .plugins.manager import PluginError
    from .plugins.registry import DuplicateRegistration

    try:
        yield
    except (ConfigError, PluginError, DuplicateRegistration, SchemaLoadError, MissingMigrations, DatabaseUnavailable) as exc:
        _fail(str(exc))
    except ValueError as exc:  # e.g. an unsupported dsn scheme
        _fail(str(exc))
    except OSError as exc:  # e.g. the port is taken
        _fail(f"cannot start: {exc}")


class _KratosGroup(click.Group):
    """The root group; plugins add commands through ``kratos_register_commands``."""

    _plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from .plugins.manager import PluginHost

        with contextlib.suppress(Exception):
            PluginHost().register_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command


@click.group(cls=_KratosGroup)
@click.version_option(__version__, prog_name="kratos-core")
def cli() -> None:
    """An identity server that speaks the Ory Kratos HTTP API."""


# -- serve --------------------------------------------------------------------------------------


@cli.command()
@click.option("-c", "--config", "config_files", multiple=True, type=click.Path(dir_okay=False), help="Config file (YAML or JSON); repeatable, merged in order.")
@click.option("--dev", is_flag=True, help="Development mode: insecure cookies allowed, courier bodies shown, automatic migrations on SQLite.")
@click.option("--watch-courier", is_flag=True, help="Also run the courier worker in this process.")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True, envvar="KRATOS_WORKERS", help="Server processes sharing both ports (use the number of cores in production; env KRATOS_WORKERS).")
@click.option("--sqa-opt-out", is_flag=True, hidden=True, help="Accepted for compatibility; we send no telemetry.")
def serve(config_files: Sequence[str], dev: bool, watch_courier: bool, workers: int, sqa_opt_out: bool) -> None:
    """Run the public and admin APIs."""
    del sqa_opt_out
    from .app import build_app

    overrides = {"watch-courier": True} if watch_courier else None
    # Per-process pools sized by cores (the password plugin's hashing threads) share the cores
    # among the server processes: N workers x cores threads would oversubscribe them.
    os.environ["KRATOS_SERVE_WORKERS"] = str(workers)
    metrics_dir = _metrics_directory(workers)
    with _boot_errors():
        app = build_app(config_files, dev=dev, overrides=overrides)
    _setup_logging(app.config.log.level, app.config.log.format)
    if workers > 1 and _ephemeral(app):
        raise click.UsageError("dsn: memory keeps every identity in one process's memory: it cannot be shared by --workers")
    with _boot_errors():
        asyncio.run(_prepare(app, dev=dev))
        sockets = [_listen(app.config.serve.public.host, app.config.serve.public.port), _listen(app.config.serve.admin.host, app.config.serve.admin.port)]
        if workers == 1:
            _run_server(_serve(app, sockets))
        else:
            try:
                _serve_workers(config_files, dev, sockets, workers, overrides)
            finally:
                if metrics_dir is not None:
                    import shutil

                    shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_directory(workers: int) -> str | None:
    """With several workers, share the Prometheus metrics through files (prometheus-client's
    multiprocess mode): a fresh ``PROMETHEUS_MULTIPROC_DIR`` set before the library is imported
    and the workers fork, so a scrape answered by any worker sums them all. An operator's own
    ``PROMETHEUS_MULTIPROC_DIR`` is kept (and must be emptied between runs, as the library asks).
    Returns the directory made here (removed at exit), or None.
    """
    if workers == 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    if "prometheus_client" in sys.modules:  # too late to switch (an embedding process)
        log.warning("prometheus_client was imported before the workers: each worker reports its own metrics")
        return None
    import tempfile

    directory = tempfile.mkdtemp(prefix="kratos-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def _ephemeral(app: Any) -> bool:
    """Whether the database lives in this process's memory only (``dsn: memory``)."""
    from .persistence.db import parse_dsn

    info = parse_dsn(app.config.dsn)
    return info.dialect == "sqlite" and info.target == ":memory:"


async def _prepare(app: Any, *, dev: bool) -> None:
    """Migrate (dev on SQLite) and check the database once, before any worker starts.

    An in-memory database is new and empty in every process, so the serving process migrates
    its own (Kratos's quickstart configs all use ``dsn: memory``); nothing to check here.
    """
    from .persistence.db import parse_dsn

    if _ephemeral(app):
        return
    embedded = parse_dsn(app.config.dsn).dialect == "sqlite"
    await app.start(migrate=dev and embedded)
    await app.stop()


def _listen(host: str | None, port: int) -> Any:
    import socket

    host = host or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this on Linux. Without it uvloop leaves Nagle on for sockets it
    # did not create, and every small response waits ~40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve_workers(config_files: Sequence[str], dev: bool, sockets: list[Any], workers: int, overrides: dict[str, Any] | None) -> None:
    """Fork ``workers`` processes that accept on the same two sockets; stop them on SIGTERM."""
    from .app import build_app

    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: a fresh app (own database pool) on the inherited sockets
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            child = build_app(config_files, dev=dev, overrides=overrides)
            _run_server(_serve(child, sockets))
            os._exit(0)
        children.append(pid)
    log.info("started %d workers", workers)

    def forward(signum: int, frame: Any) -> None:
        del frame
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for pid in children:
        _, code = os.waitpid(pid, 0)
        status = status or os.waitstatus_to_exitcode(code)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid)  # its live gauges stop counting
    sys.exit(status)


def _run_server(main: Any) -> None:
    """Run the servers on uvloop when it is installed (it comes with ``uvicorn[standard]``), as
    ``uvicorn`` itself does (``loop="auto"`` only applies to ``uvicorn.run``, not to the
    ``Server.serve`` we call); the default asyncio loop otherwise. HTTP parsing is httptools
    either way (``http="auto"``). ``KRATOS_EVENT_LOOP=asyncio`` keeps the default loop (for
    comparisons, or a platform where uvloop misbehaves). See bench/README.md for the figures.
    """
    try:
        if os.environ.get("KRATOS_EVENT_LOOP") == "asyncio":
            raise ImportError("the default loop was asked for")
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


async def _serve(app: Any, sockets: list[Any]) -> None:
    import uvicorn

    await app.start(migrate=_ephemeral(app))
    if app.config.watch_courier:
        # --watch-courier: deliver in this process (consume the hand-offs, poll the database).
        try:
            await app.courier.start_worker()
        except BaseException:
            await app.stop()
            raise
    # Everything built so far (config, schemas, routes, plugins: ~70k objects) lives as long as
    # the process. Out of the collector's sight, a full collection no longer walks it: those
    # walks took 50-100 ms every few hundred requests here, which was whoami's p99.
    gc.collect()
    gc.freeze()
    servers = [
        _Server(uvicorn.Config(app.public, lifespan="off", log_config=None, access_log=False, server_header=False)),
        _Server(uvicorn.Config(app.admin, lifespan="off", log_config=None, access_log=False, server_header=False)),
    ]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: [setattr(s, "should_exit", True) for s in servers])
    log.info(
        "serving public API on %s and admin API on %s (database %s)",
        app.public_base_url,
        app.admin_base_url,
        app.db.url,
    )
    try:
        await asyncio.gather(*(s.serve(sockets=[sock]) for s, sock in zip(servers, sockets, strict=True)))
    finally:
        await app.stop()
        log.info("stopped")


#: Seconds between closing the listening sockets and closing connections without a request.
_SHUTDOWN_READ_GRACE = 0.25


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """A uvicorn server that leaves signals to us: two servers share one process."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        async def shutdown(self, sockets: Any = None) -> None:
            # Stop listening first, then give connections accepted just before a moment for
            # their request to arrive: uvicorn closes a connection that has no request under
            # way at once, which drops a request already sent but not yet read (issue 15).
            for server in self.servers:
                server.close()
            await asyncio.sleep(_SHUTDOWN_READ_GRACE)
            await super().shutdown(sockets=sockets)

    return Server


def _Server(config: Any) -> Any:  # noqa: N802 - a factory that reads like a class
    return _server_class()(config)


# -- migrate ------------------------------------------------------------------------------------


@cli.group()
def migrate() -> None:
    """Database migrations."""


@migrate.command("sql")
@click.argument("dsn", required=False)
@click.option("-e", "--read-from-env", is_flag=True, help="Read the DSN from the DSN environment variable (or the config).")
@click.option("-c", "--config", "config_files", multiple=True, type=click.Path(dir_okay=False), help="Config file to read the dsn from.")
@click.option("-y", "--yes", is_flag=True, help="Apply without asking.")
def migrate_sql(dsn: str | None, read_from_env: bool, config_files: Sequence[str], yes: bool) -> None:
    """Apply every pending SQL migration."""
    dsn = _resolve_dsn(dsn, read_from_env, config_files)
    _setup_logging()
    with _boot_errors():
        asyncio.run(_migrate(dsn, yes))


def _resolve_dsn(dsn: str | None, from_env: bool, config_files: Sequence[str]) -> str:
    if dsn:
        return dsn
    if from_env and os.environ.get("DSN"):
        return os.environ["DSN"]
    if config_files:
        import yaml

        for path in reversed(config_files):
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh) or {}
            if isinstance(data, dict) and data.get("dsn"):
                return str(data["dsn"])
    _fail("no database: pass a DSN, or -e with the DSN environment variable set, or -c with a config that has dsn")
    raise AssertionError  # unreachable


async def _migrate(dsn: str, yes: bool) -> None:
    from .persistence.db import open_database
    from .persistence.migrate import apply_migrations, migration_status

    db = await open_database(dsn)
    try:
        pending = [s for s in await migration_status(db) if s.applied_at is None]
        if not pending:
            click.echo(f"{db.url}: all migrations are applied.")
            return
        click.echo(f"{db.url}: {len(pending)} pending migration(s): " + ", ".join(f"{s.version}_{s.name}" for s in pending))
        if not yes and not click.confirm("Apply them now?", default=False):
            click.echo("Nothing applied.")
            return
        applied = await apply_migrations(db)
        click.echo(f"Applied {len(applied)} migration(s).")
    finally:
        await db.close()


@migrate.command("status")
@click.argument("dsn", required=False)
@click.option("-e", "--read-from-env", is_flag=True)
@click.option("-c", "--config", "config_files", multiple=True, type=click.Path(dir_okay=False))
def migrate_status(dsn: str | None, read_from_env: bool, config_files: Sequence[str]) -> None:
    """Show which migrations are applied."""
    dsn = _resolve_dsn(dsn, read_from_env, config_files)

    async def run() -> None:
        from .persistence.db import open_database
        from .persistence.migrate import migration_status

        db = await open_database(dsn)
        try:
            for s in await migration_status(db):
                click.echo(f"{s.version}_{s.name}\t{'applied ' + s.applied_at.isoformat() if s.applied_at else 'pending'}")
        finally:
            await db.close()

    with _boot_errors():
        asyncio.run(run())


# -- plugins and version ------------------------------------------------------------------------


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def plugins(fmt: str) -> None:
    """List installed plugins: name, version and the hooks each implements."""
    from .plugins.manager import PluginHost, blocked_plugins

    with _boot_errors():
        infos = PluginHost(blocked=blocked_plugins()).describe()
    if fmt == "json":
        click.echo(json.dumps(infos, indent=2))
        return
    for info in infos:
        kind = "builtin" if info["builtin"] else "plugin"
        if info.get("blocked"):
            kind += ", blocked"
        click.echo(f"{info['name']} {info['version']} ({kind})")
        for hook in info["hooks"]:
            click.echo(f"    {hook}")


@cli.command()
def version() -> None:
    """Print the version."""
    click.echo(f"kratos-core v{__version__}")


# -- identities (through the admin API, as Kratos's CLI) -----------------------------------------

from .cli_identities import identities  # noqa: E402 - registered after the group exists

cli.add_command(identities)

from .cli_audit import audit  # noqa: E402

cli.add_command(audit)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="kratos")
