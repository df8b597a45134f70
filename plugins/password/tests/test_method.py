"""The password method inside a kratos_core app: nodes, login, registration, admin imports.

Only kratos-core and this package are needed: apps are built with ``kratos_core.app.build_app``
and explicit plugins, and driven over ASGI.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import kratos_password.plugin as password_plugin
import pytest
import yaml
from kratos_password.hashing import verify_password
from kratos_password.method import PasswordMethod, hasher_settings

from kratos_core.app import KratosApp, build_app

PASSWORD = "correct horse battery staple"
SCHEMA = {
    "type": "object",
    "properties": {
        "traits": {
            "type": "object",
            "properties": {
                "email": {
                    "type": "string",
                    "format": "email",
                    "title": "E-Mail",
                    "ory.sh/kratos": {"credentials": {"password": {"identifier": True}}},
                },
                "nickname": {"type": "string"},
            },
            "required": ["email"],
        }
    },
}


def write_config(tmp_path: Path, hashers: dict[str, Any] | None = None, policy: dict[str, Any] | None = None) -> Path:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    cfg = {
        "dsn": "memory",
        "serve": {"public": {"base_url": "http://127.0.0.1:4433/"}, "admin": {"base_url": "http://127.0.0.1:4434/"}},
        "selfservice": {
            "default_browser_return_url": "http://127.0.0.1:4455/",
            "flows": {"registration": {"style": "unified", "after": {"password": {"hooks": [{"hook": "session"}]}}}},
            "methods": {
                "password": {"enabled": True, "config": {"haveibeenpwned_enabled": False, **(policy or {})}},
                "code": {"enabled": False},
            },
        },
        "identity": {"schemas": [{"id": "default", "url": f"file://{schema}"}]},
        "secrets": {"cookie": ["a-test-secret-that-is-long-enough"]},
        "hashers": hashers or {"algorithm": "argon2", "argon2": {"memory": "1MB", "iterations": 1, "parallelism": 1}},
    }
    path = tmp_path / "kratos.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class Running:
    def __init__(self, app: KratosApp) -> None:
        self.app = app
        self.public = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433")
        self.admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://127.0.0.1:4434")

    @property
    def method(self) -> PasswordMethod:
        return self.app.plugins.methods.get("password")  # type: ignore[return-value]

    async def register(self, email: str, password: str) -> httpx.Response:
        flow = (await self.public.get("/self-service/registration/api")).json()
        body = {"method": "password", "password": password, "traits": {"email": email}}
        return await self.public.post("/self-service/registration", params={"flow": flow["id"]}, json=body)

    async def login(self, identifier: str, password: str) -> httpx.Response:
        flow = (await self.public.get("/self-service/login/api")).json()
        body = {"method": "password", "identifier": identifier, "password": password}
        return await self.public.post("/self-service/login", params={"flow": flow["id"]}, json=body)

    async def import_identity(self, config: Any) -> httpx.Response:
        body = {"schema_id": "default", "traits": {"email": "imported@example.org"}, "credentials": {"password": {"config": config}}}
        return await self.admin.post("/admin/identities", json=body)

    async def stored(self, identity_id: str) -> dict[str, Any]:
        response = await self.admin.get(f"/admin/identities/{identity_id}", params={"include_credential": "password"})
        return response.json()["credentials"]["password"]["config"]


async def running(config_path: Path) -> Running:
    app = build_app([str(config_path)], dev=True, plugins=[password_plugin], autoload=False, env={})
    await app.start(migrate=True)
    return Running(app)


@pytest.fixture
async def kc(tmp_path: Path) -> AsyncIterator[Running]:
    r = await running(write_config(tmp_path))
    yield r
    await r.public.aclose()
    await r.admin.aclose()
    await r.app.stop()


def password_messages(flow: dict[str, Any]) -> list[int]:
    node = next(n for n in flow["ui"]["nodes"] if n["attributes"]["name"] == "password")
    return [m["id"] for m in node["messages"]]


# -- configuration -------------------------------------------------------------------------------


async def test_method_gets_policy_and_hasher_from_config(tmp_path: Path) -> None:
    hashers = {"algorithm": "bcrypt", "bcrypt": {"cost": 4}}
    r = await running(write_config(tmp_path, hashers=hashers, policy={"min_password_length": 10}))
    try:
        assert r.method.policy.min_password_length == 10 and r.method.policy.haveibeenpwned_enabled is False
        assert r.method.hasher.algorithm == "bcrypt" and r.method.hasher.effective_bcrypt_cost == 4
        response = await r.register("b@example.org", PASSWORD)
        assert response.status_code == 200
        identity_id = response.json()["identity"]["id"]
        assert (await r.stored(identity_id))["hashed_password"].startswith("$2b$04$")
        too_long = await r.register("long@example.org", "x" * 73)
        assert password_messages(too_long.json()) == [4000033]
        assert password_messages((await r.register("short@example.org", "123456789")).json()) == [4000032]
    finally:
        await r.app.stop()


def test_hasher_settings_follow_the_hashers_section(kc: Running) -> None:
    settings = hasher_settings(kc.app.config)
    assert (settings.algorithm, settings.argon2_memory_kib, settings.argon2_iterations) == ("argon2", 1024, 1)


# -- nodes ---------------------------------------------------------------------------------------


async def test_login_and_registration_nodes(kc: Running) -> None:
    login = (await kc.public.get("/self-service/login/api")).json()
    assert [(n["attributes"]["name"], n["group"], n["meta"]["label"]["id"]) for n in login["ui"]["nodes"]] == [
        ("identifier", "default", 1070002),
        ("password", "password", 1070001),
        ("method", "password", 1010022),
    ]
    registration = (await kc.public.get("/self-service/registration/api")).json()
    password = next(n for n in registration["ui"]["nodes"] if n["attributes"]["name"] == "password")
    assert password["attributes"]["autocomplete"] == "new-password" and password["attributes"]["required"] is True
    submit = [n for n in registration["ui"]["nodes"] if n["attributes"]["name"] == "method"]
    assert [(n["attributes"]["value"], n["meta"]["label"]["id"]) for n in submit] == [("password", 1040001)]


# -- registration and login ------------------------------------------------------------------------


async def test_register_then_login_and_unknown_identifiers_use_the_dummy_hash(kc: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await kc.register("me@example.org", PASSWORD)).status_code == 200
    dummies: list[str] = []
    original = kc.method.pool.verify_dummy

    async def spy(password: str, settings: Any) -> bool:
        dummies.append(password)
        return await original(password, settings)

    monkeypatch.setattr(kc.method.pool, "verify_dummy", spy)
    assert (await kc.login("me@example.org", PASSWORD)).status_code == 200
    wrong = await kc.login("me@example.org", "wrong password")
    unknown = await kc.login("you@example.org", "wrong password")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json()["ui"]["messages"] == unknown.json()["ui"]["messages"]
    assert dummies == ["wrong password"]  # only the unknown identifier took the dummy path


async def test_registration_needs_a_password_and_an_identifier(kc: Running) -> None:
    assert password_messages((await kc.register("a@example.org", "")).json()) == [4000002]
    flow = (await kc.public.get("/self-service/registration/api")).json()
    body = {"method": "password", "password": PASSWORD, "traits": {"email": "not-an-email"}}
    bad = await kc.public.post("/self-service/registration", params={"flow": flow["id"]}, json=body)
    assert bad.status_code == 400


# -- admin imports ---------------------------------------------------------------------------------


async def test_import_plain_password_is_hashed(kc: Running) -> None:
    response = await kc.import_identity({"password": PASSWORD})
    assert response.status_code == 201, response.text
    stored = await kc.stored(response.json()["id"])
    assert stored["hashed_password"].startswith("$argon2id$") and verify_password(PASSWORD, stored["hashed_password"])
    assert (await kc.login("imported@example.org", PASSWORD)).status_code == 200


async def test_import_hash_and_migration_flag(kc: Running) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    response = await kc.import_identity({"hashed_password": hashed, "use_password_migration_hook": True})
    assert response.status_code == 201
    assert await kc.stored(response.json()["id"]) == {"hashed_password": hashed, "use_password_migration_hook": True}


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"hashed_password": "$unknown$abc"}, "does not match any known hash format"),
        ({"hashed_password": bcrypt.hashpw(b"x", bcrypt.gensalt(4)).decode().replace("$04$", "$16$")}, "exceed"),
        ({"password": "a", "hashed_password": "$2b$04$x"}, "not both"),
        ({}, "needs"),
        ("not an object", "config"),
    ],
    ids=["unknown-format", "out-of-bounds", "both", "empty", "not-an-object"],
)
async def test_bad_imports_are_400(kc: Running, config: Any, reason: str) -> None:
    response = await kc.import_identity(config)
    assert response.status_code == 400
    assert reason in response.json()["error"]["reason"]
    assert int(await kc.app.db.fetchval("SELECT count(*) FROM identities")) == 0
