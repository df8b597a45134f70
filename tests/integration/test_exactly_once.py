"""Exactly-once flow completion under real concurrency (issue 15, finding 3).

Two servers (each an app served by uvicorn on its own event loop and thread) share one
database, SQLite file or PostgreSQL; 20 threads submit the same flow at the same moment over
real HTTP, half to each server. Whatever the flow kind, exactly one submit takes effect: one
session, one identity, one password change, one recovery; the others store nothing and get
Kratos's answer for an already completed flow.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

import kratos_code.plugin as code_plugin
import kratos_password.plugin as password_plugin
from tests.conftest import LiveServer, _merge, base_config, make_app

PARALLEL = 20
PASSWORD = "correct horse battery staple"
EMAIL = "jane@example.org"
UI = "http://127.0.0.1:4455"

SELFSERVICE: dict[str, Any] = {
    "methods": {"code": {"enabled": True}, "password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
    "flows": {
        "verification": {"enabled": True, "ui_url": f"{UI}/verification"},
        "recovery": {"enabled": True, "ui_url": f"{UI}/recovery"},
        "settings": {"ui_url": f"{UI}/settings"},
        "registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}},
    },
}


class Servers:
    """Two live servers on one database; ``public(i)`` / ``admin`` are their base URLs."""

    def __init__(self, servers: list[LiveServer]) -> None:
        self.servers = servers
        self.admin = httpx.Client(base_url=servers[0].admin_url, timeout=30)

    def public(self, i: int = 0) -> str:
        return self.servers[i % len(self.servers)].public_url

    def client(self, i: int = 0, cookies: httpx.Cookies | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.public(i), cookies=cookies, timeout=60)

    def create_identity(self, email: str = EMAIL, password: str | None = PASSWORD) -> str:
        body: dict[str, Any] = {"schema_id": "default", "traits": {"email": email}}
        if password:
            body["credentials"] = {"password": {"config": {"password": password}}}
        response = self.admin.post("/admin/identities", json=body)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def identities(self) -> list[dict[str, Any]]:
        return self.admin.get("/admin/identities", params={"page_size": 500}).json()

    def sessions(self, identity_id: str) -> list[dict[str, Any]]:
        response = self.admin.get(f"/admin/identities/{identity_id}/sessions", params={"active": "true"})
        assert response.status_code == 200, response.text
        return response.json()

    def last_code(self, template_type: str, recipient: str = EMAIL) -> str:
        messages = self.admin.get("/admin/courier/messages", params={"page_size": 500}).json()
        found = [m for m in messages if m["template_type"] == template_type and m["recipient"] == recipient]
        assert found, messages
        newest = max(found, key=lambda m: m["created_at"])
        return re.findall(r"\b\d{6}\b", newest["body"])[0]


@pytest.fixture
def servers(any_dsn: str, tmp_path: Path) -> Iterator[Servers]:
    # Twenty submits from one address in a moment are what the throttle refuses; this test is
    # about what the flows do with them, so it counts without limits.
    cfg = base_config(
        tmp_path,
        any_dsn,
        selfservice=_merge(base_config(tmp_path)["selfservice"], SELFSERVICE),
        security={"rate_limits": {"enabled": False}},
    )
    with ExitStack() as stack:
        live = [
            stack.enter_context(LiveServer(make_app(tmp_path, cfg, plugins=[password_plugin, code_plugin])))
            for _ in range(2)
        ]
        yield Servers(live)


def at_once(count: int, submit: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Run ``submit(i)`` in ``count`` threads released together; their answers in order."""
    barrier = threading.Barrier(count)

    def run(i: int) -> httpx.Response:
        barrier.wait()
        return submit(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def message_ids(body: dict[str, Any]) -> list[int]:
    return [m["id"] for m in body.get("ui", {}).get("messages", [])]


def assert_one_winner(answers: list[httpx.Response], ok: int, already_done: int) -> httpx.Response:
    """Exactly one answer is ``ok``; every other one is the flow with ``already_done`` on it."""
    winners = [a for a in answers if a.status_code == ok]
    assert len(winners) == 1, [(a.status_code, a.text[:200]) for a in answers]
    for loser in answers:
        if loser is winners[0]:
            continue
        assert loser.status_code == 400, loser.text
        assert message_ids(loser.json()) == [already_done], loser.text
    return winners[0]


# -- login -----------------------------------------------------------------------------------


def test_parallel_api_login_submits_issue_one_session(servers: Servers) -> None:
    identity_id = servers.create_identity()
    flow = servers.client().get("/self-service/login/api").json()
    body = {"method": "password", "identifier": EMAIL, "password": PASSWORD}

    def submit(i: int) -> httpx.Response:
        with servers.client(i) as client:
            return client.post("/self-service/login", params={"flow": flow["id"]}, json=body)

    winner = assert_one_winner(at_once(PARALLEL, submit), 200, 4010007)
    sessions = servers.sessions(identity_id)
    assert [s["id"] for s in sessions] == [winner.json()["session"]["id"]]
    # The losers' flow is the completed one: a later submit is refused the same way.
    again = servers.client().post("/self-service/login", params={"flow": flow["id"]}, json=body)
    assert again.status_code == 400 and message_ids(again.json()) == [4010007]


def test_parallel_browser_login_submits_issue_one_session(servers: Servers) -> None:
    identity_id = servers.create_identity()
    browser = servers.client()
    started = browser.get("/self-service/login/browser")
    assert started.status_code == 303, started.text
    flow_id = started.headers["location"].split("flow=")[1]
    flow = browser.get("/self-service/login/flows", params={"id": flow_id}).json()
    csrf = next(n["attributes"]["value"] for n in flow["ui"]["nodes"] if n["attributes"].get("name") == "csrf_token")
    form = {"method": "password", "identifier": EMAIL, "password": PASSWORD, "csrf_token": csrf}

    def submit(i: int) -> httpx.Response:
        with servers.client(i, cookies=browser.cookies) as client:
            return client.post(
                "/self-service/login", params={"flow": flow_id}, data=form, headers={"Accept": "application/json"}
            )

    answers = at_once(PARALLEL, submit)
    winner = assert_one_winner(answers, 200, 4010007)
    assert "ory_kratos_session" in winner.cookies
    # A loser hands out no session cookie.
    assert all("ory_kratos_session" not in a.cookies for a in answers if a is not winner)
    assert len(servers.sessions(identity_id)) == 1


# -- registration ----------------------------------------------------------------------------


def test_parallel_registration_submits_create_one_identity(servers: Servers) -> None:
    flow = servers.client().get("/self-service/registration/api").json()

    def submit(i: int) -> httpx.Response:
        # A different address per submit: only the flow's completion can stop the others.
        body = {"method": "password", "traits": {"email": f"user{i}@example.org"}, "password": PASSWORD}
        with servers.client(i) as client:
            return client.post("/self-service/registration", params={"flow": flow["id"]}, json=body)

    winner = assert_one_winner(at_once(PARALLEL, submit), 200, 4040002)
    identities = servers.identities()
    assert [i["id"] for i in identities] == [winner.json()["identity"]["id"]]
    assert len(servers.sessions(identities[0]["id"])) == 1


# -- settings --------------------------------------------------------------------------------


async def test_parallel_settings_submits_of_one_version_change_the_password_once(any_dsn: str, tmp_path: Path) -> None:
    """Settings flows stay usable after a success (Kratos), so the rule is one effect per version
    of the flow: submits that all loaded the same version (here: every one, since each waits for
    its password hash, off the event loop, before it may store) change the password once."""
    # Twenty submits from one address in a moment are what the throttle refuses; this test is
    # about what the flows do with them, so it counts without limits.
    cfg = base_config(
        tmp_path,
        any_dsn,
        selfservice=_merge(base_config(tmp_path)["selfservice"], SELFSERVICE),
        security={"rate_limits": {"enabled": False}},
    )
    app = make_app(tmp_path, cfg, plugins=[password_plugin, code_plugin])
    await app.start(migrate=True)
    transport = httpx.ASGITransport(app=app.public)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4433") as client:
            admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://127.0.0.1:4434")
            body = {"schema_id": "default", "traits": {"email": EMAIL}, "credentials": {"password": {"config": {"password": PASSWORD}}}}
            assert (await admin.post("/admin/identities", json=body)).status_code == 201
            await admin.aclose()

            async def login(password: str) -> httpx.Response:
                flow = (await client.get("/self-service/login/api")).json()
                body = {"method": "password", "identifier": EMAIL, "password": password}
                return await client.post("/self-service/login", params={"flow": flow["id"]}, json=body)

            auth = {"X-Session-Token": (await login(PASSWORD)).json()["session_token"]}
            settings = (await client.get("/self-service/settings/api", headers=auth)).json()

            async def submit(i: int) -> httpx.Response:
                body = {"method": "password", "password": f"{PASSWORD} number {i}"}
                return await client.post("/self-service/settings", params={"flow": settings["id"]}, json=body, headers=auth)

            answers = await asyncio.gather(*(submit(i) for i in range(PARALLEL)))
            winners = [i for i, a in enumerate(answers) if a.status_code == 200]
            assert len(winners) == 1, [(a.status_code, a.text[:200]) for a in answers]
            for loser in answers:
                if loser.status_code != 200:
                    assert loser.status_code == 400 and message_ids(loser.json()) == [4000001], loser.text
            works = [i for i in range(PARALLEL) if (await login(f"{PASSWORD} number {i}")).status_code == 200]
            assert works == winners
            # The flow stays usable, as in Kratos: a later submit changes the password again.
            again = await submit(99)
            assert again.status_code == 200, again.text
    finally:
        await app.stop()


# -- recovery and verification ---------------------------------------------------------------


def test_parallel_recovery_submits_recover_once(servers: Servers) -> None:
    identity_id = servers.create_identity()
    client = servers.client()
    flow = client.get("/self-service/recovery/api").json()
    sent = client.post("/self-service/recovery", params={"flow": flow["id"]}, json={"method": "code", "email": EMAIL})
    assert sent.status_code == 200, sent.text
    code = servers.last_code("recovery_code_valid")

    def submit(i: int) -> httpx.Response:
        with servers.client(i) as c:
            return c.post("/self-service/recovery", params={"flow": flow["id"]}, json={"method": "code", "code": code})

    answers = at_once(PARALLEL, submit)
    # Success is Kratos's 422 hand-over to the settings UI; the others are answered as a later
    # replay of the completed flow is (a replacement flow, section 3.3).
    winners = [a for a in answers if a.status_code == 422]
    assert len(winners) == 1, [(a.status_code, a.text[:200]) for a in answers]
    replay = submit(0)
    assert replay.status_code != 422
    assert {a.status_code for a in answers if a is not winners[0]} == {replay.status_code}
    assert len(servers.sessions(identity_id)) == 1


def test_parallel_verification_submits_verify_once(servers: Servers) -> None:
    servers.create_identity()
    client = servers.client()
    flow = client.get("/self-service/verification/api").json()
    sent = client.post("/self-service/verification", params={"flow": flow["id"]}, json={"method": "code", "email": EMAIL})
    assert sent.status_code == 200, sent.text
    code = servers.last_code("verification_code_valid")

    def submit(i: int) -> httpx.Response:
        with servers.client(i) as c:
            return c.post("/self-service/verification", params={"flow": flow["id"]}, json={"method": "code", "code": code})

    answers = at_once(PARALLEL, submit)
    passed = [a for a in answers if a.status_code == 200 and a.json().get("state") == "passed_challenge"]
    assert len(passed) == 1, [(a.status_code, a.text[:200]) for a in answers]
    assert servers.identities()[0]["verifiable_addresses"][0]["verified"] is True
