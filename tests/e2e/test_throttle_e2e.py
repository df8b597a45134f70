"""Issue 15 end to end: two server processes on one PostgreSQL share one count in Redis.

An attacker who spreads password guesses over both servers is refused (429 with ``Retry-After``)
after as many attempts as one server alone allows; the right password gets the same refusal on
both; another account is unaffected; an administrator's unlock on one server frees the account
on the other. Answers are parsed with the official SDK's models where it has them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from ory_kratos_client.models.login_flow import LoginFlow

from tests.conftest import base_config, require_or_skip, write_config
from tests.courier_helpers import REDIS_URL, redis_available
from tests.e2e.processes import KratosProcess, run_kratos, start_server
from tests.e2e.test_courier_e2e import _database

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module", params=["two-servers", "two-workers"])
def servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[KratosProcess]]:
    """Two ``kratos serve`` processes, or one ``kratos serve --workers 2`` (then both entries
    are the same server, and the kernel picks the worker of each connection)."""
    from tests.conftest import POSTGRES_DSN, postgres_available

    require_or_skip(postgres_available())
    require_or_skip(redis_available())
    tmp = tmp_path_factory.mktemp("throttle-e2e")
    prefix = f"kratos-throttle-e2e-{uuid.uuid4().hex[:12]}"
    with _database(POSTGRES_DSN) as dsn:
        cfg = base_config(
            tmp,
            dsn=dsn,
            selfservice={"methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}}},
            security={"rate_limits": {"key_prefix": prefix}},
        )
        path = write_config(tmp, cfg)
        # The storage URL comes from the environment, as an operator would set it.
        env = {"DSN": dsn, "SECURITY_RATE_LIMITS_STORAGE_URL": REDIS_URL, "KRATOS_COURIER_BROKER_URL": ""}
        migrated = run_kratos(["migrate", "sql", "-e", "--yes"], env)
        assert migrated.returncode == 0, migrated.stderr
        if request.param == "two-servers":
            processes = [start_server(f"server-{i}", path, env, tmp) for i in (1, 2)]
            shown = processes
        else:
            processes = [start_server("workers", path, env, tmp, "--workers", "2")]
            shown = processes * 2
        try:
            yield shown
        finally:
            errors = []
            for process in processes:
                try:
                    process.stop()
                except AssertionError as exc:
                    errors.append(str(exc))
            _delete_keys(prefix)
            assert not errors, "\n".join(errors)


def _delete_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def create_identity(server: KratosProcess, email: str) -> str:
    body = {
        "schema_id": "default",
        "traits": {"email": email},
        "credentials": {"password": {"config": {"password": PASSWORD}}},
    }
    response = httpx.post(f"{server.admin}/admin/identities", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def login(server: KratosProcess, identifier: str, password: str) -> httpx.Response:
    flow = httpx.get(f"{server.public}/self-service/login/api", timeout=10)
    assert flow.status_code == 200, flow.text
    parsed = LoginFlow.from_dict(flow.json())
    assert parsed is not None
    body = {"method": "password", "identifier": identifier, "password": password}
    return httpx.post(f"{server.public}/self-service/login", params={"flow": parsed.id}, json=body, timeout=10)


def refusal(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    error = json.loads(response.text)["error"]
    assert error["code"] == 429 and error["id"] == "rate_limit_exceeded"
    return error


def test_server_processes_share_one_count_in_redis(servers: list[KratosProcess]) -> None:
    victim, bystander = f"victim-{uuid.uuid4().hex[:6]}@example.org", f"other-{uuid.uuid4().hex[:6]}@example.org"
    victim_id = create_identity(servers[0], victim)
    create_identity(servers[1], bystander)

    answers = []
    for attempt in range(20):
        response = login(servers[attempt % 2], victim, f"wrong guess {attempt}")
        answers.append(response.status_code)
        if response.status_code == 429:
            refusal(response)
            break
    # One server alone lets 5 through per minute: so do both together (each saw 2 or 3).
    assert answers == [400] * 5 + [429], answers
    for server in servers:
        wrong, right = login(server, victim, "still wrong"), login(server, victim, PASSWORD)
        # The same answer whether the password was right or not (only the seconds may tick on).
        assert set(refusal(wrong)) == set(refusal(right)) and "set-cookie" not in right.headers
    assert login(servers[1], bystander, PASSWORD).status_code == 200

    unlocked = httpx.delete(f"{servers[0].admin}/admin/identities/{victim_id}/throttle", timeout=10)
    assert unlocked.status_code == 204, unlocked.text
    assert login(servers[1], victim, PASSWORD).status_code == 200
