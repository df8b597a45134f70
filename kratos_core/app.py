"""The running server: config, plugins, database and schemas, and the two HTTP apps on top.

:class:`KratosApp` is built from a loaded config and a plugin host; ``await app.start()`` opens
the database and loads the identity schemas (failing at boot on any problem), and
``app.public`` / ``app.admin`` are the two Litestar ASGI apps. Tests build one per test with
explicit plugins (see :func:`build_app`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .identity.manager import IdentityManager
from .identity.schema import SchemaRegistry
from .persistence.db import Database, open_database
from .persistence.migrate import apply_migrations, pending_migrations
from .plugins.manager import PluginHost

if TYPE_CHECKING:  # pragma: no cover
    from litestar import Litestar

    from .config import Config
    from .builtin.audit import AuditLog
    from .courier import Courier
    from .security.throttle import Throttle
    from .services import Services
    from .session.manager import SessionManager

__all__ = ["KratosApp", "build_app", "MissingMigrations"]

log = logging.getLogger("kratos")


class MissingMigrations(Exception):
    """The database schema is behind: run ``kratos migrate sql``."""


class KratosApp:
    """One server instance.

    Args:
        config: The loaded configuration (built with the plugin host's config fragments).
        plugins: The plugin host whose plugins serve this instance.
    """

    def __init__(self, config: Config, plugins: PluginHost) -> None:
        self.config = config
        self.plugins = plugins
        self._db: Database | None = None
        self._schemas: SchemaRegistry | None = None
        self._identities: IdentityManager | None = None
        #: The audit log's writer while started (None when ``security.audit`` is off or blocked).
        self.audit: AuditLog | None = None
        self.started = False

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("KratosApp.start() has not run")
        return self._db

    @property
    def schemas(self) -> SchemaRegistry:
        if self._schemas is None:
            raise RuntimeError("KratosApp.start() has not run")
        return self._schemas

    @property
    def identities(self) -> IdentityManager:
        if self._identities is None:
            self._identities = IdentityManager(self.db, self.schemas, self.plugins)
        return self._identities

    @cached_property
    def courier(self) -> Courier:
        """The courier: queues messages and (with ``--watch-courier``) runs the worker."""
        from .courier import Courier

        return Courier(self)

    @cached_property
    def services(self) -> Services:
        """What plugins may use (:mod:`kratos_core.services`), one object per app."""
        from .services import Services

        return Services(self)

    @cached_property
    def sessions(self) -> SessionManager:
        """Issuing, finding and ending sessions (one manager per app)."""
        from .session.manager import SessionManager

        return SessionManager(self)

    @cached_property
    def throttle(self) -> Throttle:
        """Throttling and lockout (``security.rate_limits``), shared by every method."""
        from .security.throttle import Throttle

        security = self.config.security
        return Throttle(security.rate_limits, security.trusted_proxies)

    @property
    def public_base_url(self) -> str:
        return self.config.serve.public.base_url

    @property
    def admin_base_url(self) -> str:
        return self.config.serve.admin.base_url

    async def start(self, *, migrate: bool = False) -> None:
        """Open the database, check (or apply) migrations, load schemas, run startup hooks.

        Args:
            migrate: Apply pending migrations instead of refusing to start (``--dev`` on the
                embedded database does this).

        Raises:
            MissingMigrations: migrations are pending and ``migrate`` is False.
            DatabaseUnavailable, SchemaLoadError: the usual boot failures, with clear messages.
        """
        if self.started:
            return
        self._db = await open_database(self.config.dsn)
        try:
            if migrate:
                applied = await apply_migrations(self._db)
                if applied:
                    log.info("applied migrations %s", ", ".join(applied))
            pending = await pending_migrations(self._db)
            if pending:
                raise MissingMigrations(
                    f"the database at {self._db.url} has pending migrations ({', '.join(pending)}): "
                    "run `kratos migrate sql -e --yes` first"
                )
            self._schemas = await SchemaRegistry.load(
                self.config.identity.schemas,
                default_id=self.config.identity.default_schema_id,
                base_dir=Path.cwd(),
            )
            try:
                self.throttle  # noqa: B018 - a bad storage URL or proxy list fails the start
            except ValueError as exc:
                from .config.errors import ConfigError

                raise ConfigError("security", str(exc)) from None
            await self.plugins.hooks.startup(config=self.config)
            await self._start_audit()
            # The session cache (PostgreSQL) starts listening now, so it serves the first requests.
            self.sessions.session_cache()
        except BaseException:
            await self._stop_audit()
            await self._db.close()
            self._db = None
            raise
        self.started = True

    async def _start_audit(self) -> None:
        """Register the audit observer of this app (a per-app object: it holds the writer)."""
        from .builtin.audit import PLUGIN_NAME, AuditLog

        if not self.config.security.audit.enabled or PLUGIN_NAME in self.plugins.blocked:
            return
        audit = AuditLog(self)
        await audit.start()
        self.plugins.pm.register(audit, name=PLUGIN_NAME)
        self.audit = audit

    async def _stop_audit(self) -> None:
        audit, self.audit = self.audit, None
        if audit is not None:
            self.plugins.pm.unregister(audit)
            await audit.stop()

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        await self.plugins.hooks.shutdown(config=self.config)
        await self._stop_audit()
        if "courier" in self.__dict__:
            await self.courier.stop()
        if "throttle" in self.__dict__:
            await self.throttle.close()
        if self._db is not None:
            await self._db.close()
            self._db = None

    @cached_property
    def public(self) -> Litestar:
        from .http.app import build_public_app

        return build_public_app(self)

    @cached_property
    def admin(self) -> Litestar:
        from .http.app import build_admin_app

        return build_admin_app(self)


def build_app(
    config_files: Sequence[str] = (),
    *,
    dev: bool = False,
    plugins: Sequence[object] = (),
    autoload: bool = True,
    env: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> KratosApp:
    """Load plugins and config the way ``kratos serve`` does, and build the app (not started).

    Raises:
        ConfigError, PluginError: the config is invalid or names a plugin that is not installed.
    """
    from .config import load_config, read_config_file
    from .config.env import deep_merge
    from .plugins.manager import blocked_plugins

    raw: dict[str, Any] = {}
    for file in config_files:
        raw = deep_merge(raw, read_config_file(file))
    if overrides and "plugins.blocked" in overrides:
        raw = deep_merge(raw, {"plugins": {"blocked": list(overrides["plugins.blocked"])}})
    host = PluginHost(autoload=autoload, plugins=plugins, blocked=blocked_plugins(env, raw))
    config = load_config(
        list(config_files), env=env, dev=dev, fragments=host.config_fragments(), overrides=overrides
    )
    host.configure(config, explicitly_enabled=_explicit_methods(config))
    return KratosApp(config, host)


def _explicit_methods(config: Config) -> list[str]:
    explicit = getattr(config, "explicit_methods", None)
    if callable(explicit):
        return list(explicit())
    return list(explicit or ())
