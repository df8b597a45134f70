"""Two ``kratos serve`` processes on one PostgreSQL database, the first one's LISTEN connection
behind a proxy that stalls it: a session revoked through the second process must never be
accepted by the first again, not even while its listener is stuck (issue 15, finding 4).

The first process caches sessions (the default on PostgreSQL) and cannot hear the revocation;
it must notice that its heartbeats stopped coming back and answer from the database instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import base_config, write_config
from tests.e2e.pgproxy import PgProxy, pg_proxy
from tests.e2e.processes import KratosProcess, run_kratos, start_server

pytestmark = pytest.mark.slow

PASSWORD = "a-long-and-unusual-passphrase-91"


@pytest.fixture
def proxy() -> Iterator[PgProxy]:
    with pg_proxy() as p:
        yield p


@pytest.fixture
def servers(tmp_path: Path, postgres_dsn: str, proxy: PgProxy) -> Iterator[tuple[KratosProcess, KratosProcess]]:
    migrated = run_kratos(["migrate", "sql", "-e", "--yes"], {"DSN": postgres_dsn})
    assert migrated.returncode == 0, migrated.stderr
    cfg = base_config(
        tmp_path,
        dsn=postgres_dsn,
        selfservice={
            "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
            "flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}},
        },
    )
    config = write_config(tmp_path, cfg)
    behind = postgres_dsn.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}").replace("localhost:5432", f"127.0.0.1:{proxy.port}")
    behind += ("&" if "?" in behind else "?") + "sslmode=disable"
    stalled = start_server("behind-proxy", config, {"DSN": behind}, tmp_path)
    direct = start_server("direct", config, {"DSN": postgres_dsn}, tmp_path)
    try:
        yield stalled, direct
    finally:
        for server in (direct, stalled):
            server.stop()


def _register(server: KratosProcess, email: str) -> dict[str, Any]:
    flow = httpx.get(f"{server.public}/self-service/registration/api").json()
    done = httpx.post(
        f"{server.public}/self-service/registration?flow={flow['id']}",
        json={"method": "password", "password": PASSWORD, "traits": {"email": email}},
    )
    assert done.status_code == 200, done.text
    return done.json()


_CLIENT = httpx.Client(timeout=10)  # one client: a new one per request costs ~100 ms of TLS set-up


def _whoami(server: KratosProcess, token: str) -> int:
    return _CLIENT.get(f"{server.public}/sessions/whoami", headers={"X-Session-Token": token}).status_code


def test_a_stalled_listener_gives_no_stale_answer_after_a_revocation(
    servers: tuple[KratosProcess, KratosProcess], proxy: PgProxy
) -> None:
    cached, other = servers
    registered = _register(other, "stall@example.org")
    token, session_id = registered["session_token"], registered["session"]["id"]
    assert proxy.listeners >= 1  # the first server's LISTEN connection goes through the proxy
    # The first server serves the session (from its cache from the second request on).
    assert [_whoami(cached, token) for _ in range(5)] == [200] * 5

    proxy.stall()
    revoked = httpx.delete(f"{other.admin}/admin/sessions/{session_id}")
    assert revoked.status_code == 204

    answers = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        answers.append(_whoami(cached, token))
    assert len(answers) > 100
    assert answers.count(200) == 0, f"{answers.count(200)} stale answers of {len(answers)}"
    assert set(answers) == {401}

    proxy.release()
    assert _whoami(cached, token) == 401
    # A new session works on the first server again once its listener is back.
    fresh = _register(other, "stall-2@example.org")
    assert _whoami(cached, fresh["session_token"]) == 200
