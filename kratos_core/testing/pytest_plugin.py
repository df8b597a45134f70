"""The pytest plugin of kratos_core: fixtures for testing plugins against a real app.

It is registered through the ``pytest11`` entry point, so installing ``kratos-core`` is enough;
the async fixtures need ``pytest-asyncio`` (``pip install "kratos-core[test]"``). Every name
starts with ``kratos_`` so it never clashes with a project's own fixtures.

Override ``kratos_plugins`` and ``kratos_config`` in a ``conftest.py`` to choose what the
``kratos_app`` fixture is built from; use ``kratos_app_factory`` for apps of your own.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from .apps import AppFactory, clients
from .config import default_config
from .courier import StubCourier
from .first_factor import StubFirstFactorPlugin
from .flows import FlowDriver
from .recorder import HookCoverage, HookRecorder, record_every_host

try:
    import pytest_asyncio

    _async_fixture = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - kratos-core installed without its test extra
    pytest_asyncio = None

    def _async_fixture(function: Any = None, **kwargs: Any) -> Any:
        # Without pytest-asyncio the async fixtures cannot run; say so instead of hanging.
        def missing(*args: Any, **kw: Any) -> Any:
            pytest.fail('the kratos_* app fixtures need pytest-asyncio: pip install "kratos-core[test]"')

        def wrap(fn: Any) -> Any:
            missing.__name__ = fn.__name__
            missing.__doc__ = fn.__doc__
            return pytest.fixture(**kwargs)(missing)

        return wrap(function) if function is not None else wrap


__all__ = [
    "kratos_hook_coverage",
    "kratos_config",
    "kratos_plugins",
    "kratos_app_factory",
    "kratos_app",
    "kratos_clients",
    "kratos_public",
    "kratos_admin",
    "kratos_courier",
    "kratos_stub_first_factor",
    "kratos_hook_recorder",
    "kratos_flows",
]

_COVERAGE_KEY = pytest.StashKey[Any]()
_MARKER = "kratos_hook_coverage"


# -- options -------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kratos", "kratos_core plugin testing")
    group.addoption(
        "--kratos-record-hooks",
        action="store_true",
        default=None,
        help="Record which kratos hooks fire in this session (also: ini kratos_record_hooks, env KRATOS_RECORD_HOOKS=1).",
    )
    group.addoption(
        "--kratos-hook-report",
        metavar="PATH",
        default=None,
        help="With recording on, write the hook call counts to PATH as JSON at the end of the session.",
    )
    parser.addini("kratos_record_hooks", "Record which kratos hooks fire in this session.", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}: the test reads the session's hook recording; it runs last and turns recording on.",
    )
    config.addinivalue_line("markers", "slow: slow (subprocesses, virtualenvs); still part of the default run.")


def _recording_wanted(config: pytest.Config, items: list[pytest.Item]) -> bool:
    if config.getoption("kratos_record_hooks") or config.getini("kratos_record_hooks"):
        return True
    if os.environ.get("KRATOS_RECORD_HOOKS", "").lower() in ("1", "true", "yes"):
        return True
    return any(item.get_closest_marker(_MARKER) for item in items)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that read the recording must see every other test's hooks first.
    items.sort(key=lambda item: item.get_closest_marker(_MARKER) is not None)


def pytest_collection_finish(session: pytest.Session) -> None:
    if not _recording_wanted(session.config, session.items):
        return
    coverage = HookCoverage()
    stack = ExitStack()
    stack.enter_context(record_every_host(coverage))
    session.config.stash[_COVERAGE_KEY] = (coverage, stack)


def pytest_sessionfinish(session: pytest.Session) -> None:
    found = session.config.stash.get(_COVERAGE_KEY, None)
    if found is None:
        return
    coverage, stack = found
    stack.close()
    report = session.config.getoption("kratos_hook_report")
    if report:
        Path(report).write_text(json.dumps(coverage.to_dict(), indent=2, sort_keys=True))


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kratos_hook_coverage(request: pytest.FixtureRequest) -> Any:
    """The session's hook recording (a ``HookCoverage``: ``fired``, ``unexercised()``), or None.

    Recording is on with ``--kratos-record-hooks``, ini ``kratos_record_hooks = true``, env
    ``KRATOS_RECORD_HOOKS=1``, or when a test marked ``kratos_hook_coverage`` is collected (that
    test then runs last). Every plugin host built during the session gets the recorder.
    """
    found = request.config.stash.get(_COVERAGE_KEY, None)
    return found[0] if found is not None else None


@pytest.fixture
def kratos_config(tmp_path: Path) -> dict[str, Any]:
    """The config dict ``kratos_app`` is built from: :func:`kratos_core.testing.default_config`.

    In-memory database, the test identity schema (``traits.email``), ``password`` and ``code``
    off. Override it (it may request itself) to enable your method or configure a flow::

        @pytest.fixture
        def kratos_config(kratos_config):
            return merge(kratos_config, {"selfservice": {"methods": {"pin": {"enabled": True}}}})
    """
    return default_config(tmp_path)


@pytest.fixture
def kratos_plugins() -> list[object]:
    """The plugins ``kratos_app`` registers (none besides the built-ins); override it with yours."""
    return []


@_async_fixture
async def kratos_app_factory(tmp_path: Path) -> AsyncIterator[AppFactory]:
    """Build more apps: ``await kratos_app_factory(config=None, plugins=[...], dev=True)``.

    Each app loads its config from a YAML file written into ``tmp_path`` (the default config when
    ``config`` is None; ``dsn`` is ``memory`` unless given), registers exactly ``plugins`` (no
    entry points) and is started; all are stopped after the test.
    """
    factory = AppFactory(tmp_path)
    try:
        yield factory
    finally:
        await factory.close()


@_async_fixture
async def kratos_app(kratos_app_factory: AppFactory, kratos_config: dict[str, Any], kratos_plugins: list[object]) -> Any:
    """A started :class:`~kratos_core.app.KratosApp` built from ``kratos_config`` and ``kratos_plugins``."""
    return await kratos_app_factory(kratos_config, plugins=kratos_plugins)


@_async_fixture
async def kratos_clients(kratos_app: Any) -> AsyncIterator[tuple[Any, Any]]:
    """``(public, admin)`` httpx clients on ``kratos_app`` (ASGI transports, no sockets)."""
    async with clients(kratos_app) as pair:
        yield pair


@pytest.fixture
def kratos_public(kratos_clients: tuple[Any, Any]) -> Any:
    """An ``httpx.AsyncClient`` on the public API of ``kratos_app`` (base URL ``http://127.0.0.1:4433``)."""
    return kratos_clients[0]


@pytest.fixture
def kratos_admin(kratos_clients: tuple[Any, Any]) -> Any:
    """An ``httpx.AsyncClient`` on the admin API of ``kratos_app`` (base URL ``http://127.0.0.1:4434``)."""
    return kratos_clients[1]


@pytest.fixture
def kratos_courier() -> StubCourier:
    """A plugin with recording ``email`` and ``sms`` channels (``.email.messages``, ``.messages``).

    Add it to ``kratos_plugins`` to capture what the server sends.
    """
    return StubCourier()


@pytest.fixture
def kratos_stub_first_factor() -> StubFirstFactorPlugin:
    """A plugin with the ``stub_first_factor`` method: signs an identity in at aal1 by id.

    Add it to ``kratos_plugins`` and enable ``selfservice.methods.stub_first_factor`` to test a
    second factor alone; ``kratos_flows.login_stub(identity_id)`` uses it.
    """
    return StubFirstFactorPlugin()


@pytest.fixture
def kratos_hook_recorder() -> Any:
    """A fresh ``HookRecorder`` plugin: add it to ``kratos_plugins`` and read ``.names()``."""
    return HookRecorder()


@pytest.fixture
def kratos_flows(kratos_app: Any, kratos_public: Any, kratos_admin: Any, kratos_plugins: list[object]) -> FlowDriver:
    """Flow drivers on ``kratos_app``: ``register``, ``login``, ``login_stub``, ``verify``,
    ``logout``, ``whoami``, ``create_identity`` (each returns the checked ``httpx.Response``),
    and ``deliver`` (send queued courier messages now; test apps run no courier worker).

    ``verify`` reads codes from the ``kratos_courier`` when it is among ``kratos_plugins``.
    """
    courier = next((p for p in kratos_plugins if isinstance(p, StubCourier)), None)
    return FlowDriver(kratos_public, kratos_admin, courier, kratos_app)
