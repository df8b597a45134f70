"""What the core computes from a plugin method's declarations, over the admin API.

Two made-up plugin methods (no first-party id anywhere): ``badge``, a first factor that reads
``identifier`` and ``account_name`` from its schema block without an implicit credential, and
``token``, a second factor with the redacting display default and no importer.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kratos_core import hookimpl
from kratos_core.identity.model import Credential, utcnow
from kratos_core.methods import CredentialTraits, MethodBase
from kratos_core.testing import IDENTITY_SCHEMA, AppFactory, clients, default_config, merge


class Badge(MethodBase):
    id = credential_type = "badge"
    credential_schema_keys = frozenset({"identifier", "account_name"})

    def first_factor(self, credential: Credential) -> bool:
        return bool(credential.identifiers) and bool(credential.config.get("badge"))

    def credential_from_traits(self, config: dict[str, Any], traits: CredentialTraits) -> dict[str, Any]:
        return {**config, "shown_as": traits.values.get("account_name", [None])[0]}

    def present_credential(self, config: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if k != "badge"}

    async def import_credentials(self, identity: Any, raw: dict[str, Any]) -> dict[str, Any]:
        return {"badge": raw["config"]["badge"]}


class Token(MethodBase):
    id = credential_type = "token"
    aal = "aal2"

    def second_factor(self, credential: Credential) -> bool:
        return bool(credential.config.get("seed"))


class Methods:
    @hookimpl
    def kratos_register_methods(self, register: Any) -> None:
        register(Badge())
        register(Token())


def schema() -> dict[str, Any]:
    doc = copy.deepcopy(IDENTITY_SCHEMA)
    email = doc["properties"]["traits"]["properties"]["email"]
    email["ory.sh/kratos"]["credentials"]["badge"] = {"identifier": True, "account_name": True}
    return doc


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    encoded = base64.b64encode(json.dumps(schema()).encode()).decode()
    config = merge(
        default_config(tmp_path),
        {
            "identity": {"schemas": [{"id": "default", "url": f"base64://{encoded}"}]},
            "selfservice": {"methods": {"badge": {"enabled": True}, "token": {"enabled": True}}},
        },
    )
    factory = AppFactory(tmp_path)
    app = await factory(config, plugins=[Methods()])
    try:
        async with clients(app) as (_, admin_client):
            yield app, admin_client
    finally:
        await factory.close()


@pytest.fixture
def admin(served: tuple[Any, httpx.AsyncClient]) -> httpx.AsyncClient:
    return served[1]


async def create(admin: httpx.AsyncClient, email: str, **credentials: Any) -> httpx.Response:
    body = {"schema_id": "default", "traits": {"email": email}, "credentials": credentials}
    return await admin.post("/admin/identities", json=body)


async def test_an_imported_credential_gets_the_schemas_identifiers_and_values(admin: httpx.AsyncClient) -> None:
    created = await create(admin, "Badge@Example.org", badge={"config": {"badge": "b-1"}})
    assert created.status_code == 201
    shown = await admin.get(f"/admin/identities/{created.json()['id']}", params={"include_credential": "badge"})
    badge = shown.json()["credentials"]["badge"]
    assert badge["identifiers"] == ["badge@example.org"]
    # present_credential hides the secret; credential_from_traits kept the account name as entered.
    assert badge["config"] == {"shown_as": "Badge@Example.org"}
    # Identifiers are unique per credential type.
    assert (await create(admin, "badge@example.org", badge={"config": {"badge": "b-2"}})).status_code == 409


async def test_without_an_implicit_credential_nothing_is_reserved(admin: httpx.AsyncClient) -> None:
    assert (await create(admin, "free@example.org")).status_code == 201
    created = await create(admin, "other@example.org")
    assert "badge" not in created.json()["credentials"]


async def test_credential_deletion_follows_the_declared_factors(admin: httpx.AsyncClient) -> None:
    created = await create(admin, "del@example.org", badge={"config": {"badge": "b"}})
    identity_id = created.json()["id"]
    base = f"/admin/identities/{identity_id}/credentials"
    last = await admin.delete(f"{base}/badge")
    assert last.status_code == 400 and "last first factor" in last.json()["error"]["reason"]
    assert (await admin.delete(f"{base}/token")).status_code == 404  # none set up
    assert (await admin.delete(f"{base}/profile")).status_code == 400


async def test_json_patch_cannot_write_back_a_redacted_config(served: tuple[Any, httpx.AsyncClient]) -> None:
    app, admin = served
    created = await create(admin, "patch@example.org")
    identity = await app.identities.get(uuid.UUID(created.json()["id"]))
    now = utcnow()
    identity.credentials["token"] = Credential(id=uuid.uuid4(), type="token", identifiers=[], config={"seed": "S3CR3T"}, created_at=now, updated_at=now)
    await app.identities.save(identity)
    path = f"/admin/identities/{identity.id}"
    shown = await admin.get(path, params={"include_credential": "token"})
    assert shown.json()["credentials"]["token"]["config"] == {"seed": "[redacted]"}

    # Patching something else leaves the redacted secret alone.
    other = await admin.patch(path, json=[{"op": "replace", "path": "/metadata_public", "value": {"a": 1}}])
    assert other.status_code == 200
    assert (await app.identities.get(identity.id)).credentials["token"].config == {"seed": "S3CR3T"}
    # Changing a config no plugin imports would write redacted values back: refused.
    refused = await admin.patch(path, json=[{"op": "replace", "path": "/credentials/token/config/seed", "value": "x"}])
    assert refused.status_code == 400 and "token" in refused.json()["error"]["reason"]
    assert (await app.identities.get(identity.id)).credentials["token"].config == {"seed": "S3CR3T"}


async def test_a_set_up_second_factor_is_deleted_whole_by_default(served: tuple[Any, httpx.AsyncClient]) -> None:
    app, admin = served
    created = await create(admin, "second@example.org")
    identity = await app.identities.get(uuid.UUID(created.json()["id"]))
    now = utcnow()
    identity.credentials["token"] = Credential(id=uuid.uuid4(), type="token", identifiers=[], config={"seed": "S"}, created_at=now, updated_at=now)
    await app.identities.save(identity)
    assert (await admin.delete(f"/admin/identities/{identity.id}/credentials/token")).status_code == 204
    assert "token" not in (await app.identities.get(identity.id)).credentials
