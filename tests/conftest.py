"""Shared fixtures: apps built from explicit config and plugins, real databases, live servers.

PostgreSQL tests use ``KRATOS_TEST_POSTGRES_DSN`` (default: the local server with trust auth,
database ``test``). When it cannot be reached they skip with the reason, unless
``KRATOS_TEST_REQUIRE_SERVICES=1`` (set by ``.ci/run``), where they fail instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kratos_core.app import KratosApp, build_app
from kratos_core.testing.config import IDENTITY_SCHEMA as TESTING_SCHEMA

POSTGRES_DSN = os.environ.get("KRATOS_TEST_POSTGRES_DSN", "postgres://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("KRATOS_TEST_REQUIRE_SERVICES") == "1"

# The same schema plugin authors' tests get from the testing kit.
IDENTITY_SCHEMA: dict[str, Any] = TESTING_SCHEMA


def base_config(tmp_path: Path, dsn: str = "memory", **sections: Any) -> dict[str, Any]:
    """A realistic config: the quickstart's shape with our test schema, on ``dsn``."""
    schema_file = tmp_path / "identity.schema.json"
    schema_file.write_text(json.dumps(IDENTITY_SCHEMA))
    cfg: dict[str, Any] = {
        "dsn": dsn,
        "serve": {
            "public": {"base_url": "http://127.0.0.1:4433/"},
            "admin": {"base_url": "http://127.0.0.1:4434/"},
        },
        "selfservice": {
            "default_browser_return_url": "http://127.0.0.1:4455/welcome",
            "allowed_return_urls": ["http://127.0.0.1:4455"],
            "flows": {
                "login": {"ui_url": "http://127.0.0.1:4455/login"},
                "registration": {"ui_url": "http://127.0.0.1:4455/registration"},
                "error": {"ui_url": "http://127.0.0.1:4455/error"},
            },
            # The password and code plugins are not part of the core's own tests.
            "methods": {"password": {"enabled": False}, "code": {"enabled": False}},
        },
        "identity": {
            "default_schema_id": "default",
            "schemas": [{"id": "default", "url": f"file://{schema_file}"}],
        },
        "secrets": {"cookie": ["a-test-secret-that-is-long-enough"]},
        "hashers": {"algorithm": "argon2", "argon2": {"memory": "1MB", "iterations": 1, "parallelism": 1}},
        "log": {"level": "warning"},
    }
    return _merge(cfg, sections)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def write_config(tmp_path: Path, cfg: dict[str, Any]) -> Path:
    path = tmp_path / f"kratos-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def make_app(tmp_path: Path, cfg: dict[str, Any] | None = None, *, plugins: list[object] = (), dev: bool = True) -> KratosApp:
    """Build an app from ``cfg`` with exactly ``plugins`` (no entry points), not yet started."""
    path = write_config(tmp_path, cfg or base_config(tmp_path))
    return build_app([str(path)], dev=dev, plugins=list(plugins), autoload=False, env={})


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES_DSN.replace("postgres://", "postgresql://", 1), timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"PostgreSQL at {POSTGRES_DSN} is not reachable: {exc}"
    return None


def require_or_skip(reason: str | None) -> None:
    if reason is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (KRATOS_TEST_REQUIRE_SERVICES=1: services are required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    require_or_skip(postgres_available())
    return POSTGRES_DSN


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    import asyncpg

    name = f"kratos_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = postgres_server.replace("postgres://", "postgresql://", 1)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    base = postgres_server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def any_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test on the embedded SQLite file database and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/kratos.sqlite?_fk=true"
    return request.getfixturevalue("postgres_dsn")


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[KratosApp]:
    """A started app on an in-memory database, core plugins only."""
    instance = make_app(tmp_path)
    await instance.start(migrate=True)
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
async def admin(app: KratosApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://127.0.0.1:4434") as client:
        yield client


@pytest.fixture
async def public(app: KratosApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433") as client:
        yield client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """Both APIs of a started app served by uvicorn in a background thread (for the SDKs)."""

    def __init__(self, app: KratosApp) -> None:
        self.app = app
        self.public_port = free_port()
        self.admin_port = free_port()
        self.public_url = f"http://127.0.0.1:{self.public_port}"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[Any] = []
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> LiveServer:
        import uvicorn

        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.app.start(migrate=True))
                for port, asgi in ((self.public_port, self.app.public), (self.admin_port, self.app.admin)):
                    cfg = uvicorn.Config(asgi, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False)
                    server = uvicorn.Server(cfg)
                    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
                    self._servers.append(server)
                tasks = [loop.create_task(s.serve()) for s in self._servers]
                ready.set()
                loop.run_until_complete(asyncio.gather(*tasks))
                loop.run_until_complete(self.app.stop())
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                self._error = exc
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(30)
        if self._error:
            raise self._error
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.admin_url}/health/alive", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """Core app served over real HTTP on free ports (in-memory database)."""
    with LiveServer(make_app(tmp_path)) as server:
        yield server
