"""Changing the password in the settings flow, with only kratos-core and this plugin installed.

Apps are built with ``kratos_core.app.build_app`` and this plugin alone and driven over ASGI:
the section's nodes, the privileged-session rule, 4000039, the policy on every identifier, the
hasher in use and what is stored.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import kratos_password.plugin as password_plugin
import pytest
import yaml
from kratos_password.hashing import verify_password

from kratos_core.app import KratosApp, build_app

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a quite different passphrase 1984"
EMAIL = "pat@example.org"
SCHEMA = {
    "type": "object",
    "properties": {
        "traits": {
            "type": "object",
            "properties": {
                "email": {
                    "type": "string",
                    "format": "email",
                    "ory.sh/kratos": {"credentials": {"password": {"identifier": True}}},
                },
                "username": {"type": "string", "ory.sh/kratos": {"credentials": {"password": {"identifier": True}}}},
            },
            "required": ["email"],
        }
    },
}
# Traits without any password identifier.
PLAIN_SCHEMA = {"type": "object", "properties": {"traits": {"type": "object", "properties": {"nickname": {"type": "string"}}}}}


def write_config(tmp_path: Path, *, settings: dict[str, Any] | None = None, policy: dict[str, Any] | None = None, hashers: dict[str, Any] | None = None) -> Path:
    schema, plain = tmp_path / "schema.json", tmp_path / "plain.json"
    schema.write_text(json.dumps(SCHEMA))
    plain.write_text(json.dumps(PLAIN_SCHEMA))
    cfg = {
        "dsn": "memory",
        "serve": {"public": {"base_url": "http://127.0.0.1:4433/"}, "admin": {"base_url": "http://127.0.0.1:4434/"}},
        "selfservice": {
            "default_browser_return_url": "http://127.0.0.1:4455/",
            "flows": {"settings": settings or {}},
            "methods": {
                "password": {"enabled": True, "config": {"haveibeenpwned_enabled": False, **(policy or {})}},
                "code": {"enabled": False},
            },
        },
        "identity": {
            "schemas": [{"id": "default", "url": f"file://{schema}"}, {"id": "plain", "url": f"file://{plain}"}],
        },
        "secrets": {"cookie": ["a-test-secret-that-is-long-enough"]},
        "hashers": hashers or {"algorithm": "argon2", "argon2": {"memory": "1MB", "iterations": 1, "parallelism": 1}},
    }
    path = tmp_path / f"kratos-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class Running:
    def __init__(self, app: KratosApp) -> None:
        self.app = app
        self.public = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433")
        self.admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://127.0.0.1:4434")

    async def create(self, traits: dict[str, Any], schema_id: str = "default", **password_config: Any) -> str:
        body: dict[str, Any] = {"schema_id": schema_id, "traits": traits}
        if password_config:
            body["credentials"] = {"password": {"config": password_config}}
        response = await self.admin.post("/admin/identities", json=body)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def login(self, identifier: str, password: str) -> httpx.Response:
        flow = (await self.public.get("/self-service/login/api")).json()
        body = {"method": "password", "identifier": identifier, "password": password}
        return await self.public.post("/self-service/login", params={"flow": flow["id"]}, json=body)

    async def token(self, identifier: str = EMAIL, password: str = PASSWORD) -> str:
        response = await self.login(identifier, password)
        assert response.status_code == 200, response.text
        return response.json()["session_token"]

    async def session_for(self, identity_id: str) -> str:
        """A session without a password login (for identities that have no password)."""
        identity = await self.app.identities.get(uuid.UUID(identity_id))
        _, token = await self.app.sessions.issue(identity, method="code")
        return token

    async def change(self, token: str, password: Any) -> httpx.Response:
        headers = {"X-Session-Token": token}
        flow = (await self.public.get("/self-service/settings/api", headers=headers)).json()
        body = {"method": "password"} if password is None else {"method": "password", "password": password}
        return await self.public.post("/self-service/settings", params={"flow": flow["id"]}, json=body, headers=headers)

    async def stored_config(self, identity_id: str) -> dict[str, Any]:
        response = await self.admin.get(f"/admin/identities/{identity_id}", params={"include_credential": "password"})
        return response.json()["credentials"]["password"]["config"]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Any]:
    running: list[Running] = []

    async def build(**kwargs: Any) -> Running:
        app = build_app([str(write_config(tmp_path, **kwargs))], dev=True, plugins=[password_plugin], autoload=False, env={})
        await app.start(migrate=True)
        running.append(Running(app))
        return running[-1]

    yield build
    for r in running:
        await r.public.aclose()
        await r.admin.aclose()
        await r.app.stop()


def password_messages(response: httpx.Response) -> list[int]:
    node = next(n for n in response.json()["ui"]["nodes"] if n["attributes"]["name"] == "password")
    return [m["id"] for m in node["messages"]]


async def test_the_settings_section(make: Any) -> None:
    k = await make()
    await k.create({"email": EMAIL}, password=PASSWORD)
    flow = (await k.public.get("/self-service/settings/api", headers={"X-Session-Token": await k.token()})).json()
    section = [n for n in flow["ui"]["nodes"] if n["group"] == "password"]
    assert [(n["attributes"]["name"], n["attributes"]["type"]) for n in section] == [("password", "password"), ("method", "submit")]
    password, submit = section
    assert password["attributes"]["required"] is True and password["attributes"]["autocomplete"] == "new-password"
    assert password["meta"]["label"]["id"] == 1070001 and "value" not in password["attributes"]
    assert submit["attributes"]["value"] == "password" and submit["meta"]["label"]["id"] == 1070003


async def test_a_new_password_is_hashed_with_the_configured_hasher(make: Any) -> None:
    k = await make(hashers={"algorithm": "bcrypt", "bcrypt": {"cost": 4}})
    identity_id = await k.create({"email": EMAIL}, password=PASSWORD)
    response = await k.change(await k.token(), NEW_PASSWORD)
    assert response.status_code == 200, response.text
    config = await k.stored_config(identity_id)
    assert set(config) == {"hashed_password"} and config["hashed_password"].startswith("$2")
    assert verify_password(NEW_PASSWORD, config["hashed_password"])
    assert (await k.login(EMAIL, NEW_PASSWORD)).status_code == 200
    assert (await k.login(EMAIL, PASSWORD)).status_code == 400
    too_long = await k.change(await k.token(password=NEW_PASSWORD), "x" * 73)
    assert password_messages(too_long) == [4000033]


async def test_same_missing_and_policy(make: Any) -> None:
    k = await make(policy={"min_password_length": 12})
    identity_id = await k.create({"email": EMAIL, "username": "patricia.lowe"}, password=PASSWORD)
    token = await k.token()
    before = await k.stored_config(identity_id)
    assert password_messages(await k.change(token, PASSWORD)) == [4000039]
    assert password_messages(await k.change(token, None)) == [4000002]
    assert password_messages(await k.change(token, 12345)) == [4000002]
    assert password_messages(await k.change(token, "short pw")) == [4000032]
    # The policy runs for every identifier: the username is checked as well as the email.
    assert password_messages(await k.change(token, "patricia.lowe!")) == [4000031]
    assert await k.stored_config(identity_id) == before


async def test_a_stale_session_must_log_in_again(make: Any) -> None:
    k = await make(settings={"privileged_session_max_age": "1ms"})
    identity_id = await k.create({"email": EMAIL}, password=PASSWORD)
    before = await k.stored_config(identity_id)
    token = await k.token()
    await asyncio.sleep(0.01)  # the session is older than 1 ms on any machine
    response = await k.change(token, "")  # refused before the input is looked at
    assert response.status_code == 403 and response.json()["error"]["id"] == "session_refresh_required"
    assert await k.stored_config(identity_id) == before


async def test_setting_a_first_password_and_replacing_a_migration_marker(make: Any) -> None:
    k = await make()
    no_password = await k.create({"email": EMAIL})
    assert (await k.change(await k.session_for(no_password), NEW_PASSWORD)).status_code == 200
    assert (await k.login(EMAIL, NEW_PASSWORD)).status_code == 200

    migrated = await k.create({"email": "old@example.org"}, use_password_migration_hook=True)
    assert (await k.change(await k.session_for(migrated), NEW_PASSWORD)).status_code == 200
    assert set(await k.stored_config(migrated)) == {"hashed_password"}


async def test_identities_without_identifiers_cannot_set_a_password(make: Any) -> None:
    k = await make()
    identity_id = await k.create({"nickname": "pat"}, schema_id="plain")
    response = await k.change(await k.session_for(identity_id), NEW_PASSWORD)
    assert response.status_code == 400 and [m["id"] for m in response.json()["ui"]["messages"]] == [4000009]
