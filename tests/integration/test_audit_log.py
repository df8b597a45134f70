"""The audit log (issue 15, item 5): who did what, when, from where, on SQLite and PostgreSQL.

A registration -> login -> settings -> logout scenario, with the login coming through a trusted
proxy and a refused login from another address, then the questions an operator asks through
``GET /admin/audit/events``: who logged in as this user, when, from where; keyset pages that
cover every row once; the JSON-lines export; retention; no secret anywhere in the trail.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import kratos_password.plugin as password_plugin
from kratos_core.app import KratosApp
from kratos_core.persistence.audit import AuditRow, insert_audit_rows
from kratos_core.testing import AppFactory, FlowDriver, default_config, merge

PASSWORD = "an audited password 42"
NEW_PASSWORD = "another audited password 43"
EMAIL = "audited@example.org"
PROXY = ("10.1.2.3", 51000)
USER_ADDRESS = "203.0.113.9"
ATTACKER = ("198.51.100.66", 40000)
USER_AGENT = "AuditTest/1.0 (the user's browser)"

CONFIG = {
    "selfservice": {
        "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
        "flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}},
    },
    "security": {"trusted_proxies": ["10.0.0.0/8"]},
}


async def start(tmp_path: Path, dsn: str, extra: dict[str, Any] | None = None) -> tuple[AppFactory, KratosApp]:
    factory = AppFactory(tmp_path)
    app = await factory(merge(default_config(tmp_path), {**CONFIG, "dsn": dsn, **(extra or {})}), plugins=[password_plugin])
    return factory, app


def client(app: KratosApp, api: str, peer: tuple[str, int], **headers: str) -> httpx.AsyncClient:
    target = app.public if api == "public" else app.admin
    base = app.config.serve.public.base_url if api == "public" else app.config.serve.admin.base_url
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=target, client=peer), base_url=base, headers=headers)


@pytest.fixture
async def audited(tmp_path: Path, any_dsn: str) -> AsyncIterator[tuple[KratosApp, str, httpx.AsyncClient]]:
    """The scenario has run; yields the app, the identity id and an admin client."""
    factory, app = await start(tmp_path, any_dsn)
    try:
        async with (
            client(app, "public", PROXY, **{"User-Agent": USER_AGENT, "X-Forwarded-For": f"{USER_ADDRESS}, 10.9.9.9"}) as user,
            client(app, "public", ATTACKER, **{"User-Agent": "guesser"}) as attacker,
            client(app, "admin", ("127.0.0.1", 1)) as admin,
        ):
            driver = FlowDriver(user, admin, None, app)
            identity_id = (await driver.register({"email": EMAIL}, password=PASSWORD)).json()["identity"]["id"]
            await FlowDriver(attacker, admin, None, app).login(EMAIL, password="a wrong guess", expect=400)
            token = (await driver.login(EMAIL, password=PASSWORD)).json()["session_token"]
            flow = await driver.init("settings", session_token=token)
            await driver.submit("settings", flow["id"], {"method": "password", "password": NEW_PASSWORD}, session_token=token)
            await driver.logout(token)
            yield app, identity_id, admin
    finally:
        await factory.close()


async def test_who_logged_in_as_this_user_when_and_from_where(audited: tuple[KratosApp, str, httpx.AsyncClient]) -> None:
    app, identity_id, admin = audited
    before = dt.datetime.now(dt.UTC)
    r = await admin.get("/admin/audit/events", params={"identity_id": identity_id, "event": "login.succeeded"})
    assert r.status_code == 200, r.text
    [login] = r.json()
    assert login["identity_id"] == identity_id
    # From where: the client the trusted proxy named (not the proxy, not the hop it added).
    assert login["client_address"] == USER_ADDRESS
    assert login["user_agent"] == USER_AGENT
    assert login["outcome"] == "success"
    assert login["payload"]["method"] == "password" and login["payload"]["session_id"] == login["session_id"]
    when = dt.datetime.fromisoformat(login["occurred_at"])
    assert before - dt.timedelta(minutes=1) < when <= before

    # The whole trail of the identity, newest first.
    trail = (await admin.get("/admin/audit/events", params={"identity_id": identity_id})).json()
    names = [e["event"] for e in reversed(trail)]
    for expected in ("identity.created", "registration.succeeded", "login.succeeded", "settings.changed", "session.revoked"):
        assert expected in names, names
    assert names.index("registration.succeeded") < names.index("login.succeeded") < names.index("settings.changed") < names.index("session.revoked")
    assert [e["payload"]["reason"] for e in trail if e["event"] == "session.revoked"] == ["logout"]
    times = [e["occurred_at"] for e in trail]
    assert times == sorted(times, reverse=True)

    # The refused guess: from the attacker's own address, a failure.
    [failed] = (await admin.get("/admin/audit/events", params={"event": "login.failed"})).json()
    assert failed["client_address"] == ATTACKER[0] and failed["user_agent"] == "guesser"
    assert failed["outcome"] == "failure" and failed["payload"]["reason"] == "4000006"

    # Never a secret in the trail.
    export = (await admin.get("/admin/audit/events", params={"format": "jsonl"})).text
    for secret in (PASSWORD, NEW_PASSWORD, "a wrong guess"):
        assert secret not in export


async def test_time_window_filters(audited: tuple[KratosApp, str, httpx.AsyncClient]) -> None:
    _, identity_id, admin = audited
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert (await admin.get("/admin/audit/events", params={"since": future})).json() == []
    everything = (await admin.get("/admin/audit/events", params={"identity_id": identity_id})).json()
    assert (await admin.get("/admin/audit/events", params={"identity_id": identity_id, "until": future})).json() == everything
    middle = everything[len(everything) // 2]["occurred_at"]
    older = (await admin.get("/admin/audit/events", params={"identity_id": identity_id, "until": middle})).json()
    assert older and all(e["occurred_at"] < middle for e in older)


async def test_keyset_pages_cover_every_row_once(audited: tuple[KratosApp, str, httpx.AsyncClient]) -> None:
    _, _, admin = audited
    everything = (await admin.get("/admin/audit/events")).json()
    assert len(everything) >= 6
    seen: list[str] = []
    url: str | None = "/admin/audit/events?page_size=2"
    while url is not None:
        r = await admin.get(url)
        assert r.status_code == 200
        page = r.json()
        assert len(page) <= 2
        seen.extend(e["id"] for e in page)
        links = dict(_links(r.headers["link"]))
        assert "first" in links
        url = links.get("next")
    assert seen == [e["id"] for e in everything]


def _links(header: str) -> list[tuple[str, str]]:
    out = []
    for part in header.split(","):
        target, rel = part.split(";")
        url = urlsplit(target.strip()[1:-1])
        out.append((rel.split("=")[1].strip('"'), f"{url.path}?{url.query}"))
    return out


async def test_json_lines_export(audited: tuple[KratosApp, str, httpx.AsyncClient]) -> None:
    _, identity_id, admin = audited
    listed = (await admin.get("/admin/audit/events", params={"identity_id": identity_id})).json()
    for request in (
        admin.get("/admin/audit/events", params={"identity_id": identity_id, "format": "jsonl"}),
        admin.get("/admin/audit/events", params={"identity_id": identity_id}, headers={"Accept": "application/x-ndjson"}),
    ):
        r = await request
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        assert [json.loads(line) for line in r.text.splitlines()] == listed


@pytest.mark.parametrize(
    "params",
    [{"identity_id": "nope"}, {"since": "yesterday"}, {"page_token": "garbage"}, {"page_size": "0"}, {"format": "xml"}],
)
async def test_bad_parameters_are_400_in_kratos_shape(audited: tuple[KratosApp, str, httpx.AsyncClient], params: dict[str, str]) -> None:
    _, _, admin = audited
    r = await admin.get("/admin/audit/events", params=params)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == 400


async def test_retention_deletes_old_rows(tmp_path: Path, any_dsn: str) -> None:
    factory, app = await start(tmp_path, any_dsn, {"security": {**CONFIG["security"], "audit": {"retention": "24h"}}})
    try:
        now = dt.datetime.now(dt.UTC)
        rows = [
            AuditRow(id=uuid.uuid4(), occurred_at=now - age, event="login.failed", outcome="failure", payload={})
            for age in (dt.timedelta(hours=25), dt.timedelta(days=200), dt.timedelta(hours=23))
        ]
        async with app.db.transaction() as tx:
            await insert_audit_rows(tx, rows)
        assert app.audit is not None
        assert await app.audit.cleanup() == 2
        left = await app.db.fetch("SELECT id FROM audit_events")
        assert [r["id"] for r in left] == [rows[2].id]
    finally:
        await factory.close()


async def test_switched_off_stores_nothing(tmp_path: Path) -> None:
    factory, app = await start(tmp_path, "memory", {"security": {"audit": {"enabled": False}}})
    try:
        assert app.audit is None
        async with client(app, "public", ATTACKER) as public, client(app, "admin", ("127.0.0.1", 1)) as admin:
            await FlowDriver(public, admin, None, app).register({"email": EMAIL}, password=PASSWORD)
            assert (await admin.get("/admin/audit/events")).json() == []
    finally:
        await factory.close()


async def test_rows_reach_the_database_without_a_reader(tmp_path: Path) -> None:
    """The background writer stores events on its own within the flush interval."""
    import asyncio

    factory, app = await start(tmp_path, "memory", {"security": {"audit": {"flush_interval": "50ms"}}})
    try:
        async with client(app, "public", ATTACKER) as public, client(app, "admin", ("127.0.0.1", 1)) as admin:
            await FlowDriver(public, admin, None, app).register({"email": EMAIL}, password=PASSWORD)
        for _ in range(100):
            if await app.db.fetchval("SELECT COUNT(*) FROM audit_events WHERE event = 'registration.succeeded'"):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the writer did not store the events")
    finally:
        await factory.close()


def test_cli_export_prints_json_lines(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kratos_core.cli import cli
    from tests.conftest import LiveServer, make_app

    with LiveServer(make_app(tmp_path)) as server:
        created = httpx.post(
            f"{server.admin_url}/admin/identities",
            json={"schema_id": "default", "traits": {"email": EMAIL}},
            headers={"User-Agent": "the operator's script"},
        )
        assert created.status_code == 201, created.text
        identity_id = created.json()["id"]
        runner = CliRunner()
        result = runner.invoke(cli, ["audit", "export", "-e", server.admin_url, "--identity-id", identity_id])
        assert result.exit_code == 0, result.output
        [line] = result.output.splitlines()
        row = json.loads(line)
        assert row["event"] == "identity.created" and row["identity_id"] == identity_id
        assert row["client_address"] == "127.0.0.1" and row["user_agent"] == "the operator's script"
        assert row["payload"] == {"identity_id": identity_id, "source": "admin"}

        bad = runner.invoke(cli, ["audit", "export", "-e", server.admin_url, "--since", "last week"])
        assert bad.exit_code != 0 and "400" in bad.output
