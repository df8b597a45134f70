"""Building, starting and stopping test apps, and HTTP clients on their two APIs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from ..app import KratosApp, build_app
from .config import ADMIN_URL, PUBLIC_URL, default_config

__all__ = ["AppFactory", "clients"]


class AppFactory:
    """Builds started apps with explicit plugins; :meth:`close` stops every one it built.

    Each call writes its config into ``directory`` as a YAML file and loads it the way
    ``kratos serve -c`` does, with no entry-point plugins (only the ones passed) and no
    environment overrides, then starts the app (migrations applied).

    Args:
        directory: A per-test directory for config and schema files.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.apps: list[KratosApp] = []

    async def __call__(
        self,
        config: dict[str, Any] | None = None,
        plugins: Sequence[object] = (),
        dev: bool = True,
    ) -> KratosApp:
        """Build and start one app.

        Args:
            config: The whole config (see :func:`kratos_core.testing.default_config`); the
                default config when None. ``dsn`` defaults to ``memory``.
            plugins: Plugin modules or objects to register, in order. Built-in plugins are
                always there; installed entry points never are.
            dev: Start as ``kratos serve --dev`` (insecure cookies allowed, fast hashing).

        Returns:
            The started app.

        Raises:
            ConfigError, PluginError, DuplicateRegistration: What ``kratos serve`` would fail with.
        """
        if config is None:
            config = default_config(self.directory)
        config = {"dsn": "memory", **config}
        path = self.directory / f"kratos-{uuid.uuid4().hex[:8]}.yml"
        path.write_text(yaml.safe_dump(config))
        app = build_app([str(path)], dev=dev, plugins=list(plugins), autoload=False, env={})
        await app.start(migrate=True)
        self.apps.append(app)
        return app

    async def close(self) -> None:
        """Stop every app this factory started (``kratos_shutdown`` runs for each)."""
        while self.apps:
            await self.apps.pop().stop()


@asynccontextmanager
async def clients(app: KratosApp) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """``(public, admin)`` async clients talking to the app's ASGI apps (no sockets).

    The base URLs are the config's, so absolute URLs in answers (``action``, ``logout_url``)
    point back at the same client.
    """
    public_url = app.public_base_url.rstrip("/") or PUBLIC_URL
    admin_url = app.admin_base_url.rstrip("/") or ADMIN_URL
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url=public_url) as public,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url=admin_url) as admin,
    ):
        yield public, admin
